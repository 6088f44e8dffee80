"""System ``lge``: 3-D vs 2-D U-Net segmentation of myocardium, infarct and MVO on LGE CMR, next to the n-SD/FWHM route.

Per case it reports scar, MVO and myocardial volume (mL when the spacing is
known, voxels otherwise), %LGE, the >15 % burden flag and per-AHA-segment
scar %. Entry points (the CLI calls these): :func:`make_config`,
:func:`train`, :func:`evaluate`, :func:`predict`, :func:`explain`,
:func:`crossval`; torch and MONAI are imported only inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.lge.config import LGEConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> LGEConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.lge.config import LGEConfig

    return resolve_config(LGEConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: LGEConfig) -> Path:
    from cardiolens.systems.lge.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    from cardiolens.systems.lge.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    from cardiolens.systems.lge.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    from cardiolens.systems.lge.explanation import explain as _explain

    return _explain(model_dir, input_path, out)


def crossval(data: str | Path, out: str | Path, config: LGEConfig) -> Path:
    from cardiolens.systems.lge.cross_validation import crossval as _crossval

    return _crossval(data, out, config)
