"""System ``cine-seg``: a MONAI 2-D U-Net segmenting RV cavity, LV myocardium and LV cavity on every cine frame.

It feeds ``nicm`` (crops, volume and IVPG curves) and the measurement
library. Entry points (the CLI calls these): :func:`make_config`,
:func:`train`, :func:`evaluate`, :func:`predict`, :func:`explain`; torch and
MONAI are imported only inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.errors import UsageError
from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.cine_seg.config import CineSegConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> CineSegConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.cine_seg.config import CineSegConfig

    return resolve_config(CineSegConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: CineSegConfig) -> Path:
    from cardiolens.systems.cine_seg.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    from cardiolens.systems.cine_seg.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    from cardiolens.systems.cine_seg.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    raise UsageError("cine-seg has no explain step; `cardiolens predict cine-seg` writes the masks to inspect, "
                     "and `cardiolens explain nicm` explains the classifier")
