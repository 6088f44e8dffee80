"""Configuration of ``echo2cmr`` (dataclass defaults; override with a file or ``--set key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from cardiolens.systems.config import SystemConfig

#: The multi-label head, in output order: wall-motion abnormality (the positive
#: control), LGE present, abnormal native T1, abnormal T2, abnormal ECV.
LABELS: tuple[str, ...] = ("wma", "lge", "t1", "t2", "ecv")


@dataclass
class Echo2CmrConfig(SystemConfig):
    """Settings of the echo -> CMR tissue-label model.

    Pairing: each CMR study takes the closest echo study of the same subject
    within +-``window_days`` days (see :mod:`cardiolens.systems.echo2cmr.pairing`).

    Labels: native T1, T2 and ECV are abnormal above the local normal mean +
    ``abnormal_sd`` SD (defaults: native T1 950 +- 21 ms, MOLLI at 1.5 T, Dabir
    2014; T2 50 +- 4 ms; ECV 25.6 +- 3.0 %, Sardanelli 2019; METHODS.md
    section 6). An explicit ``*_cutoff_*`` replaces mean + k SD.

    Clips: ``clip_frames`` frames taken every ``clip_stride`` frames of a
    video at ``reference_fps``; a video at another rate is sampled so that the
    clip spans the same time (``clip_frames * clip_stride / reference_fps`` s,
    1.28 s by default: at least one cycle above 47 bpm). Frames are padded to
    square and resized to ``image_size`` pixels. Evaluation averages the
    logits of ``eval_clips`` evenly spaced clips per video.

    Network: R(2+1)D-18 of ``width`` (8 = 8-16-32-64 channels); with
    ``motion_channel`` it also sees each frame minus the clip's temporal mean.

    Views: one network per echo view found in the training data (restricted
    to ``views`` when given); a study's prediction is the mean of its views'
    probabilities.
    """

    window_days: int = 30
    abnormal_sd: float = 2.0
    native_t1_normal_mean_ms: float = 950.0
    native_t1_normal_sd_ms: float = 21.0
    t2_normal_mean_ms: float = 50.0
    t2_normal_sd_ms: float = 4.0
    ecv_normal_mean_pct: float = 25.6
    ecv_normal_sd_pct: float = 3.0
    native_t1_cutoff_ms: float | None = None
    t2_cutoff_ms: float | None = None
    ecv_cutoff_pct: float | None = None
    views: tuple[str, ...] = ()
    clip_frames: int = 16
    clip_stride: int = 4
    reference_fps: float = 50.0
    image_size: int = 64
    eval_clips: int = 3
    motion_channel: bool = True
    width: int = 8
    dropout: float = 0.2
    epochs: int = 25
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    val_fraction: float = 0.2
    augment: bool = True
    mc_samples: int = 0
    bootstrap_resamples: int = 2000
    seed: int = 0
    num_threads: int = 2

    def __post_init__(self) -> None:
        self.views = tuple(str(v) for v in self.views)  # JSON/TOML give lists
