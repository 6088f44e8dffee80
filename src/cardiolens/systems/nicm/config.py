"""Configuration of ``nicm`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cardiolens.errors import UsageError
from cardiolens.systems.config import SystemConfig

#: Deep variants (trained with Lightning) and tabular ones (scikit-learn).
DEEP_VARIANTS = ("fused", "cine", "ivpg", "resnet50", "vgg16")
TABULAR_VARIANTS = ("classical_rf", "radiomics_svm", "artefact_control")
VARIANTS = DEEP_VARIANTS + TABULAR_VARIANTS


@dataclass
class NicmConfig(SystemConfig):
    """Settings of the cardiomyopathy classifier and its ablations/baselines.

    ``variant``: "fused" (CNN-LSTM over LV-centred cine frames + MLP over the
    IVPG and volume curves), "cine" and "ivpg" (one path each, the ablations),
    "resnet50" (MONAI, from scratch) and "vgg16" (in-house, torchvision
    parameter names) on the ED/ES mid-ventricular crops, "classical_rf"
    (segmentation-derived EF, volume ratios and wall-thickness ratios + random
    forest, the route that won ACDC), "radiomics_svm" (pyradiomics shape and
    texture + RBF SVM) and "artefact_control" (only the acquisition artefacts
    that correlate with the class in the ACDC copy; a control, not a model).

    ``seg_model``: a ``cine-seg`` model directory; empty = train one on the
    same training subjects (copied into the nicm model directory either way,
    so the model directory is self-contained).

    ``label_column``: empty = the layout's label (ACDC ``Group``); otherwise a
    column of the cohort's subject attributes (any hospital's labels).
    ``class_names``: empty = the sorted labels found in the training data.

    Inputs (see :class:`cardiolens.systems.nicm.features.NicmFeatureSpec`):
    ``n_frames`` cine frames over the cycle from ED, ``n_phases`` samples of
    each curve, ``crop_px`` crop side after resampling, ``crop_scale`` x the
    LV diameter as crop side.
    """

    variant: str = "fused"
    seg_model: str = ""
    label_column: str = ""
    class_names: list[str] = field(default_factory=list)
    n_frames: int = 10
    n_phases: int = 25
    crop_px: int = 48
    crop_scale: float = 2.5
    width: int = 8
    feature_dim: int = 32
    lstm_hidden: int = 32
    series_hidden: tuple[int, ...] = (64, 64)
    head_hidden: int = 64
    dropout: float = 0.3
    vgg_classifier_width: int = 256
    epochs: int = 40
    patience: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-3
    val_fraction: float = 0.2
    augment: bool = True
    folds: int = 5
    seed: int = 0
    num_threads: int = 2
    seg_epochs: int = 80  # cine-seg epochs when nicm trains its own (see CineSegConfig)
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise UsageError(f"unknown nicm variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        self.series_hidden = tuple(int(h) for h in self.series_hidden)
        self.class_names = [str(c) for c in self.class_names]

    @property
    def is_deep(self) -> bool:
        return self.variant in DEEP_VARIANTS
