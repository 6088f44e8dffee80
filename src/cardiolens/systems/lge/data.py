"""LGE stacks for ``lge``: cohort volumes, user spacing, the in-plane centre crop and intensity scaling (studies are read by :mod:`cardiolens.io.lge_study`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from cardiolens.data.cohort import Cohort
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import MissingDataError, UsageError
from cardiolens.io.layouts import load as load_subject


def lge_of(study: object, source: str) -> CMRVolume:
    """The LGE volume of a loaded subject (a simulated full subject, or an LGE volume itself)."""
    volume = getattr(study, "lge", study)
    if not isinstance(volume, CMRVolume):
        raise UsageError(f"{source}: no LGE volume in a {type(study).__name__}")
    return volume


def load_volume(cohort: Cohort, subject_id: str) -> CMRVolume:
    """The LGE volume of ``subject_id`` with its labels, if the cohort has them."""
    return lge_of(load_subject(cohort, subject_id), f"{cohort.root}/{subject_id}")


def with_spacing(volume: CMRVolume, spacing_mm: tuple[float, float, float] | None) -> CMRVolume:
    """``volume`` with the user's ``spacing_mm`` (z, y, x) when its own spacing is unknown (noted in metadata)."""
    if volume.spacing_known or spacing_mm is None:
        return volume
    metadata = {**volume.metadata, "spacing_note": f"spacing {list(spacing_mm)} mm given by the user (config spacing_mm)"}
    return dataclasses.replace(volume, spacing_mm=tuple(spacing_mm), spacing_known=True, metadata=metadata)


def myocardium_source(volume: CMRVolume) -> np.ndarray:
    """The study's own label mask (LGE scheme), needed by the threshold variants without a myocardium model."""
    if volume.labels is None or volume.label_scheme != "lge":
        raise MissingDataError(volume.source, "no LGE labels to take the myocardium from; set myocardium_model to a trained unet model")
    return np.asarray(volume.labels)


# --- in-plane geometry and intensities ------------------------------------------------


def centre_window(size: int, target: int) -> tuple[slice, slice, int]:
    """(source slice, destination slice, pad before) mapping a centred ``target`` window onto an axis of ``size``."""
    if size >= target:
        start = (size - target) // 2
        return slice(start, start + target), slice(0, target), 0
    before = (target - size) // 2
    return slice(0, size), slice(before, before + size), before


def centre_crop(stack: np.ndarray, size_px: int, fill: float = 0.0) -> np.ndarray:
    """Centre-crop or zero-pad the last two axes of ``stack`` to ``size_px`` square."""
    ys, yd, _ = centre_window(stack.shape[-2], size_px)
    xs, xd, _ = centre_window(stack.shape[-1], size_px)
    out = np.full(stack.shape[:-2] + (size_px, size_px), fill, dtype=stack.dtype)
    out[..., yd, xd] = stack[..., ys, xs]
    return out


def uncrop(cropped: np.ndarray, shape_yx: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Inverse of :func:`centre_crop`: back onto the original (y, x) grid, ``fill`` outside the window."""
    size = cropped.shape[-1]
    ys, yd, _ = centre_window(shape_yx[0], size)
    xs, xd, _ = centre_window(shape_yx[1], size)
    out = np.full(cropped.shape[:-2] + tuple(shape_yx), fill, dtype=cropped.dtype)
    out[..., ys, xs] = cropped[..., yd, xd]
    return out


def normalise_stack(stack: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scale a whole stack to [0, 1] between its own low/high percentiles (clipped); a flat stack becomes 0."""
    x = np.asarray(stack, dtype=np.float32)
    low, high = np.percentile(x, percentiles)
    if high - low <= 0:
        return np.zeros_like(x)
    return np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32)


def network_input(image_zyx: np.ndarray, size_px: int, percentiles: tuple[float, float]) -> np.ndarray:
    """The centre crop of a stack, scaled with the percentiles of that crop (what the network sees)."""
    return normalise_stack(centre_crop(np.asarray(image_zyx, dtype=np.float32), size_px), percentiles)
