"""System configuration: dataclass defaults, overridden by a JSON/TOML file and ``--set key=value``."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from cardiolens.errors import DataError, UsageError

ConfigT = TypeVar("ConfigT")


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, '[1,2]' -> [1, 2]; anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["epochs=3", "variant=fused"]`` -> {"epochs": 3, "variant": "fused"}."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = parse_value(value.strip())
    return overrides


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        return dict(tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text))
    except FileNotFoundError as exc:
        raise DataError(p, "config file does not exist") from exc
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(p, f"cannot parse config ({exc})") from exc


def resolve_config(defaults: ConfigT, file: str | Path | None = None, sets: Sequence[str] = ()) -> ConfigT:
    """``defaults`` (a dataclass instance) with the file's values, then the ``--set`` values, applied."""
    values: dict[str, Any] = {}
    if file is not None:
        values.update(read_config_file(file))
    values.update(parse_overrides(sets))
    known = {f.name for f in dataclasses.fields(defaults)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return dataclasses.replace(defaults, **values)  # type: ignore[type-var]


class SystemConfig:
    """Mixin for the systems' config dataclasses: JSON-able dict for the model card, and back."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`; keys unknown to this version (from newer ones) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in values.items() if k in known})
