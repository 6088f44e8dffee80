"""System ``ecg2lvm``: a 12-lead ECG CNN predicting CMR LV mass and LVH, compared with the voltage rules.

Entry points (the CLI calls these): :func:`make_config`, :func:`train`,
:func:`evaluate`, :func:`predict`, :func:`explain`. torch is imported only
inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> Ecg2LvmConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig

    return resolve_config(Ecg2LvmConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: Ecg2LvmConfig) -> Path:
    from cardiolens.systems.ecg2lvm.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    from cardiolens.systems.ecg2lvm.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    from cardiolens.systems.ecg2lvm.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    from cardiolens.systems.ecg2lvm.saliency import explain as _explain

    return _explain(model_dir, input_path, out)
