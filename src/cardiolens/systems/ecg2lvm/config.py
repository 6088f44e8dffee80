"""Configuration of ``ecg2lvm`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiolens.systems.config import SystemConfig


@dataclass
class Ecg2LvmConfig(SystemConfig):
    """Settings of the ECG -> LV mass / LVH model.

    Signal: every record is resampled to ``fs_hz`` (Hz) and cut or zero-padded to
    ``duration_s`` (s); voltages stay in mV, clipped to +-``clip_mv``.

    LVH label when only LV mass is known: LV mass index (Mosteller BSA) above
    ``lvh_threshold_g_m2_male`` / ``lvh_threshold_g_m2_female`` (UK Biobank CMR
    mean + 1.96 SD, Petersen JCMR 2017, METHODS.md section 2); without BSA,
    mass above ``lvh_threshold_g_male`` / ``lvh_threshold_g_female`` (an assumption:
    the index limits times a typical BSA of 1.95 m^2 in men and 1.85 m^2 in women).

    Split: PTB-XL uses its ``strat_fold``: ``train_folds`` (1-5) to fit,
    ``val_folds`` (6) for early stopping, and ``test_folds`` (7-8, the
    dataset's recommended hold-out) only by ``evaluate``, so the reported
    numbers come from folds that steered nothing. Other data: a patient-level
    split with ``val_fraction`` of the subjects in validation (early stopping);
    evaluate on a separate cohort. ``pretrain_statements`` is reserved (no
    statement pre-training is implemented).
    """

    fs_hz: float = 100.0
    duration_s: float = 10.0
    clip_mv: float = 10.0
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-3
    patience: int = 15
    seed: int = 0
    use_tabular: bool = True
    width: int = 32
    depth: int = 4
    dropout: float = 0.2
    mass_loss_weight: float = 1.0
    lvh_loss_weight: float = 1.0
    augment: bool = True
    lvh_threshold_g_m2_male: float = 71.0
    lvh_threshold_g_m2_female: float = 56.0
    lvh_threshold_g_male: float = 140.0
    lvh_threshold_g_female: float = 105.0
    train_folds: tuple[int, ...] = (1, 2, 3, 4, 5)
    val_folds: tuple[int, ...] = (6,)
    test_folds: tuple[int, ...] = (7, 8)
    val_fraction: float = 0.2
    pretrain_statements: bool = False
    num_threads: int = 2

    def __post_init__(self) -> None:
        # JSON/TOML give lists; keep the folds hashable and comparable.
        self.train_folds = tuple(int(f) for f in self.train_folds)
        self.val_folds = tuple(int(f) for f in self.val_folds)
        self.test_folds = tuple(int(f) for f in self.test_folds)

    @property
    def n_samples(self) -> int:
        """Samples per record fed to the network."""
        return round(self.fs_hz * self.duration_s)
