"""System ``nicm``: cardiomyopathy classification from cine CMR (CNN-LSTM + IVPG-MLP fusion), with ablations and baselines.

Entry points (the CLI calls these): :func:`make_config`, :func:`train`,
:func:`evaluate`, :func:`predict`, :func:`explain`, :func:`crossval`.
torch, MONAI and pyradiomics are imported only inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.nicm.config import NicmConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> NicmConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.nicm.config import NicmConfig

    return resolve_config(NicmConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: NicmConfig) -> Path:
    from cardiolens.systems.nicm.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    from cardiolens.systems.nicm.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    from cardiolens.systems.nicm.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    from cardiolens.systems.nicm.explanation import explain as _explain

    return _explain(model_dir, input_path, out)


def crossval(data: str | Path, out: str | Path, config: NicmConfig) -> Path:
    """k-fold cross-validation of every variant (see :mod:`cardiolens.systems.nicm.cross_validation`)."""
    from cardiolens.systems.nicm.cross_validation import cross_validate

    return cross_validate(data, out, config)
