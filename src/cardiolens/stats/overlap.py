"""Segmentation overlap and surface-distance metrics in millimetres (Dice, HD95, ASSD, Hausdorff).

Methods (METHODS.md §5):

- **Dice** = 2|A∩B| / (|A| + |B|) (Dice 1945). Both masks empty → 1.0 (perfect
  agreement that nothing is there); exactly one empty → 0.0.
- **Surface** of a mask = its foreground voxels with at least one background
  neighbour under face connectivity (``connectivity=1``: 6 neighbours in 3-D,
  4 in 2-D), found by a binary erosion; voxels on the array border count as
  surface (outside the array is background). This is the MedPy convention.
- **Directed surface distances** A→B = for every surface voxel of A, the
  Euclidean distance in mm to the nearest surface voxel of B, from
  :func:`scipy.ndimage.distance_transform_edt` with ``sampling=spacing_mm``,
  so anisotropic voxels are measured correctly.
- **HD95** (default, ``method="pooled"``) = 95th percentile of the pooled
  distances A→B ∪ B→A, as in MedPy ``hd95``. ``method="max_directed"`` gives
  max(P95(A→B), P95(B→A)), the other definition in use (e.g. MONAI's
  percentile Hausdorff). Percentiles use numpy's linear interpolation.
- **Hausdorff** = max of the pooled distances (Huttenlocher et al. 1993).
- **ASSD** = mean of the pooled distances,
  (Σ_a d(a, ∂B) + Σ_b d(b, ∂A)) / (|∂A| + |∂B|) (Heimann et al., IEEE TMI
  2009;28:1251). MedPy's ``assd`` instead averages the two directed means;
  the two agree when both surfaces have the same number of voxels.

Empty masks (distances): both empty → NaN (nothing to measure); exactly one
empty → +inf (a structure was missed or invented entirely). ``to_dict`` turns
these into ``None`` so the output stays valid JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from cardiolens.errors import UsageError

Hd95Method = Literal["pooled", "max_directed"]
_HD95_METHODS: tuple[str, ...] = ("pooled", "max_directed")


@dataclass(frozen=True)
class OverlapMetrics:
    """Overlap and surface-distance metrics of one (binary) structure.

    Attributes:
        dice: Dice coefficient in [0, 1].
        hd95_mm: 95th-percentile Hausdorff distance in mm (definition in ``hd95_method``).
        assd_mm: average symmetric surface distance in mm.
        hausdorff_mm: Hausdorff (maximum) distance in mm.
        pred_volume_ml, truth_volume_ml: foreground volumes in mL (for 2-D
            masks, the area in mm² / 1000).
        hd95_method: "pooled" (MedPy) or "max_directed".
    """

    dice: float
    hd95_mm: float
    assd_mm: float
    hausdorff_mm: float
    pred_volume_ml: float
    truth_volume_ml: float
    hd95_method: str = "pooled"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; NaN/inf distances (empty masks) become None."""
        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "dice": clean(self.dice),
            "hd95_mm": clean(self.hd95_mm),
            "assd_mm": clean(self.assd_mm),
            "hausdorff_mm": clean(self.hausdorff_mm),
            "pred_volume_ml": clean(self.pred_volume_ml),
            "truth_volume_ml": clean(self.truth_volume_ml),
            "hd95_method": self.hd95_method,
        }


def _as_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary masks (non-zero = foreground) of equal shape."""
    a = np.asarray(pred)
    b = np.asarray(truth)
    if a.shape != b.shape:
        raise UsageError(f"prediction and truth masks differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 0:
        raise UsageError("masks must have at least one dimension")
    return a != 0, b != 0


def _check_spacing(spacing_mm: Sequence[float] | float, ndim: int) -> tuple[float, ...]:
    values = np.atleast_1d(np.asarray(spacing_mm, dtype=float))
    if values.ndim != 1 or len(values) not in (1, ndim):
        raise UsageError(f"spacing_mm must have one value per mask axis ({ndim}), got {spacing_mm}")
    spacing = tuple(float(s) for s in np.broadcast_to(values, (ndim,)))
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise UsageError(f"spacing_mm must be positive and finite, got {spacing}")
    return spacing


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient 2|A∩B|/(|A|+|B|) of two masks (non-zero = foreground).

    Both empty → 1.0; exactly one empty → 0.0.
    """
    a, b = _as_pair(pred, truth)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def surface_voxels(mask: np.ndarray, connectivity: int = 1) -> np.ndarray:
    """Boolean map of the boundary voxels of ``mask`` (non-zero = foreground).

    A foreground voxel is on the surface when a neighbour under
    ``connectivity`` (1 = faces, up to ``mask.ndim`` = faces, edges and
    corners; see :func:`scipy.ndimage.generate_binary_structure`) is
    background or outside the array.
    """
    m = np.asarray(mask) != 0
    if not 1 <= connectivity <= max(m.ndim, 1):
        raise UsageError(f"connectivity must be between 1 and {m.ndim}, got {connectivity}")
    structure = ndimage.generate_binary_structure(m.ndim, connectivity)
    # border_value=0: voxels touching the array edge are boundary voxels.
    return m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)


def _crop_to_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both masks to the bounding box of their union (1-voxel margin).

    Exact for surface distances: every surface voxel of either mask lies in
    the box, and the margin keeps the erosion's view of the neighbourhood.
    """
    idx = np.argwhere(a | b)
    low = np.maximum(idx.min(axis=0) - 1, 0)
    high = np.minimum(idx.max(axis=0) + 2, a.shape)
    box = tuple(slice(lo, hi) for lo, hi in zip(low, high))
    return a[box], b[box]


def surface_distances(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing_mm: Sequence[float] | float,
    connectivity: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances in mm: (pred→truth, truth→pred).

    Args:
        pred, truth: masks of equal shape (non-zero = foreground).
        spacing_mm: voxel size per axis in the masks' axis order (e.g. (z, y, x)
            for cardiolens volumes), or one value for isotropic voxels.
        connectivity: neighbourhood defining the surface (see :func:`surface_voxels`).

    Returns:
        One distance per surface voxel of ``pred`` (to the nearest surface
        voxel of ``truth``) and one per surface voxel of ``truth``. Both arrays
        are empty if either mask is empty.
    """
    a, b = _as_pair(pred, truth)
    spacing = _check_spacing(spacing_mm, a.ndim)
    if not a.any() or not b.any():
        return np.empty(0), np.empty(0)
    a, b = _crop_to_union(a, b)
    surf_a = surface_voxels(a, connectivity)
    surf_b = surface_voxels(b, connectivity)
    # The distance transform of the surface's complement is the distance to the nearest surface voxel.
    to_b = ndimage.distance_transform_edt(~surf_b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~surf_a, sampling=spacing)
    return to_b[surf_a], to_a[surf_b]


def _empty_rule(a: np.ndarray, b: np.ndarray) -> float | None:
    """NaN when both masks are empty, inf when exactly one is, None otherwise."""
    has_a, has_b = bool(a.any()), bool(b.any())
    if not has_a and not has_b:
        return math.nan
    if has_a != has_b:
        return math.inf
    return None


def _hd95_from(d_ab: np.ndarray, d_ba: np.ndarray, method: str) -> float:
    if method == "pooled":
        return float(np.percentile(np.concatenate([d_ab, d_ba]), 95))
    return float(max(np.percentile(d_ab, 95), np.percentile(d_ba, 95)))


def _check_method(method: str) -> None:
    if method not in _HD95_METHODS:
        raise UsageError(f"hd95 method must be one of {', '.join(_HD95_METHODS)}, got {method!r}")


def _distances_or_empty_rule(
    pred: np.ndarray, truth: np.ndarray, spacing_mm: Sequence[float] | float, connectivity: int
) -> tuple[np.ndarray, np.ndarray] | float:
    """The two directed surface-distance sets (mm), or the empty-mask answer (NaN or inf)."""
    a, b = _as_pair(pred, truth)
    _check_spacing(spacing_mm, a.ndim)  # validate even when the empty-mask rule answers
    special = _empty_rule(a, b)
    if special is not None:
        return float(special)
    return surface_distances(a, b, spacing_mm, connectivity)


def hd95(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing_mm: Sequence[float] | float,
    method: Hd95Method = "pooled",
    connectivity: int = 1,
) -> float:
    """95th-percentile Hausdorff distance in mm.

    ``method="pooled"`` (default, MedPy): P95 of the pooled two-directional
    surface distances. ``method="max_directed"``: the larger of the two
    directed P95s. Both empty → NaN; one empty → inf.
    """
    _check_method(method)
    distances = _distances_or_empty_rule(pred, truth, spacing_mm, connectivity)
    return distances if isinstance(distances, float) else _hd95_from(*distances, method)


def hausdorff(
    pred: np.ndarray, truth: np.ndarray, spacing_mm: Sequence[float] | float, connectivity: int = 1
) -> float:
    """Hausdorff distance (maximum surface distance) in mm. Both empty → NaN; one empty → inf."""
    distances = _distances_or_empty_rule(pred, truth, spacing_mm, connectivity)
    return distances if isinstance(distances, float) else float(max(d.max() for d in distances))


def assd(
    pred: np.ndarray, truth: np.ndarray, spacing_mm: Sequence[float] | float, connectivity: int = 1
) -> float:
    """Average symmetric surface distance in mm (mean of the pooled distances, Heimann 2009).

    Both empty → NaN; one empty → inf.
    """
    distances = _distances_or_empty_rule(pred, truth, spacing_mm, connectivity)
    return distances if isinstance(distances, float) else float(np.concatenate(distances).mean())


def overlap_metrics(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing_mm: Sequence[float] | float,
    hd95_method: Hd95Method = "pooled",
    connectivity: int = 1,
) -> OverlapMetrics:
    """All overlap metrics of one binary structure (distance transforms computed once).

    Args:
        pred, truth: masks of equal shape (non-zero = foreground).
        spacing_mm: voxel size per axis in mm, in the masks' axis order.
        hd95_method: "pooled" (MedPy, default) or "max_directed".
        connectivity: neighbourhood defining the surface.
    """
    _check_method(hd95_method)
    a, b = _as_pair(pred, truth)
    spacing = _check_spacing(spacing_mm, a.ndim)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    special = _empty_rule(a, b)
    if special is not None:
        hd = mean = worst = special
    else:
        d_ab, d_ba = surface_distances(a, b, spacing, connectivity)
        pooled = np.concatenate([d_ab, d_ba])
        hd = _hd95_from(d_ab, d_ba, hd95_method)
        mean, worst = float(pooled.mean()), float(pooled.max())
    return OverlapMetrics(
        dice=dice(a, b),
        hd95_mm=hd,
        assd_mm=mean,
        hausdorff_mm=worst,
        pred_volume_ml=int(a.sum()) * voxel_ml,
        truth_volume_ml=int(b.sum()) * voxel_ml,
        hd95_method=hd95_method,
    )


def overlap_per_label(
    pred: np.ndarray,
    truth: np.ndarray,
    labels: Mapping[str, int | tuple[int, ...]],
    spacing_mm: Sequence[float] | float,
    hd95_method: Hd95Method = "pooled",
    connectivity: int = 1,
) -> dict[str, OverlapMetrics]:
    """Overlap metrics per structure of two integer label maps.

    Args:
        pred, truth: integer label maps of equal shape.
        labels: structure name → label value, or a tuple of values merged into
            one structure (e.g. ``{"myocardium": (2, 3, 4)}`` for the whole EMIDEC
            myocardium). Only the names given are evaluated, so leave out background.
        spacing_mm: voxel size per axis in mm, in the maps' axis order.
        hd95_method, connectivity: as in :func:`overlap_metrics`.

    Returns:
        ``{name: OverlapMetrics}`` in the order of ``labels``.
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise UsageError(f"prediction and truth label maps differ in shape: {p.shape} vs {t.shape}")
    if not labels:
        raise UsageError("labels is empty: name at least one structure, e.g. {'lv_cavity': 3}")
    results: dict[str, OverlapMetrics] = {}
    for name, value in labels.items():
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not values or not all(isinstance(v, (int, np.integer)) for v in values):
            raise UsageError(f"label {name!r} must be an int or a tuple of ints, got {value!r}")
        results[name] = overlap_metrics(
            np.isin(p, values), np.isin(t, values), spacing_mm, hd95_method, connectivity
        )
    return results


__all__ = [
    "OverlapMetrics",
    "assd",
    "dice",
    "hausdorff",
    "hd95",
    "overlap_metrics",
    "overlap_per_label",
    "surface_distances",
    "surface_voxels",
]
