"""The model-directory contract shared by every system.

A model directory holds ``model.json`` (system id, config, class names,
library versions, the data it was trained on and the IDs of the training
subjects) next to the weights the system writes. ``evaluate`` refuses to
report on subjects the model was trained on.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from cardiolens import __version__
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.io.atomic import atomic_dir

CARD_FILE = "model.json"
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "torch", "lightning", "onnxruntime", "monai", "neurokit2", "lifelines")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model's numbers depend on."""
    versions = {"python": platform.python_version(), "cardiolens": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class ModelCard:
    """What a model directory says about its model (``model.json``)."""

    system: str
    config: dict[str, Any]
    class_names: list[str]
    trained_subject_ids: list[str]
    data: dict[str, Any]
    simulated_training_data: bool = False
    library_versions: dict[str, str] = field(default_factory=library_versions)
    created_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    notes: list[str] = field(default_factory=list)


@contextmanager
def model_dir_writer(out: str | Path, card: ModelCard) -> Iterator[Path]:
    """Yield a temporary folder for the weights; on success it becomes ``out`` with ``model.json``."""
    with atomic_dir(out) as tmp:
        yield tmp
        (tmp / CARD_FILE).write_text(json.dumps(asdict(card), indent=1, default=str), encoding="utf-8")


def read_card(model_dir: str | Path) -> ModelCard:
    """Read ``model.json``; a missing or malformed card names the file."""
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        raise MissingDataError(path, "not a cardiolens model directory (model.json missing)")
    try:
        return ModelCard(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(path, f"malformed model card ({exc})") from exc


def require_system(card: ModelCard, system: str, model_dir: str | Path) -> None:
    if card.system != system:
        raise UsageError(f"{model_dir} holds a {card.system!r} model, not {system!r}")


def refuse_trained_subjects(card: ModelCard, subject_ids: Iterable[str], data_path: str | Path) -> None:
    """Raise when any evaluation subject was used to train the model (no leakage into reported metrics)."""
    overlap = sorted(set(subject_ids) & set(card.trained_subject_ids))
    if overlap:
        shown = ", ".join(overlap[:10]) + (" ..." if len(overlap) > 10 else "")
        raise UsageError(
            f"{len(overlap)} subject(s) of {data_path} were used to train this model ({shown}); "
            "evaluate on subjects it has not seen"
        )
