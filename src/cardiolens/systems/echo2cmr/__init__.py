"""System ``echo2cmr``: a video CNN on echocardiography predicting CMR-derived labels.

Labels (multi-label head, :data:`~cardiolens.systems.echo2cmr.config.LABELS`):
wall-motion abnormality (the positive control: motion is visible in echo), LGE
present, abnormal native T1, abnormal T2, abnormal ECV (tissue character, which
echo mostly does not show). Each CMR study is paired with the closest echo study
of the same subject within a window (:mod:`~cardiolens.systems.echo2cmr.pairing`).

Entry points (the CLI calls these): :func:`make_config`, :func:`train`,
:func:`evaluate`, :func:`predict`, :func:`explain`. torch, MONAI and Lightning
are imported only inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.echo2cmr.config import Echo2CmrConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> Echo2CmrConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.echo2cmr.config import Echo2CmrConfig

    return resolve_config(Echo2CmrConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: Echo2CmrConfig) -> Path:
    """Train one network per echo view on the paired studies of ``data``; returns the model directory."""
    from cardiolens.systems.echo2cmr.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and ``report.html`` for held-out paired studies."""
    from cardiolens.systems.echo2cmr.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    """Label probabilities for echo video / DICOM files (``predictions.csv`` and ``.json``)."""
    from cardiolens.systems.echo2cmr.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """SmoothGrad saliency GIF, temporal profile and summary for one echo file."""
    from cardiolens.systems.echo2cmr.explanation import explain as _explain

    return _explain(model_dir, input_path, out)
