"""Configuration of ``lge`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiolens.errors import UsageError
from cardiolens.systems.config import SystemConfig
from cardiolens.systems.test_time_augmentation import check_tta_transforms

#: ``variant`` values: the two networks and the two classic threshold routes.
NETWORK_VARIANTS: tuple[str, ...] = ("unet3d", "unet2d")
THRESHOLD_VARIANTS: tuple[str, ...] = ("nsd", "fwhm")
VARIANTS: tuple[str, ...] = NETWORK_VARIANTS + THRESHOLD_VARIANTS
#: Settings that only change inference: a fold network trained with other values is reused.
INFERENCE_ONLY_SETTINGS: tuple[str, ...] = ("tta_transforms",)


@dataclass
class LGEConfig(SystemConfig):
    """Settings of the LGE scar segmentation and quantification.

    Variants (``variant``):

    - ``unet3d``: MONAI ``UNet`` on the whole short-axis stack, 3x3x3
      kernels, in-plane-only downsampling (stride (1, 2, 2)) because LGE
      stacks hold 5-12 thick slices, so the slice axis is never halved and
      any slice count works;
    - ``unet2d``: the same ``UNet`` (same ``channels``) on single slices;
    - ``nsd`` / ``fwhm``: the classic thresholds of
      :mod:`cardiolens.measure.lge` inside a myocardium taken from the
      network model at ``myocardium_model`` (a trained unet3d/unet2d
      directory), or from the study's own labels when that is empty.

    Both networks output the five EMIDEC labels (0 background, 1 LV cavity,
    2 normal myocardium, 3 infarct, 4 MVO).

    Geometry: inputs are centre-cropped (or zero-padded) in-plane to
    ``inplane_px`` square; on the EMIDEC copy (256 px, heart-centred) 128 px
    keeps every labelled voxel of all 67 cases. Outside the crop the output is
    background. Intensities: each stack is scaled to [0, 1] between its own
    ``intensity_percentiles`` within the crop (the EMIDEC copy is 8-bit and
    rescaled per case, DICOM input is in scanner units).

    Spacing: EMIDEC has none. ``spacing_mm`` ([z, y, x] mm) is used for a
    study without known spacing, so volumes come out in mL; empty, they stay
    in voxels and every output says so.

    Training: in-plane patches of ``patch_px`` (0, or not smaller than
    ``inplane_px``: the whole crop), two
    in three centred on a random labelled voxel, each stack (``unet3d``) or
    slice (``unet2d``) sampled ``repeats`` times per epoch; patches are about
    six times cheaper per slice than the 128-px crop on a CPU, so more
    gradient steps fit in the time budget, and the fully convolutional
    network is applied to the whole crop at inference. Dice + cross-entropy (Dice pooled over the batch, so stacks
    without scar do not dominate); AdamW with a cosine schedule; in-plane
    random rotation (any angle), scaling (+-``scale_range``), flips, gamma
    and noise; ``unet3d`` also flips the slice order (the base/apex direction
    of EMIDEC is undocumented). Early stopping on the mean of the pooled
    validation Dice of myocardium and scar (``val_fraction`` of patients).

    Cross-validation (``crossval lge``): ``folds`` >= 2 patient-level
    stratified folds, or 1 for one ``test_fraction`` hold-out; the
    ``variant`` is the reference and each ``compare`` entry (``unet2d``,
    ``nsd``, ``fwhm``; ``nsd:manual`` / ``fwhm:manual`` threshold inside the
    manual myocardium instead of the fold's network) runs on the same splits.

    Test-time augmentation: ``tta_transforms`` in-plane symmetries of the
    square crop are applied to the input, undone on the class probabilities
    and averaged: 1 = none, 2 = identity and left-right flip, 4 = the four
    90-degree rotations, 8 = rotations with and without the flip. It costs
    that many forward passes; it is an inference setting, so ``crossval``
    reuses fold networks trained with another value. On the 13 held-out
    EMIDEC cases of ``benchmarks/lge_emidec.py --folds 1``, 8 transforms raised
    the 2-D network's mean Dice by 0.014 (myocardium) and 0.036 (scar), but
    not the 3-D network's, and made ``unet3d`` slower than 0.15 s per slice
    with eager torch (README), so the default stays 1.

    Post-processing: the largest 3-D connected LV object (cavity, myocardium,
    scar, MVO) is kept; scar islands smaller than ``min_scar_voxels`` become
    normal myocardium (METHODS.md §3 drops islands of ~10 voxels). A case is
    called MI when scar voxels remain.
    """

    variant: str = "unet3d"
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    num_res_units: int = 1
    dropout: float = 0.1
    inplane_px: int = 128
    patch_px: int = 80
    repeats: int = 4
    intensity_percentiles: tuple[float, float] = (0.5, 99.5)
    epochs: int = 100
    patience: int = 25
    batch_size: int = 0  # 0 = 4 stacks (unet3d) or 32 slices (unet2d)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    scale_range: float = 0.15
    augment: bool = True
    min_scar_voxels: int = 10
    tta_transforms: int = 1
    n_sd: float = 5.0
    myocardium_model: str = ""
    spacing_mm: tuple[float, float, float] | None = None
    folds: int = 1
    test_fraction: float = 0.2
    compare: tuple[str, ...] = ()
    seed: int = 0
    num_threads: int = 2
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise UsageError(f"lge variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.channels) < 2:
            raise UsageError(f"lge channels need at least 2 levels, got {self.channels}")
        if self.inplane_px % self.size_multiple:
            raise UsageError(f"inplane_px must be a multiple of {self.size_multiple} for {len(self.channels)} levels, got {self.inplane_px}")
        entries = self.compare.split(",") if isinstance(self.compare, str) else self.compare
        self.compare = tuple(str(c).strip() for c in entries if str(c).strip())
        for entry in self.compare:
            name, _, option = entry.partition(":")
            if name not in VARIANTS or (option and (option != "manual" or name not in THRESHOLD_VARIANTS)):
                raise UsageError(f"lge compare entries are {', '.join(VARIANTS)} or nsd:manual / fwhm:manual, got {entry!r}")
        if self.folds < 1:
            raise UsageError(f"folds must be >= 1 (1 = one hold-out split), got {self.folds}")
        self.tta_transforms = check_tta_transforms(self.tta_transforms)
        if self.patch_px < 0 or self.patch_px % self.size_multiple:
            raise UsageError(f"patch_px must be 0 or a multiple of {self.size_multiple}, got {self.patch_px}")
        low, high = (float(p) for p in self.intensity_percentiles)
        self.intensity_percentiles = (low, high)
        if self.spacing_mm is not None:
            spacing = tuple(float(s) for s in self.spacing_mm)
            if len(spacing) != 3 or min(spacing) <= 0:
                raise UsageError(f"spacing_mm must be three positive numbers [z, y, x] in mm, got {self.spacing_mm}")
            self.spacing_mm = spacing  # type: ignore[assignment]

    @property
    def is_network(self) -> bool:
        return self.variant in NETWORK_VARIANTS

    @property
    def size_multiple(self) -> int:
        """In-plane sizes must be a multiple of this (one halving per level)."""
        return 2 ** (len(self.channels) - 1)

    @property
    def training_patch_px(self) -> int:
        """In-plane training patch size, 0 for the whole crop."""
        return self.patch_px if 0 < self.patch_px < self.inplane_px else 0

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or (4 if self.variant == "unet3d" else 32)
