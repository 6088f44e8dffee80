"""How well an explanation map points at a reference region (e.g. Grad-CAM vs the manual scar mask).

Two scores per 2-D slice, both on maps and masks of the same (y, x) grid:

- **Pointing game** (Zhang, Lin, Brandt, Shen & Sclaroff, "Top-down neural
  attention by excitation backprop", ECCV 2016): a *hit* when the map's
  maximum lies inside the mask, or within ``tolerance_px`` pixels of it
  (Euclidean distance to the nearest mask pixel, i.e. the mask dilated by a
  disc of that radius; the paper used 15 px on full-size photos). The
  maximum is ``np.argmax`` of the map: on ties the first pixel in row-major
  (C) order, so a constant map points at pixel (0, 0).
- **Top-fraction IoU**: the map's top region is the ``k = ceil(fraction * n)``
  highest-valued of its ``n`` pixels (ties broken by row-major order, the
  product rounded to 9 decimals first so 0.07 * 100 gives 7, not 8); the score
  is its intersection over union with the mask.

Over slices (:func:`alignment_scores`): the pointing-game accuracy with its
Wilson 95% CI and the mean IoU with a bootstrap percentile 95% CI over slices.
Numpy only (no torch).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cardiolens.errors import UsageError
from cardiolens.stats.bootstrap import bootstrap_ci
from cardiolens.stats.diagnostic import proportion
from cardiolens.stats.estimate import Estimate

__all__ = ["alignment_scores", "pointing_game_hit", "top_fraction_iou", "top_fraction_region"]

_BOOTSTRAP_RESAMPLES = 2000
_BOOTSTRAP_SEED = 0


def _check_map(cam_yx: np.ndarray) -> np.ndarray:
    cam = np.asarray(cam_yx, dtype=np.float64)
    if cam.ndim != 2 or cam.size == 0:
        raise UsageError(f"an explanation map must be a non-empty 2-D (y, x) array, got shape {cam.shape}")
    if not np.all(np.isfinite(cam)):
        raise UsageError("the explanation map contains NaN or Inf")
    return cam


def _check_pair(cam_yx: np.ndarray, mask_yx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cam = _check_map(cam_yx)
    mask = np.asarray(mask_yx) != 0
    if mask.shape != cam.shape:
        raise UsageError(f"map shape {cam.shape} and mask shape {mask.shape} differ: resample one onto the other's grid first")
    if not mask.any():
        raise UsageError("the mask is empty: alignment with an empty region is undefined")
    return cam, mask


def pointing_game_hit(cam_yx: np.ndarray, mask_yx: np.ndarray, tolerance_px: int = 0) -> bool:
    """True when the map's maximum lies in the mask or within ``tolerance_px`` pixels (Euclidean) of it.

    Raises:
        UsageError: shapes differ, the mask is empty, the map is not finite or ``tolerance_px < 0``.
    """
    if tolerance_px < 0:
        raise UsageError(f"tolerance_px must be >= 0, got {tolerance_px}")
    cam, mask = _check_pair(cam_yx, mask_yx)
    peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
    if mask[peak]:
        return True
    if tolerance_px == 0:
        return False
    distances_sq = ((np.argwhere(mask) - np.asarray(peak)) ** 2).sum(axis=1)
    return bool(distances_sq.min() <= tolerance_px * tolerance_px)


def top_fraction_region(cam_yx: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean (y, x) mask of the ``ceil(fraction * n_pixels)`` highest-valued pixels (row-major order on ties)."""
    if not 0.0 < fraction <= 1.0:
        raise UsageError(f"fraction must be in (0, 1], got {fraction}")
    cam = _check_map(cam_yx)
    k = math.ceil(round(fraction * cam.size, 9))
    # A stable sort of the negated values ranks equal values by their row-major position.
    order = np.argsort(-cam.ravel(), kind="stable")[:k]
    region = np.zeros(cam.size, dtype=bool)
    region[order] = True
    return region.reshape(cam.shape)


def top_fraction_iou(cam_yx: np.ndarray, mask_yx: np.ndarray, fraction: float) -> float:
    """Intersection over union of :func:`top_fraction_region` with the (non-empty) mask, in [0, 1]."""
    cam, mask = _check_pair(cam_yx, mask_yx)
    region = top_fraction_region(cam, fraction)
    return float(np.logical_and(region, mask).sum() / np.logical_or(region, mask).sum())


def alignment_scores(cams: np.ndarray, masks: np.ndarray, fraction: float, tolerance_px: int = 0) -> dict[str, Any]:
    """Pointing game and top-fraction IoU over slices: maps (N, y, x) against masks (N, y, x).

    Slices whose mask is empty are skipped and not counted.

    Returns:
        ``{"n": slices scored, "pointing_hits": hits, "pointing_game": Estimate
        (hit proportion, Wilson 95% CI), "top_fraction_iou": Estimate (mean IoU,
        bootstrap percentile 95% CI over slices, 2000 resamples, seed 0),
        "per_slice_hit": [bool], "per_slice_iou": [float], "slice_index": [int]}``;
        the per-slice lists follow ``slice_index`` (positions in the input). With
        no slice scored both estimates are NaN without CI.
    """
    cams = np.asarray(cams)
    masks = np.asarray(masks) != 0
    if cams.ndim != 3 or cams.shape != masks.shape:
        raise UsageError(f"maps and masks must both be (N, y, x) with the same shape, got {cams.shape} and {masks.shape}")
    scored = [i for i in range(cams.shape[0]) if masks[i].any()]
    hits = [pointing_game_hit(cams[i], masks[i], tolerance_px) for i in scored]
    ious = [top_fraction_iou(cams[i], masks[i], fraction) for i in scored]
    if ious:
        iou = bootstrap_ci(
            lambda values: values.mean(axis=-1),
            np.asarray(ious),
            n_resamples=_BOOTSTRAP_RESAMPLES,
            seed=_BOOTSTRAP_SEED,
            vectorized=True,
        )
    else:
        iou = Estimate(math.nan, None, None, "bootstrap percentile (undefined: no slice with a mask)", 0)
    return {
        "n": len(scored),
        "pointing_hits": int(sum(hits)),
        "pointing_game": proportion(int(sum(hits)), len(scored)),
        "top_fraction_iou": iou,
        "per_slice_hit": hits,
        "per_slice_iou": ious,
        "slice_index": scored,
    }
