"""Echo clips for ``echo2cmr``: square resizing, clip sampling, normalisation and augmentation.

A video is decoded once, padded to a square with zeros (the sector background
of an echo is black) and resized to ``config.image_size`` pixels
(:func:`resize_frames`). A *clip* is ``config.clip_frames`` frames taken every
``clip_stride`` frames of a video at ``reference_fps``; a video at another
frame rate is sampled with a stride of ``clip_stride * fps / reference_fps``
frames (rounded per frame), so every clip spans the same time
(:func:`clip_indices`). Training draws a random start per clip; evaluation
averages ``eval_clips`` evenly spaced clips (:func:`eval_starts`). Each clip is
z-scored on its own (:func:`normalise_clip`): gain and dynamic range differ
between machines and are not what the labels are about.

Augmentation (:class:`ClipAugmenter`, training only) uses MONAI with the time
axis as channels, so every frame of a clip gets the same spatial and intensity
transform: RandAffine (rotation +-10 deg, translation +-6 % of the image,
scale +-10 %, probability 0.8, zero padding) then RandAdjustContrast (gamma
0.7-1.5, probability 0.8).

torch and MONAI are imported inside the functions that need them.
"""

from __future__ import annotations

import math

import numpy as np

from cardiolens.errors import UsageError
from cardiolens.systems.echo2cmr.config import Echo2CmrConfig

#: Probabilities and ranges of the training augmentation (see the module docstring).
AFFINE_PROB = 0.8
ROTATE_DEG = 10.0
TRANSLATE_FRACTION = 0.06
SCALE_FRACTION = 0.10
CONTRAST_PROB = 0.8
GAMMA_RANGE = (0.7, 1.5)


def _as_grey_0_255(frames: np.ndarray) -> np.ndarray:
    """float32 frames in 0..255: uint8 as is; other dtypes (16-bit DICOM, floats) scaled by the clip maximum."""
    if frames.dtype == np.uint8:
        return frames.astype(np.float32)
    values = np.asarray(frames, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 255.0:
        return values
    # outside the 8-bit range: map [min(0, low), high] onto 0..255 so relative brightness is kept
    low = min(0.0, low)
    return (values - low) * (255.0 / max(high - low, 1e-6))


def resize_frames(frames_tyx: np.ndarray, size_px: int) -> np.ndarray:
    """Pad (t, y, x) frames to a centred square with zeros and resize to (t, size_px, size_px) uint8.

    Shrinking averages the covered source pixels (area interpolation, no
    aliasing of the speckle); enlarging is bilinear. Values outside 0..255
    (16-bit sources) are first scaled by the clip maximum.

    Raises:
        UsageError: frames that are not (t, y, x) or a size below 1 pixel.
    """
    import torch
    from torch.nn import functional as F

    frames = np.asarray(frames_tyx)
    if frames.ndim != 3 or min(frames.shape) < 1:
        raise UsageError(f"resize_frames expects (t, y, x) frames, got shape {frames.shape}")
    if size_px < 1:
        raise UsageError(f"size_px must be at least 1, got {size_px}")
    grey = _as_grey_0_255(frames)
    t, height, width = grey.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((t, side, side), dtype=np.float32)
    square[:, top : top + height, left : left + width] = grey
    if side != size_px:
        tensor = torch.from_numpy(square)[:, None]
        if side > size_px:
            tensor = F.interpolate(tensor, size=(size_px, size_px), mode="area")
        else:
            tensor = F.interpolate(tensor, size=(size_px, size_px), mode="bilinear", align_corners=False)
        square = tensor[:, 0].numpy()
    return np.clip(np.rint(square), 0, 255).astype(np.uint8)


def frame_step(fps: float, config: Echo2CmrConfig) -> float:
    """Source frames between two clip frames: ``clip_stride * fps / reference_fps`` (may be fractional)."""
    if not (math.isfinite(fps) and fps > 0):
        raise UsageError(f"frame rate must be positive, got {fps}")
    return config.clip_stride * fps / config.reference_fps


def max_start(n_frames: int, fps: float, config: Echo2CmrConfig) -> int:
    """Last start frame whose clip still fits in the video (0 when the video is shorter than a clip)."""
    span = round((config.clip_frames - 1) * frame_step(fps, config))
    return max(0, n_frames - 1 - span)


def clip_indices(n_frames: int, fps: float, start: int, config: Echo2CmrConfig) -> np.ndarray:
    """Frame indices of the clip starting at frame ``start`` of a video at ``fps`` frames/s.

    ``config.clip_frames`` indices ``round(start + k * step)`` with ``step`` from
    :func:`frame_step`, clamped to the last frame (a short video repeats its
    last frame rather than wrapping around mid-cycle).
    """
    if n_frames < 1:
        raise UsageError(f"a video needs at least 1 frame, got {n_frames}")
    step = frame_step(fps, config)
    indices = np.rint(start + np.arange(config.clip_frames) * step).astype(np.int64)
    return np.clip(indices, 0, n_frames - 1)


def eval_starts(n_frames: int, fps: float, config: Echo2CmrConfig) -> list[int]:
    """``config.eval_clips`` evenly spaced clip starts from frame 0 to :func:`max_start` (duplicates removed).

    A video shorter than ``eval_clips`` distinct clips gets fewer starts (one, 0, at the least).
    """
    last = max_start(n_frames, fps, config)
    count = max(1, int(config.eval_clips))
    starts = np.rint(np.linspace(0, last, count)).astype(int) if count > 1 else np.zeros(1, dtype=int)
    return sorted({int(s) for s in starts})


def random_start(n_frames: int, fps: float, config: Echo2CmrConfig, rng: np.random.Generator) -> int:
    """A uniformly drawn clip start in 0..:func:`max_start` (training)."""
    return int(rng.integers(0, max_start(n_frames, fps, config) + 1))


def normalise_clip(frames_tyx: np.ndarray) -> np.ndarray:
    """Per-clip z-score as float32 (mean 0, SD 1; a constant clip becomes zeros)."""
    values = np.asarray(frames_tyx, dtype=np.float32)
    mean = float(values.mean())
    sd = float(values.std())
    if sd < 1e-6:
        return np.zeros_like(values)
    return ((values - mean) / sd).astype(np.float32)


def eval_clip_batch(frames_tyx: np.ndarray, fps: float, config: Echo2CmrConfig) -> np.ndarray:
    """The evaluation clips of one resized video: (n_clips, clip_frames, S, S) float32, each normalised."""
    n_frames = int(frames_tyx.shape[0])
    clips = [normalise_clip(frames_tyx[clip_indices(n_frames, fps, s, config)]) for s in eval_starts(n_frames, fps, config)]
    return np.stack(clips)


def clip_tensor_batch(clips: np.ndarray) -> np.ndarray:
    """(n, T, S, S) normalised clips -> the network's (n, 1, T, S, S) float32 contiguous input."""
    array = np.asarray(clips, dtype=np.float32)
    if array.ndim != 4:
        raise UsageError(f"expected clips of shape (n, T, S, S), got {array.shape}")
    return np.ascontiguousarray(array[:, None])


class ClipAugmenter:
    """Training augmentation applied identically to every frame of a clip (time as channels).

    Args:
        size_px: the clip's image size (the translation range is a fraction of it).
        seed: seed of the transforms' random state (see :meth:`reseed`).

    Calling it on (t, S, S) frames (uint8 or float, 0..255) returns float32
    frames of the same shape, not yet normalised.
    """

    def __init__(self, size_px: int, seed: int = 0) -> None:
        from monai.transforms import RandAdjustContrast, RandAffine

        shift_px = TRANSLATE_FRACTION * size_px
        self.affine = RandAffine(
            prob=AFFINE_PROB,
            rotate_range=(math.radians(ROTATE_DEG),),
            translate_range=(shift_px, shift_px),
            scale_range=(SCALE_FRACTION, SCALE_FRACTION),
            mode="bilinear",
            padding_mode="zeros",
        )
        self.contrast = RandAdjustContrast(prob=CONTRAST_PROB, gamma=GAMMA_RANGE)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart both transforms from one random state (DataLoader workers call this with their seed)."""
        state = np.random.RandomState(int(seed) % 2**32)
        self.affine.set_random_state(state=state)
        self.contrast.set_random_state(state=state)

    def __call__(self, frames_tyx: np.ndarray) -> np.ndarray:
        from monai.utils import convert_to_numpy

        clip = _as_grey_0_255(np.asarray(frames_tyx))
        out = self.contrast(self.affine(clip))
        return convert_to_numpy(out, dtype=np.float32)  # MONAI returns a MetaTensor


__all__ = [
    "ClipAugmenter",
    "clip_indices",
    "clip_tensor_batch",
    "eval_clip_batch",
    "eval_starts",
    "frame_step",
    "max_start",
    "normalise_clip",
    "random_start",
    "resize_frames",
]
