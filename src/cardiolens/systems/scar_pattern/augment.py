"""Training augmentation of ``scar-pattern``: the reference study's random rotation and horizontal flip.

A slice (C, H, W) is rotated by an angle drawn uniformly from
[-``rotation_deg``, +``rotation_deg``] degrees about its centre (bilinear,
zero padding, same size), then flipped left-right (the last axis) with
probability ``flip_prob``. Both are MONAI array transforms in a ``Compose``,
so ``set_random_state(seed)`` makes a run reproducible.
"""

from __future__ import annotations

import math

import numpy as np
from monai.transforms import Compose, RandFlip, RandRotate, ToNumpy

from cardiolens.errors import UsageError


def _check(rotation_deg: float, flip_prob: float) -> None:
    if not 0 <= rotation_deg <= 180:
        raise UsageError(f"rotation_deg must be in [0, 180] degrees, got {rotation_deg}")
    if not 0.0 <= flip_prob <= 1.0:
        raise UsageError(f"flip_prob must be in [0, 1], got {flip_prob}")


def training_augmentation(rotation_deg: int, flip_prob: float) -> Compose:
    """The augmentation pipeline: ``np.ndarray (C, H, W) float32 -> np.ndarray (C, H, W) float32``.

    Args:
        rotation_deg: half-range of the uniform rotation angle, degrees
            (0 = never rotate; the reference study used 20, 40, 60 or 180).
        flip_prob: probability of a horizontal (left-right) flip.

    Returns:
        A MONAI ``Compose``: call it on one slice; ``set_random_state(seed)``
        fixes its random stream.
    """
    _check(rotation_deg, flip_prob)
    return Compose(
        [
            RandRotate(
                range_x=math.radians(rotation_deg),
                prob=1.0 if rotation_deg > 0 else 0.0,
                keep_size=True,
                mode="bilinear",
                padding_mode="zeros",
            ),
            RandFlip(prob=flip_prob, spatial_axis=1),  # spatial axis 1 of (H, W) = x: left-right
            ToNumpy(dtype=np.float32),
        ]
    )


def augmentation_description(rotation_deg: int, flip_prob: float) -> str:
    """One line describing the augmentation, for the model card and report."""
    _check(rotation_deg, flip_prob)
    rotation = (
        f"random rotation uniform in ±{rotation_deg:g}° (bilinear, zero padding)" if rotation_deg > 0 else "no rotation"
    )
    flip = f"horizontal flip with p = {flip_prob:g}" if flip_prob > 0 else "no flip"
    return f"{rotation}; {flip} (MONAI RandRotate, RandFlip; training only)"


__all__ = ["augmentation_description", "training_augmentation"]
