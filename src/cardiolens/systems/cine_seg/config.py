"""Configuration of ``cine-seg`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiolens.errors import UsageError
from cardiolens.systems.config import SystemConfig
from cardiolens.systems.test_time_augmentation import check_tta_transforms


@dataclass
class CineSegConfig(SystemConfig):
    """Settings of the 2-D U-Net that segments RV cavity, LV myocardium and LV cavity.

    Network (``architecture``): "unet", MONAI ``UNet`` (2-D, residual units),
    ``channels`` per level, stride 2 between levels; or "segresnet", MONAI
    ``SegResNet`` (2-D, ``channels[0]`` initial filters, 4 levels). Inputs are
    padded to a multiple of :attr:`size_multiple`.

    Intensities: every input slice is scaled on its own to [0, 1] between its
    ``intensity_percentiles`` (then clipped). Per-slice scaling removes the
    scanner-integer vs 0-255 difference of the ACDC copy and is the same
    operation on a full ED/ES slice and on the 100 x 95 cine crop, whose
    percentiles differ only slightly because the bright blood pool is in both.

    Training: patches of ``patch_px`` pixels cropped from the ED/ES slices
    (centred on the heart and anywhere in the ratio ``pos_neg_ratio`` : 1), with random rotation
    (any angle), scaling (+-``scale_range``), flips, gamma and noise, so that
    neither the field of view nor the orientation of the training frames is
    learnt. Loss: Dice + cross-entropy, AdamW with a cosine schedule over
    ``epochs``. The epoch with the best mean validation Dice of the three
    structures (``val_fraction`` of patients) is kept; ``patience`` epochs
    without improvement stop early.

    Defaults measured on fold 0 of the ACDC split of ``benchmarks/nicm_acdc.py``
    (48 training patients, 2 CPU cores, ``benchmarks/cine_seg_fold.py``): 80 epochs with half the patches anywhere
    in the field of view gave held-out Dice LV / myocardium / RV 0.91 / 0.78
    / 0.77 on the full ED/ES frames (0.94 / 0.84 / 0.81 on the cropped cine)
    in 26 min, against 0.88 / 0.76 / 0.68 (0.86 / 0.77 / 0.59) with 25
    epochs and 3 of 4 patches on the heart, which left false-positive islands
    in the background of full field-of-view frames.

    Inference: ``tta_transforms`` in-plane symmetries of each slice are
    applied, undone on the class probabilities and averaged (1 = none, 2 =
    left-right flip, 4 = the 90-degree turns, 8 = both; see
    :mod:`cardiolens.systems.test_time_augmentation`); it costs that many
    forward passes and needs no retraining.
    """

    architecture: str = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    num_res_units: int = 1
    dropout: float = 0.0
    patch_px: int = 96
    pos_neg_ratio: float = 1.0
    scale_range: float = 0.2
    epochs: int = 80
    patience: int = 80  # the validation Dice is noisy; the cosine schedule decides when training settles
    batch_size: int = 16
    samples_per_epoch: int = 0  # 0 = one patch per training slice
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    intensity_percentiles: tuple[float, float] = (0.5, 99.5)
    augment: bool = True
    keep_largest_component: bool = True
    tta_transforms: int = 1
    seed: int = 0
    num_threads: int = 2
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        if self.architecture not in ("unet", "segresnet"):
            raise UsageError(f"cine-seg architecture must be 'unet' or 'segresnet', got {self.architecture!r}")
        self.channels = tuple(int(c) for c in self.channels)
        self.tta_transforms = check_tta_transforms(self.tta_transforms)
        low, high = (float(p) for p in self.intensity_percentiles)
        self.intensity_percentiles = (low, high)

    @property
    def size_multiple(self) -> int:
        """Input sizes must be a multiple of this (one halving per level)."""
        return 8 if self.architecture == "segresnet" else 2 ** (len(self.channels) - 1)
