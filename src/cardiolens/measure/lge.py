"""LGE scar quantification: n-SD and FWHM thresholds, label masks, %LGE, per-AHA-segment scar.

Methods (``METHODS.md`` section 3):

- **n-SD**: ``T = mean_remote + n * SD_remote`` with n in {2, 3, 5, 6}; the
  remote (normal) myocardium is given as a mask or chosen automatically by
  :func:`remote_myocardium` (the angular myocardial sector with the lowest
  mean signal). By default there is one remote ROI and one threshold per
  slice, which absorbs slice-to-slice intensity scaling.
- **FWHM** (Amado et al., JACC 2004;44:2383): ``T = 0.5 * max signal`` within
  the enhanced region (given, or found automatically, see
  :func:`lge_thresholds`). Flett et al. (JACC CVI 2011) found FWHM the most
  reproducible and 2SD up to ~2x the %LGE of FWHM/6SD.
- Thresholds apply inside a myocardium mask; connected components smaller
  than ``min_island_voxels`` (default 10, 26-connectivity) are dropped; the
  microvascular-obstruction (MVO) core counts as scar: a dark in-plane core
  enclosed by scar (and cavity), or an MVO mask given by the caller.
- **Labels** (EMIDEC convention, :data:`~cardiolens.data.labels.LGE_LABELS`):
  scar = infarct (3) + MVO (4), myocardium = 2 + 3 + 4. Manual masks and the
  automatic thresholds end in the same :func:`quantify_scar`.
- ``%LGE = scar / myocardium x 100`` (voxel counts, i.e. volume fraction);
  ``burden_over_15pct`` is %LGE >= 15, the burden that doubled sudden-death
  risk in HCM (Chan et al., Circulation 2014;130:484,
  doi:10.1161/CIRCULATIONAHA.113.007094).
- Per-segment scar % over the AHA 17-segment model (Cerqueira 2002) from
  :func:`cardiolens.measure.aha.aha_segment_map`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
from scipy import ndimage

from cardiolens.data.labels import CINE_LABELS, LGE_BURDEN_CUTOFF_PCT, LGE_LABELS, MAP_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import InconsistentGeometryError, MissingDataError, UsageError

LGEMethod = Literal["nsd", "fwhm", "labels"]
ThresholdScope = Literal["slice", "volume"]

#: Islands smaller than this many voxels are dropped from thresholded scar (METHODS.md §3, "~10").
DEFAULT_MIN_ISLAND_VOXELS: Final[int] = 10
#: n of the n-SD threshold when none is given: 5SD, between the 2SD that over-calls
#: (Flett 2011) and the ~6SD behind Chan 2014's 15 % flag ([M], METHODS.md §3).
#: On low-contrast images (the simulator, 8-bit EMIDEC) 2-3SD track the truth better.
DEFAULT_N_SD: Final[float] = 5.0
#: n-SD screen that finds the enhanced region for automatic FWHM.
DEFAULT_FWHM_SCREEN_N_SD: Final[float] = 2.0
#: Fewest remote voxels for a per-slice threshold; smaller slices (apex) use the remote of all slices.
MIN_REMOTE_VOXELS: Final[int] = 20
#: Angular sectors per slice used to find the remote myocardium automatically.
DEFAULT_REMOTE_SECTORS: Final[int] = 6
AHA_SEGMENTS: Final[tuple[int, ...]] = tuple(range(1, 18))

_MYOCARDIUM_LABELS: Final[dict[str, tuple[int, ...]]] = {
    "lge": (LGE_LABELS["normal_myocardium"], LGE_LABELS["infarct"], LGE_LABELS["mvo"]),
    "map": (MAP_LABELS["normal_myocardium"], MAP_LABELS["abnormal_myocardium"]),
    "cine": (CINE_LABELS["lv_myocardium"],),
}
_CAVITY_LABEL: Final[dict[str, int]] = {
    "lge": LGE_LABELS["lv_cavity"],
    "map": MAP_LABELS["lv_cavity"],
    "cine": CINE_LABELS["lv_cavity"],
}


@dataclass(frozen=True)
class SignalThreshold:
    """A signal threshold for LGE scar and where it came from.

    Attributes:
        value: threshold in image units (a.u.); voxels strictly above it are
            scar (+inf: nothing enhanced, no scar).
        method: "nsd" or "fwhm".
        slice_index: the slice it applies to, or None for the whole stack.
        n_sd: n of the n-SD rule (None for FWHM).
        remote_mean, remote_sd: signal mean and SD (ddof=1) of the remote
            myocardium (n-SD, and the FWHM screen), image units.
        remote_voxels: size of the remote region.
        max_signal: FWHM only: maximum signal in the enhanced region.
        enhanced_voxels: FWHM only: size of the enhanced region.
    """

    value: float
    method: str
    slice_index: int | None = None
    n_sd: float | None = None
    remote_mean: float | None = None
    remote_sd: float | None = None
    remote_voxels: int | None = None
    max_signal: float | None = None
    enhanced_voxels: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (a non-finite threshold becomes null)."""
        return {
            "slice_index": self.slice_index,
            "threshold_signal_au": _finite_or_none(self.value),
            "n_sd": self.n_sd,
            "remote_mean_signal_au": self.remote_mean,
            "remote_sd_signal_au": self.remote_sd,
            "remote_voxels": self.remote_voxels,
            "fwhm_max_signal_au": self.max_signal,
            "enhanced_voxels": self.enhanced_voxels,
        }


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class ScarMask:
    """A scar segmentation inside the myocardium.

    Attributes:
        scar: boolean (z, y, x) mask, MVO included.
        mvo: boolean mask of the MVO core (a subset of ``scar``).
        islands_removed: connected components dropped as too small.
        island_voxels_removed: voxels in those components.
    """

    scar: np.ndarray
    mvo: np.ndarray
    islands_removed: int = 0
    island_voxels_removed: int = 0


@dataclass(frozen=True)
class LGEMeasurements:
    """Scar burden of one LGE study.

    Volumes are in mL only when the voxel spacing is known
    (``spacing_known``); otherwise the ``*_ml`` fields are None and the voxel
    counts are the measurement. ``pct_lge`` is unitless either way.

    Attributes:
        method: "nsd", "fwhm", "labels" or "mask" (a scar mask given directly).
        scar_voxels, mvo_voxels, myocardium_voxels: voxel counts (MVO is part of scar).
        pct_lge: scar / myocardium x 100.
        burden_over_15pct: pct_lge >= 15 (Chan 2014).
        spacing_known: whether mL volumes could be computed.
        voxel_volume_ml: volume of one voxel (mL), None when spacing is unknown.
        scar_volume_ml, mvo_volume_ml, myocardium_volume_ml: volumes (mL) or None.
        n_sd: n of the n-SD rule (n-SD only).
        threshold_scope: "slice" or "volume" (threshold methods only).
        thresholds: the signal threshold(s), one per slice with myocardium
            or one for the stack (threshold methods only).
        remote_source: how the remote myocardium was chosen (threshold methods only).
        min_island_voxels, islands_removed, island_voxels_removed: island filtering.
        segment_pct_lge: AHA segment (1-17) -> scar % of that segment's
            myocardium (None where the segment holds no myocardium); empty
            when segments were not computed.
        segment_myocardium_voxels: AHA segment -> myocardial voxels in it.
        segment_orientation: how the segments were oriented, e.g.
            "assumed: aha default septal angle" (empty when not computed).
        notes: anything a reader of the numbers should know.
    """

    method: str
    scar_voxels: int
    mvo_voxels: int
    myocardium_voxels: int
    pct_lge: float
    burden_over_15pct: bool
    spacing_known: bool
    voxel_volume_ml: float | None = None
    scar_volume_ml: float | None = None
    mvo_volume_ml: float | None = None
    myocardium_volume_ml: float | None = None
    n_sd: float | None = None
    threshold_scope: str | None = None
    thresholds: tuple[SignalThreshold, ...] = ()
    remote_source: str | None = None
    min_island_voxels: int = 0
    islands_removed: int = 0
    island_voxels_removed: int = 0
    segment_pct_lge: dict[int, float | None] = field(default_factory=dict)
    segment_myocardium_voxels: dict[int, int] = field(default_factory=dict)
    segment_orientation: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values with units in the key names (mL volumes null when spacing is unknown)."""
        return {
            "method": self.method,
            "n_sd": self.n_sd,
            "threshold_scope": self.threshold_scope,
            "thresholds": [t.to_dict() for t in self.thresholds],
            "remote_source": self.remote_source,
            "scar_voxels": self.scar_voxels,
            "mvo_voxels": self.mvo_voxels,
            "myocardium_voxels": self.myocardium_voxels,
            "pct_lge": self.pct_lge,
            "burden_over_15pct": self.burden_over_15pct,
            "spacing_known": self.spacing_known,
            "voxel_volume_ml": self.voxel_volume_ml,
            "scar_volume_ml": self.scar_volume_ml,
            "mvo_volume_ml": self.mvo_volume_ml,
            "myocardium_volume_ml": self.myocardium_volume_ml,
            "min_island_voxels": self.min_island_voxels,
            "islands_removed": self.islands_removed,
            "island_voxels_removed": self.island_voxels_removed,
            "segment_pct_lge": {str(k): v for k, v in self.segment_pct_lge.items()},
            "segment_myocardium_voxels": {str(k): v for k, v in self.segment_myocardium_voxels.items()},
            "segment_orientation": self.segment_orientation,
            "notes": list(self.notes),
        }


# --- masks ----------------------------------------------------------------------------


def _as_mask(mask: np.ndarray, shape: tuple[int, ...], source: str, what: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.shape != shape:
        raise InconsistentGeometryError(source, f"{what} shape {array.shape} != image shape {shape}")
    return array.astype(bool)


def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in (1, 2, 3):
        raise UsageError(f"connectivity must be 1 (6-), 2 (18-) or 3 (26-neighbour), got {connectivity!r}")
    return ndimage.generate_binary_structure(3, connectivity)


def _small_components(mask: np.ndarray, min_voxels: int, connectivity: int) -> tuple[np.ndarray, int]:
    """Mask of the components with fewer than ``min_voxels`` voxels, and how many there are."""
    labelled, n = ndimage.label(mask, structure=_structure(connectivity))
    if n == 0 or min_voxels <= 1:
        return np.zeros(mask.shape, dtype=bool), 0
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)
    small = sizes < min_voxels
    small[0] = False
    return small[labelled], int(np.count_nonzero(small))


def remove_small_islands(
    mask: np.ndarray, min_voxels: int = DEFAULT_MIN_ISLAND_VOXELS, *, connectivity: int = 3
) -> np.ndarray:
    """Drop connected components of fewer than ``min_voxels`` voxels from a 3-D mask.

    Args:
        mask: (z, y, x) boolean mask.
        min_voxels: components smaller than this are removed (0 or 1 keeps all).
        connectivity: 3-D neighbourhood, 1 = faces (6), 2 = +edges (18), 3 = +corners (26).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise UsageError(f"mask must be 3-D (z, y, x), got shape {mask.shape}")
    small, _ = _small_components(mask, int(min_voxels), connectivity)
    return mask & ~small


def lv_cavity_from_myocardium(myocardium: np.ndarray) -> np.ndarray:
    """The LV cavity as the in-plane holes of the myocardial ring (empty on open, e.g. apical-cap, slices)."""
    myocardium = np.asarray(myocardium, dtype=bool)
    cavity = np.zeros_like(myocardium)
    for z in range(myocardium.shape[0]):
        cavity[z] = ndimage.binary_fill_holes(myocardium[z]) & ~myocardium[z]
    return cavity


def enclosed_dark_core(scar: np.ndarray, myocardium: np.ndarray, lv_cavity: np.ndarray | None = None) -> np.ndarray:
    """Below-threshold myocardium enclosed in-plane by scar (and cavity): the MVO core.

    MVO is a dark core inside bright infarct, often reaching the cavity, so a
    core is a 4-connected in-plane component of myocardium-not-scar that
    touches scar, does not touch tissue outside the LV (or the image edge) and
    is smaller than the scar of its slice (so the normal subendocardium inside
    a ring of mid-wall scar is not taken for MVO). Works slice by slice because
    short-axis slices are thick.

    Args:
        scar, myocardium: (z, y, x) boolean masks.
        lv_cavity: LV cavity mask; None derives it from the holes of the myocardium.
    """
    scar = np.asarray(scar, dtype=bool)
    myocardium = np.asarray(myocardium, dtype=bool)
    cavity = lv_cavity_from_myocardium(myocardium) if lv_cavity is None else np.asarray(lv_cavity, dtype=bool)
    outside = ~(myocardium | cavity)
    cross = ndimage.generate_binary_structure(2, 1)
    core = np.zeros_like(scar)
    for z in range(scar.shape[0]):
        if not scar[z].any():
            continue
        candidate = myocardium[z] & ~scar[z]
        labelled, n = ndimage.label(candidate, structure=cross)
        if n == 0:
            continue
        near_outside = ndimage.binary_dilation(outside[z], structure=cross, border_value=1)
        near_scar = ndimage.binary_dilation(scar[z], structure=cross)
        ids = np.arange(n + 1)
        touches_outside = np.isin(ids, labelled[near_outside & candidate])
        touches_scar = np.isin(ids, labelled[near_scar & candidate])
        sizes = np.bincount(labelled.ravel(), minlength=n + 1)
        keep = touches_scar & ~touches_outside & (sizes < np.count_nonzero(scar[z]))
        keep[0] = False
        core[z] = keep[labelled]
    return core


# --- thresholds -----------------------------------------------------------------------


def _sector_index(myocardium: np.ndarray, lv_cavity: np.ndarray | None, n_sectors: int) -> np.ndarray:
    """Per voxel: slice * n_sectors + angular sector about the slice's LV centre (-1 outside)."""
    index = np.full(myocardium.shape, -1, dtype=np.int64)
    for z in range(myocardium.shape[0]):
        if not myocardium[z].any():
            continue
        centre_mask = lv_cavity[z] if lv_cavity is not None and lv_cavity[z].any() else myocardium[z]
        cy, cx = ndimage.center_of_mass(centre_mask)
        yy, xx = np.nonzero(myocardium[z])
        angle = np.arctan2(yy - cy, xx - cx)  # -pi..pi
        sector = np.minimum(((angle + np.pi) / (2 * np.pi) * n_sectors).astype(int), n_sectors - 1)
        index[z, yy, xx] = z * n_sectors + sector
    return index


def _lowest_mean(counts: np.ndarray, sums: np.ndarray, candidates: np.ndarray, min_voxels: int) -> int:
    """Id (of ``candidates``) with the lowest mean signal among those of >= min_voxels voxels, else the largest."""
    n, total = counts[candidates], sums[candidates]
    big = n >= min_voxels
    if not big.any():
        return int(candidates[np.argmax(n)])
    means = np.where(big, total / np.maximum(n, 1), np.inf)
    return int(candidates[np.argmin(means)])


def remote_myocardium(
    image: np.ndarray,
    myocardium: np.ndarray,
    lv_cavity: np.ndarray | None = None,
    *,
    scope: ThresholdScope = "slice",
    n_sectors: int = DEFAULT_REMOTE_SECTORS,
    min_voxels: int = MIN_REMOTE_VOXELS,
) -> np.ndarray:
    """Automatic remote (normal) myocardium for the n-SD threshold.

    Each slice's myocardium is split into ``n_sectors`` equal angular sectors
    about the LV centre (cavity centroid, or the myocardium's when there is no
    cavity). The sector with the lowest mean signal stands in for the
    operator's ROI in normal myocardium: one per slice (``scope="slice"``) or
    one for the whole stack (``"volume"``). Sectors of fewer than
    ``min_voxels`` voxels are skipped so that a sliver cannot win by chance
    (if none is big enough, the largest is used).

    Args:
        image: (z, y, x) LGE signal.
        myocardium: (z, y, x) boolean LV myocardium.
        lv_cavity: optional LV cavity mask (sets the sector centre).
        scope: "slice" (a remote sector in every slice) or "volume" (one).
        n_sectors: sectors per slice (6 = the AHA basal/mid walls).
        min_voxels: smallest sector considered.

    Returns:
        Boolean (z, y, x) mask of the remote region.
    """
    image = np.asarray(image, dtype=float)
    myocardium = np.asarray(myocardium, dtype=bool)
    if not myocardium.any():
        raise UsageError("cannot choose remote myocardium: the myocardium mask is empty")
    if n_sectors < 1:
        raise UsageError(f"n_sectors must be >= 1, got {n_sectors}")
    _check_scope(scope)
    cavity = None if lv_cavity is None else np.asarray(lv_cavity, dtype=bool)
    index = _sector_index(myocardium, cavity, n_sectors)
    inside = index >= 0
    counts = np.bincount(index[inside], minlength=index.max() + 1)
    sums = np.bincount(index[inside], weights=image[inside], minlength=index.max() + 1)
    present = np.flatnonzero(counts)
    if scope == "volume":
        return index == _lowest_mean(counts, sums, present, min_voxels)
    chosen = [_lowest_mean(counts, sums, ids, min_voxels) for ids in _group_by_slice(present, n_sectors)]
    return np.isin(index, chosen)


def _group_by_slice(ids: np.ndarray, n_sectors: int) -> list[np.ndarray]:
    slices = ids // n_sectors
    return [ids[slices == z] for z in np.unique(slices)]


def _check_scope(scope: str) -> None:
    if scope not in ("slice", "volume"):
        raise UsageError(f"threshold scope must be 'slice' or 'volume', got {scope!r}")


def nsd_threshold(
    image: np.ndarray, remote: np.ndarray, n_sd: float = DEFAULT_N_SD, *, slice_index: int | None = None
) -> SignalThreshold:
    """n-SD threshold ``T = mean_remote + n * SD_remote`` (METHODS.md §3; SD with ddof=1).

    Raises:
        UsageError: n_sd not positive, or fewer than 2 remote voxels.
    """
    n_sd = float(n_sd)
    if not np.isfinite(n_sd) or n_sd <= 0:
        raise UsageError(f"n_sd must be a positive number, got {n_sd}")
    values = np.asarray(image, dtype=float)[np.asarray(remote, dtype=bool)]
    if values.size < 2:
        raise UsageError(f"the remote region needs at least 2 voxels, got {values.size}")
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    return SignalThreshold(
        value=mean + n_sd * sd,
        method="nsd",
        slice_index=slice_index,
        n_sd=n_sd,
        remote_mean=mean,
        remote_sd=sd,
        remote_voxels=int(values.size),
    )


def fwhm_threshold(
    image: np.ndarray, enhanced: np.ndarray, *, floor: float | None = None, slice_index: int | None = None
) -> SignalThreshold:
    """Full-width-at-half-maximum threshold ``T = 0.5 * max signal in the enhanced region`` (Amado 2004).

    Args:
        image: LGE signal.
        enhanced: the enhanced (hyperintense) region whose maximum sets T.
        floor: optional lower bound on T (see :func:`lge_thresholds`).
        slice_index: recorded in the result.

    Raises:
        UsageError: the enhanced region is empty.
    """
    values = np.asarray(image, dtype=float)[np.asarray(enhanced, dtype=bool)]
    if values.size == 0:
        raise UsageError("the enhanced region for FWHM is empty")
    peak = float(values.max())
    value = 0.5 * peak if floor is None else max(0.5 * peak, float(floor))
    return SignalThreshold(
        value=value, method="fwhm", slice_index=slice_index, max_signal=peak, enhanced_voxels=int(values.size)
    )


def lge_thresholds(
    image: np.ndarray,
    myocardium: np.ndarray,
    *,
    method: Literal["nsd", "fwhm"] = "nsd",
    n_sd: float = DEFAULT_N_SD,
    remote: np.ndarray | None = None,
    enhanced: np.ndarray | None = None,
    lv_cavity: np.ndarray | None = None,
    scope: ThresholdScope = "slice",
    min_island_voxels: int = DEFAULT_MIN_ISLAND_VOXELS,
    connectivity: int = 3,
) -> tuple[SignalThreshold, ...]:
    """Signal thresholds for LGE scar, one per slice with myocardium (``scope="slice"``) or one for the stack.

    Per-slice thresholds follow the usual practice of a remote ROI in every
    slice and absorb slice-to-slice intensity differences (coil sensitivity,
    per-slice rescaling in exported images).

    - n-SD: ``mean + n_sd * SD`` of the remote region (given, or
      :func:`remote_myocardium`); with ``scope="slice"``, a slice holding
      fewer than :data:`MIN_REMOTE_VOXELS` remote voxels (apical slices) uses
      the remote region of all slices.
    - FWHM: ``0.5 * max`` of the enhanced region (given, or the myocardium
      above the remote mean + 2 SD after island removal: Amado's
      operator-drawn region, automated). T is floored at that 2SD screen:
      where there is little or no enhancement, half its maximum falls into
      the noise of normal myocardium. A slice (or stack) with no enhanced
      voxels gets T = +inf (no scar).

    Returns:
        Thresholds in slice order (``slice_index`` set), or a single one (``slice_index`` None).
    """
    image = np.asarray(image, dtype=float)
    myocardium = np.asarray(myocardium, dtype=bool)
    _check_scope(scope)
    if method not in ("nsd", "fwhm"):
        raise UsageError(f"unknown threshold method {method!r}; expected 'nsd' or 'fwhm'")
    remote_mask = (
        remote_myocardium(image, myocardium, lv_cavity, scope=scope) if remote is None else np.asarray(remote, bool)
    )
    n_screen = n_sd if method == "nsd" else DEFAULT_FWHM_SCREEN_N_SD
    if scope == "volume":
        stats = [nsd_threshold(image, remote_mask, n_screen)]
    else:
        stats = []
        for z in np.flatnonzero(myocardium.any(axis=(1, 2))):
            in_slice = np.zeros_like(remote_mask)
            in_slice[z] = remote_mask[z]
            use = in_slice if np.count_nonzero(in_slice) >= MIN_REMOTE_VOXELS else remote_mask
            stats.append(nsd_threshold(image, use, n_screen, slice_index=int(z)))
    if method == "nsd":
        return tuple(stats)

    if enhanced is None:
        screen = threshold_by_slice(stats, image.shape[0])
        region = myocardium & (image > screen[:, None, None])
        region = remove_small_islands(region, min_island_voxels, connectivity=connectivity)
    else:
        region = np.asarray(enhanced, dtype=bool) & myocardium
    out = []
    for s in stats:
        where = region if s.slice_index is None else _only_slice(region, s.slice_index)
        floor = s.value if enhanced is None else None
        if where.any():
            t = fwhm_threshold(image, where, floor=floor, slice_index=s.slice_index)
        else:
            t = SignalThreshold(value=float("inf"), method="fwhm", slice_index=s.slice_index, enhanced_voxels=0)
        out.append(replace(t, remote_mean=s.remote_mean, remote_sd=s.remote_sd, remote_voxels=s.remote_voxels))
    return tuple(out)


def _only_slice(mask: np.ndarray, z: int) -> np.ndarray:
    out = np.zeros_like(mask)
    out[z] = mask[z]
    return out


def threshold_by_slice(thresholds: tuple[SignalThreshold, ...] | list[SignalThreshold], n_slices: int) -> np.ndarray:
    """(z,) array of the threshold applying to each slice (+inf where none was set)."""
    out = np.full(n_slices, np.inf)
    for t in thresholds:
        if t.slice_index is None:
            out[:] = t.value
    for t in thresholds:
        if t.slice_index is not None:
            out[t.slice_index] = t.value
    return out


def threshold_scar(
    image: np.ndarray,
    myocardium: np.ndarray,
    threshold: float | np.ndarray,
    *,
    min_island_voxels: int = DEFAULT_MIN_ISLAND_VOXELS,
    connectivity: int = 3,
    include_mvo: bool = True,
    lv_cavity: np.ndarray | None = None,
    mvo_mask: np.ndarray | None = None,
) -> ScarMask:
    """Scar = myocardium above ``threshold``, small islands dropped, MVO core added.

    Args:
        image: (z, y, x) LGE signal.
        myocardium: boolean LV myocardium; nothing outside it is scar.
        threshold: signal level (image units), one number or one per slice
            (shape (z,)); voxels strictly above it enhance.
        min_island_voxels: components smaller than this are dropped (3-D, ``connectivity``).
        include_mvo: add the dark core enclosed by scar (:func:`enclosed_dark_core`).
        lv_cavity: cavity mask for the MVO test (None derives it).
        mvo_mask: MVO drawn by hand or a model; counted as scar inside the myocardium.
    """
    image = np.asarray(image, dtype=float)
    myocardium = np.asarray(myocardium, dtype=bool)
    level = np.asarray(threshold, dtype=float)
    if level.ndim == 1:
        if level.shape[0] != image.shape[0]:
            raise UsageError(f"{level.shape[0]} per-slice thresholds for {image.shape[0]} slices")
        level = level[:, None, None]
    scar = myocardium & (image > level)
    if mvo_mask is not None:
        scar |= np.asarray(mvo_mask, dtype=bool) & myocardium
    small, n_small = _small_components(scar, int(min_island_voxels), connectivity)
    scar &= ~small
    mvo = np.zeros_like(scar)
    if mvo_mask is not None:
        mvo |= np.asarray(mvo_mask, dtype=bool) & scar
    if include_mvo:
        mvo |= enclosed_dark_core(scar, myocardium, lv_cavity)
    return ScarMask(
        scar=scar | mvo, mvo=mvo, islands_removed=n_small, island_voxels_removed=int(np.count_nonzero(small))
    )


# --- measurement ----------------------------------------------------------------------


def segment_scar_pct(scar: np.ndarray, segments: np.ndarray) -> dict[int, float | None]:
    """AHA segment (1-17) -> scar voxels / segment voxels x 100 (None for a segment with no voxels)."""
    segments = np.asarray(segments)
    scar = np.asarray(scar, dtype=bool)
    out: dict[int, float | None] = {}
    for s in AHA_SEGMENTS:
        in_segment = segments == s
        n = int(np.count_nonzero(in_segment))
        out[s] = None if n == 0 else 100.0 * np.count_nonzero(scar & in_segment) / n
    return out


def quantify_scar(
    scar: np.ndarray,
    myocardium: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float] | None = None,
    mvo: np.ndarray | None = None,
    segments: np.ndarray | None = None,
    method: str = "mask",
    source: str = "<memory>",
    **details: Any,
) -> LGEMeasurements:
    """Scar volume, myocardial volume, %LGE and per-segment scar % from masks.

    The common end of every LGE path (labels, n-SD, FWHM, a model's mask).
    Scar is clipped to the myocardium; MVO counts as scar.

    Args:
        scar, myocardium: (z, y, x) boolean masks.
        spacing_mm: (z, y, x) voxel spacing in mm, or None when unknown (then
            volumes are None and only voxel counts are reported).
        mvo: optional MVO mask (added to scar).
        segments: optional AHA map (0 outside, 1-17 inside the myocardium).
        method: recorded in the result.
        source: names the study in error messages.
        details: further :class:`LGEMeasurements` fields (threshold, notes...).

    Raises:
        MissingDataError: the myocardium mask is empty.
        InconsistentGeometryError: masks of different shapes.
    """
    myocardium = np.asarray(myocardium, dtype=bool)
    shape = myocardium.shape
    scar = _as_mask(scar, shape, source, "scar mask") & myocardium
    mvo_mask = np.zeros(shape, dtype=bool) if mvo is None else _as_mask(mvo, shape, source, "MVO mask") & myocardium
    scar |= mvo_mask
    n_myo = int(np.count_nonzero(myocardium))
    if n_myo == 0:
        raise MissingDataError(source, "the myocardium mask is empty; %LGE is undefined")
    n_scar = int(np.count_nonzero(scar))
    n_mvo = int(np.count_nonzero(mvo_mask))
    pct = 100.0 * n_scar / n_myo
    voxel_ml = None if spacing_mm is None else float(np.prod(spacing_mm)) / 1000.0
    segment_pct: dict[int, float | None] = {}
    segment_voxels: dict[int, int] = {}
    if segments is not None:
        segment_map = _as_segments(segments, shape, source)
        segment_pct = segment_scar_pct(scar, segment_map)
        segment_voxels = {s: int(np.count_nonzero(segment_map == s)) for s in AHA_SEGMENTS}
    return LGEMeasurements(
        method=method,
        scar_voxels=n_scar,
        mvo_voxels=n_mvo,
        myocardium_voxels=n_myo,
        pct_lge=pct,
        burden_over_15pct=bool(pct >= LGE_BURDEN_CUTOFF_PCT),
        spacing_known=voxel_ml is not None,
        voxel_volume_ml=voxel_ml,
        scar_volume_ml=None if voxel_ml is None else n_scar * voxel_ml,
        mvo_volume_ml=None if voxel_ml is None else n_mvo * voxel_ml,
        myocardium_volume_ml=None if voxel_ml is None else n_myo * voxel_ml,
        segment_pct_lge=segment_pct,
        segment_myocardium_voxels=segment_voxels,
        **details,
    )


def _as_segments(segments: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    array = np.asarray(segments)
    if array.shape != shape:
        raise InconsistentGeometryError(source, f"AHA segment map shape {array.shape} != image shape {shape}")
    return array


def myocardium_from_labels(volume: CMRVolume) -> np.ndarray:
    """LV myocardium of a labelled volume (LGE: 2+3+4; map: 2+3; cine: 2).

    Raises:
        MissingDataError: the volume has no labels, or an unknown label scheme.
    """
    if volume.labels is None:
        raise MissingDataError(volume.source, "no myocardium mask: the volume has no labels and none was given")
    if volume.label_scheme not in _MYOCARDIUM_LABELS:
        raise MissingDataError(
            volume.source, f"label scheme {volume.label_scheme!r} has no known myocardium labels; pass myocardium="
        )
    return np.isin(volume.labels, _MYOCARDIUM_LABELS[volume.label_scheme])


def lv_cavity_from_labels(volume: CMRVolume) -> np.ndarray | None:
    """LV cavity of a labelled volume (label 1 in the LGE and map schemes, 3 in cine), or None."""
    if volume.labels is None or volume.label_scheme not in _CAVITY_LABEL:
        return None
    cavity = volume.labels == _CAVITY_LABEL[volume.label_scheme]
    return cavity if cavity.any() else None


def aha_segments_without_rv(
    myocardium: np.ndarray,
    lv_cavity: np.ndarray | None,
    *,
    base_to_apex: bool = True,
    septal_angles_rad: float | Sequence[float | None] | None = None,
    clockwise: bool | None = None,
    affine: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """AHA 17-segment map of an LGE stack (no RV label) and a note on how it is oriented.

    Uses :func:`cardiolens.measure.aha.aha_segment_map`. LGE carries no RV
    mask, so unless ``septal_angles_rad`` is given the septum is assumed on
    the image left (the aha default, usual display), and the handedness comes
    is ``clockwise`` when given, else from the affine when it is a real
    patient orientation, else the standard display is assumed; the returned
    note says which.
    """
    from cardiolens.measure import aha  # sibling measurement, imported where needed

    cavity = lv_cavity_from_myocardium(myocardium) if lv_cavity is None else lv_cavity
    segments = aha.aha_segment_map(
        myocardium,
        cavity,
        None,
        base_to_apex=base_to_apex,
        septal_angles_rad=septal_angles_rad,
        clockwise=clockwise,
        affine=affine,
    )
    if septal_angles_rad is None:
        parts = ["septum ASSUMED on the image left (no RV label; aha default)"]
    else:
        parts = ["septum from the given septal angles"]
    if clockwise is not None:
        parts.append("handedness given")
    elif affine is not None and aha.clockwise_from_affine(affine, base_to_apex=base_to_apex) is not None:
        parts.append("handedness from the affine")
    else:
        parts.append("handedness ASSUMED (standard display)")
    parts.append("slices base to apex" if base_to_apex else "slices apex to base")
    return np.asarray(segments), "; ".join(parts)


def _lv_box(mask: np.ndarray, margin: int = 2) -> tuple[slice, slice, slice]:
    """All slices, and the in-plane bounding box of ``mask`` grown by ``margin`` pixels."""
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    cols = np.flatnonzero(mask.any(axis=(0, 1)))
    ny, nx = mask.shape[1:]
    return (
        slice(None),
        slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, ny)),
        slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, nx)),
    )


def measure_lge(
    volume: CMRVolume,
    *,
    myocardium: np.ndarray | None = None,
    scar_mask: np.ndarray | None = None,
    method: LGEMethod = "nsd",
    n_sd: float = DEFAULT_N_SD,
    remote: np.ndarray | None = None,
    enhanced: np.ndarray | None = None,
    scope: ThresholdScope = "slice",
    mvo_mask: np.ndarray | None = None,
    min_island_voxels: int | None = None,
    connectivity: int = 3,
    include_mvo: bool = True,
    segments: bool | np.ndarray = True,
    base_to_apex: bool | None = None,
    septal_angles_rad: float | Sequence[float | None] | None = None,
    clockwise: bool | None = None,
) -> LGEMeasurements:
    """Quantify LGE scar of one study by n-SD, FWHM or its label masks.

    Methods (module docstring; METHODS.md §3):

    - ``"nsd"``: T = mean + ``n_sd`` x SD of ``remote`` (default: the
      automatic lowest-mean sector, :func:`remote_myocardium`).
    - ``"fwhm"``: T = 0.5 x max signal of ``enhanced`` (see
      :func:`lge_thresholds` for the automatic enhanced region and the 2SD
      floor). FWHM assumes nulled remote myocardium (signal near zero): on
      images with a large intensity offset half the maximum falls below the
      floor and FWHM reduces to 2SD.
    - ``"labels"``: scar = ``scar_mask`` if given, else labels 3 + 4 (LGE scheme).

    Args:
        volume: LGE volume (z, y, x); spacing is used only when ``spacing_known``.
        myocardium: LV myocardium mask; default from ``volume.labels``.
        scar_mask: a scar mask to measure as is (manual or model output).
        method: "nsd", "fwhm" or "labels".
        n_sd: n of the n-SD rule (2, 3, 5 or 6 in the literature).
        remote: remote-myocardium mask (n-SD, FWHM screen); default automatic.
        enhanced: enhanced region for FWHM; default automatic (above).
        scope: "slice" (default: remote ROI and threshold per slice, robust to
            slice-to-slice intensity scaling) or "volume" (one threshold).
        mvo_mask: MVO mask counted as scar (threshold methods).
        min_island_voxels: island size limit; default 10 for thresholds, 0
            (keep everything) for label masks, which are taken as drawn.
        connectivity: 3-D connectivity of islands (1, 2 or 3 = 26-neighbour).
        include_mvo: threshold methods add the enclosed dark core as MVO.
        segments: True computes AHA segments with
            :func:`cardiolens.measure.aha.aha_segment_map`, False skips them,
            or an AHA map (0 outside, 1-17) to use as is.
        base_to_apex: slice order; None reads ``metadata["slice_order"]``
            ("base_to_apex" / "apex_to_base"), else assumes base to apex (noted).
        septal_angles_rad: septal direction(s) for the segments, image
            ``atan2(dy, dx)`` as in :mod:`cardiolens.measure.aha`; None
            assumes the septum on the image left (LGE has no RV label) and
            ``segment_orientation`` says so.
        clockwise: image handedness for the segments (see
            :mod:`cardiolens.measure.aha`); None derives it from the affine
            when that carries a real orientation. Simulated volumes
            (:mod:`cardiolens.synth`) have mirror-image affines: pass False.

    Raises:
        MissingDataError: no myocardium (or no labels for "labels"), or an empty myocardium.
        InconsistentGeometryError: a mask whose shape differs from the image.
        UsageError: unknown method or bad parameters.
    """
    if method not in ("nsd", "fwhm", "labels"):
        raise UsageError(f"unknown LGE method {method!r}; expected 'nsd', 'fwhm' or 'labels'")
    shape = volume.image.shape
    source = volume.source
    myo = (
        myocardium_from_labels(volume) if myocardium is None else _as_mask(myocardium, shape, source, "myocardium mask")
    )
    if not myo.any():
        raise MissingDataError(source, "the myocardium mask is empty; %LGE is undefined")
    cavity = lv_cavity_from_labels(volume)
    notes: list[str] = []
    details: dict[str, Any] = {}
    image = np.asarray(volume.image, dtype=float)
    mvo_given = None if mvo_mask is None else _as_mask(mvo_mask, shape, source, "MVO mask")

    if method == "labels":
        if scar_mask is not None:
            scar = _as_mask(scar_mask, shape, source, "scar mask")
            mvo = mvo_given
            method_name = "mask"
        else:
            if volume.labels is None or volume.label_scheme != "lge":
                raise MissingDataError(source, "method 'labels' needs LGE labels (scheme 'lge') or a scar_mask")
            scar = np.isin(volume.labels, (LGE_LABELS["infarct"], LGE_LABELS["mvo"]))
            mvo = volume.labels == LGE_LABELS["mvo"]
            method_name = "labels"
        min_islands = 0 if min_island_voxels is None else int(min_island_voxels)
        small, n_small = _small_components(scar & myo, min_islands, connectivity)
        scar = scar & ~small
        mvo = None if mvo is None else mvo & ~small
        details.update(islands_removed=n_small, island_voxels_removed=int(np.count_nonzero(small)))
    else:
        method_name = method
        min_islands = DEFAULT_MIN_ISLAND_VOXELS if min_island_voxels is None else int(min_island_voxels)
        remote_mask = None if remote is None else _as_mask(remote, shape, source, "remote mask")
        enhanced_mask = None if enhanced is None else _as_mask(enhanced, shape, source, "enhanced mask")
        # Work on the LV's bounding box: the answer is the same, the image around it is only cost.
        box = _lv_box(myo if cavity is None else myo | cavity)

        def crop(mask: np.ndarray | None) -> np.ndarray | None:
            return None if mask is None else mask[box]

        thresholds = lge_thresholds(
            image[box],
            myo[box],
            method=method,
            n_sd=n_sd,
            remote=crop(remote_mask),
            enhanced=crop(enhanced_mask),
            lv_cavity=crop(cavity),
            scope=scope,
            min_island_voxels=min_islands,
            connectivity=connectivity,
        )
        if remote_mask is None:
            per = "per slice" if scope == "slice" else "over the stack"
            details["remote_source"] = f"auto: lowest-mean of {DEFAULT_REMOTE_SECTORS} sectors per slice, chosen {per}"
        else:
            details["remote_source"] = "given"
        if method == "fwhm" and enhanced_mask is None:
            notes.append(
                f"FWHM enhanced region: myocardium above remote mean + {DEFAULT_FWHM_SCREEN_N_SD:g} SD; "
                "threshold floored there"
            )
        if any(math.isinf(t.value) for t in thresholds):
            notes.append("FWHM: no enhanced myocardium in some slice(s) (threshold null there, no scar)")
        result = threshold_scar(
            image[box],
            myo[box],
            threshold_by_slice(thresholds, shape[0]),
            min_island_voxels=min_islands,
            connectivity=connectivity,
            include_mvo=include_mvo,
            lv_cavity=crop(cavity),
            mvo_mask=crop(mvo_given),
        )
        scar, mvo = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        scar[box], mvo[box] = result.scar, result.mvo
        details.update(
            n_sd=float(n_sd) if method == "nsd" else None,
            threshold_scope=scope,
            thresholds=thresholds,
            islands_removed=result.islands_removed,
            island_voxels_removed=result.island_voxels_removed,
        )

    segment_map = None
    if isinstance(segments, np.ndarray):
        segment_map = _as_segments(segments, shape, source)
        details["segment_orientation"] = "given: AHA segment map supplied by the caller"
    elif segments:
        order = base_to_apex
        if order is None:
            slice_order = volume.metadata.get("slice_order")
            order = slice_order != "apex_to_base"
            if slice_order not in ("base_to_apex", "apex_to_base"):
                notes.append("slice order unknown: assumed base to apex for the AHA segments")
        try:
            segment_map, orientation = aha_segments_without_rv(
                myo,
                cavity,
                base_to_apex=order,
                septal_angles_rad=septal_angles_rad,
                clockwise=clockwise,
                affine=volume.affine,
            )
            details["segment_orientation"] = orientation
        except UsageError as exc:  # e.g. no LV cavity anywhere: the global numbers still stand
            notes.append(f"AHA segments not computed: {exc}")
    if not volume.spacing_known:
        notes.append("voxel spacing unknown: volumes in voxels only, mL fields are null")
    return quantify_scar(
        scar,
        myo,
        spacing_mm=volume.spacing_mm if volume.spacing_known else None,
        mvo=mvo,
        segments=segment_map,
        method=method_name,
        source=source,
        min_island_voxels=min_islands,
        notes=tuple(notes),
        **details,
    )
