"""Cine CMR measurements: volumes, EF, LV mass, AHA wall thickness, volume-time curves.

Methods (``METHODS.md`` section 2):

- **Volumes** by disc summation, ``V = sum_k A_k * slice spacing`` with the
  slice spacing the centre-to-centre distance (thickness + gap), i.e. voxel
  count x voxel volume (SCMR post-processing 2020,
  doi:10.1186/s12968-020-00610-6). Papillary muscles count as cavity when the
  masks label them so (ACDC). ``EF = (EDV - ESV) / EDV x 100``.
- **LV mass** = 1.05 g/mL x myocardial volume at ED.
- **BSA** by Mosteller, ``sqrt(height_cm x weight_kg / 3600)`` m^2; indexed
  values divide by it.
- **Wall thickness** (ukbb_cardiac style): for every endocardial boundary
  point, the in-plane distance to the nearest epicardial boundary point, with
  both boundaries on pixel edges. On the pixel grid this is the distance from
  the centre of each myocardium pixel 4-adjacent to the cavity to the centre
  of the nearest pixel outside the LV (neither cavity nor myocardium): a wall
  k pixels thick measures k pixel spacings. Reported at ED as mean and max
  per AHA segment (:mod:`cardiolens.measure.aha`) and overall. HCM:
  >= 15 mm.
- **Volume-time curves** from masks on every frame, smoothed by a truncated
  Fourier series (:func:`cardiolens.measure.fourier.fit_periodic`, default 10
  harmonics) whose analytic derivative gives the peak ejection rate, the peak
  early (E) filling rate and, when diastole shows a second peak, the peak
  atrial (A) filling rate.

Units: every volume is in mL only when the voxel spacing is known
(``spacing_known``); otherwise the ``*_ml``/``*_g`` fields are None and the
``*_voxels`` counts are the measurement (never mL from a placeholder
spacing). EF and ratios are spacing-invariant and always reported.
Label convention: :data:`cardiolens.data.labels.CINE_LABELS` (1 RV cavity,
2 LV myocardium, 3 LV cavity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from scipy import ndimage, signal

from cardiolens.data.cine import CineCMR
from cardiolens.data.labels import CINE_LABELS
from cardiolens.errors import (
    CorruptFileError,
    InconsistentGeometryError,
    MissingDataError,
    UsageError,
)
from cardiolens.measure.aha import aha_segment_map, clockwise_from_affine
from cardiolens.measure.fourier import fit_periodic

#: Myocardial density (g/mL) used for LV mass.
MYOCARDIAL_DENSITY_G_PER_ML: Final[float] = 1.05
#: Default number of Fourier harmonics for volume-time curves (METHODS.md: 8-10).
DEFAULT_HARMONICS: Final[int] = 10
#: A diastolic filling peak counts when its prominence is at least this fraction of the largest filling rate.
FILLING_PEAK_PROMINENCE: Final[float] = 0.1
#: AHA segments that have an endocardium (17, the apical cap, has none).
WALL_SEGMENTS: Final[tuple[int, ...]] = tuple(range(1, 17))

_RV, _MYO, _LV = CINE_LABELS["rv_cavity"], CINE_LABELS["lv_myocardium"], CINE_LABELS["lv_cavity"]
_FOUR_NEIGHBOURS = ndimage.generate_binary_structure(2, 1)
_CURVE_SAMPLES = 2048

Phases = Literal["container", "volume"]


# --------------------------------------------------------------------------- small helpers


def bsa_mosteller_m2(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m^2) by Mosteller: ``sqrt(height_cm * weight_kg / 3600)``.

    Raises:
        UsageError: a height or weight that is not a positive finite number.
    """
    for name, value in (("height_cm", height_cm), ("weight_kg", weight_kg)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or not (
            math.isfinite(float(value)) and float(value) > 0
        ):
            raise UsageError(f"{name} must be a positive number, got {value!r}")
    return math.sqrt(float(height_cm) * float(weight_kg) / 3600.0)


def ejection_fraction_pct(edv: float, esv: float) -> float | None:
    """``(EDV - ESV) / EDV x 100`` in %, any volume unit; None when EDV is 0."""
    return None if edv <= 0 else 100.0 * (edv - esv) / edv


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return float(numerator) / float(denominator)


# --------------------------------------------------------------------------- wall thickness


def _bounding_box(mask_yx: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Slices of the box around ``mask_yx`` grown by ``margin`` pixels (clipped to the image)."""
    rows, cols = np.any(mask_yx, axis=1), np.any(mask_yx, axis=0)
    r0, r1 = np.flatnonzero(rows)[[0, -1]]
    c0, c1 = np.flatnonzero(cols)[[0, -1]]
    return (
        slice(max(r0 - margin, 0), min(r1 + margin + 1, mask_yx.shape[0])),
        slice(max(c0 - margin, 0), min(c1 + margin + 1, mask_yx.shape[1])),
    )


@dataclass(frozen=True)
class WallThickness:
    """LV wall thickness at one frame, overall and per AHA segment.

    Attributes:
        unit: "mm" (real spacing) or "px" (pixel units, isotropic).
        max, mean: over every endocardial boundary point of the stack.
        segment_mean, segment_max: AHA segment 1..16 -> value (None when the
            segment has no endocardial point, e.g. outside the imaged stack).
        n_points: endocardial boundary points measured.
    """

    unit: Literal["mm", "px"]
    max: float | None
    mean: float | None
    segment_mean: dict[int, float | None]
    segment_max: dict[int, float | None]
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        u = self.unit
        out: dict[str, Any] = {f"max_wall_thickness_{u}": self.max, f"mean_wall_thickness_{u}": self.mean}
        for seg in WALL_SEGMENTS:
            out[f"wall_thickness_seg{seg:02d}_mean_{u}"] = self.segment_mean.get(seg)
            out[f"wall_thickness_seg{seg:02d}_max_{u}"] = self.segment_max.get(seg)
        return out


def wall_thickness(
    lv_cavity_zyx: np.ndarray,
    myocardium_zyx: np.ndarray,
    segments_zyx: np.ndarray | None = None,
    *,
    spacing_yx_mm: tuple[float, float] | None = None,
) -> WallThickness:
    """Wall thickness (ukbb_cardiac style, see module docstring) of one frame.

    Args:
        lv_cavity_zyx, myocardium_zyx: boolean masks (z, y, x).
        segments_zyx: AHA map from :func:`~cardiolens.measure.aha.aha_segment_map`
            (0 outside the myocardium); None gives only the overall values.
        spacing_yx_mm: in-plane spacing; None measures in pixels (unit "px").

    Only slices holding LV cavity have an endocardium; the image border counts
    as outside the LV.
    """
    cavity = np.asarray(lv_cavity_zyx, dtype=bool)
    myo = np.asarray(myocardium_zyx, dtype=bool)
    if cavity.shape != myo.shape or cavity.ndim != 3:
        raise UsageError(f"wall_thickness needs two 3-D masks of one shape, got {cavity.shape} and {myo.shape}")
    if segments_zyx is not None and np.shape(segments_zyx) != cavity.shape:
        raise UsageError(f"segment map shape {np.shape(segments_zyx)} differs from the masks {cavity.shape}")
    sampling = (1.0, 1.0) if spacing_yx_mm is None else (float(spacing_yx_mm[0]), float(spacing_yx_mm[1]))
    values: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for z in range(cavity.shape[0]):
        if not cavity[z].any() or not myo[z].any():
            continue
        # Work on the LV box plus a 1-pixel margin: clamping any outside pixel onto that
        # margin only brings it closer, so the nearest-outside distances are unchanged.
        box = _bounding_box(cavity[z] | myo[z], margin=1)
        cav, wall = cavity[z][box], myo[z][box]
        inside = np.pad(cav | wall, 1)  # the image border counts as outside
        distance = ndimage.distance_transform_edt(inside, sampling=sampling)[1:-1, 1:-1]
        endocardium = wall & ndimage.binary_dilation(cav, structure=_FOUR_NEIGHBOURS)
        if endocardium.any():
            values.append(distance[endocardium])
            if segments_zyx is not None:
                labels.append(np.asarray(segments_zyx[z])[box][endocardium])
    thickness = np.concatenate(values) if values else np.zeros(0)
    segment_mean: dict[int, float | None] = {}
    segment_max: dict[int, float | None] = {}
    if segments_zyx is not None:
        segment_of = np.concatenate(labels) if labels else np.zeros(0, dtype=int)
        for seg in WALL_SEGMENTS:
            chosen = thickness[segment_of == seg]
            segment_mean[seg] = float(chosen.mean()) if chosen.size else None
            segment_max[seg] = float(chosen.max()) if chosen.size else None
    return WallThickness(
        unit="px" if spacing_yx_mm is None else "mm",
        max=float(thickness.max()) if thickness.size else None,
        mean=float(thickness.mean()) if thickness.size else None,
        segment_mean=segment_mean,
        segment_max=segment_max,
        n_points=int(thickness.size),
    )


# --------------------------------------------------------------------------- volume-time curves


@dataclass(frozen=True, eq=False)
class VolumeCurve:
    """A ventricular volume-time curve over one cycle and its Fourier-smoothed rates.

    Attributes:
        ventricle: "lv" or "rv".
        volume_unit: "mL" (spacing known) or "voxels".
        volumes: per-frame volumes (in ``volume_unit``), shape (t,).
        fitted: the Fourier fit evaluated at the frames, shape (t,).
        frame_times_ms: frame times after the R wave, or None (frames then
            assumed equally spaced over the cycle).
        rr_interval_ms: cycle length, or None without trigger times.
        n_harmonics: harmonics actually fitted (clipped to (t - 1) // 2).
        edv: the ED-frame volume that normalises the rates (``volume_unit``).
        es_phase_fraction: time of the fitted minimum after ED, fraction of the cycle.
        peak_ejection_rate, peak_early_filling_rate, peak_atrial_filling_rate:
            peak -dV/dt in systole and the first and last diastolic peaks of
            dV/dt, in ``volume_unit`` per cycle (positive numbers); the atrial
            peak is None when diastole shows one filling peak only.
    """

    ventricle: str
    volume_unit: Literal["mL", "voxels"]
    volumes: np.ndarray
    fitted: np.ndarray
    frame_times_ms: np.ndarray | None
    rr_interval_ms: float | None
    n_harmonics: int
    edv: float
    es_phase_fraction: float
    peak_ejection_rate: float
    peak_early_filling_rate: float | None
    peak_atrial_filling_rate: float | None

    @property
    def rates_in_ml_s(self) -> bool:
        """True when the rates can be given in mL/s (spacing and trigger times known)."""
        return self.volume_unit == "mL" and self.rr_interval_ms is not None

    def rate(self, name: str, unit: Literal["mL/s", "EDV/s", "EDV/cycle"]) -> float | None:
        """One rate ("peak_ejection_rate", ...) in ``unit``; None when that unit is unavailable."""
        per_cycle = getattr(self, name)
        if per_cycle is None:
            return None
        if unit == "EDV/cycle":
            return _ratio(per_cycle, self.edv)
        if self.rr_interval_ms is None:
            return None
        rr_s = self.rr_interval_ms / 1000.0
        if unit == "EDV/s":
            value = _ratio(per_cycle, self.edv)
            return None if value is None else value / rr_s
        if unit == "mL/s":
            return per_cycle / rr_s if self.volume_unit == "mL" else None
        raise UsageError(f"unknown rate unit {unit!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("peak_ejection_rate", "peak_early_filling_rate", "peak_atrial_filling_rate"):
            key = f"{self.ventricle}_{name}"
            out[f"{key}_ml_s"] = self.rate(name, "mL/s")
            out[f"{key}_edv_s"] = self.rate(name, "EDV/s")
            out[f"{key}_edv_cycle"] = self.rate(name, "EDV/cycle")
        out[f"{self.ventricle}_es_phase_pct_cycle"] = 100.0 * self.es_phase_fraction
        return out


def volume_curve(
    volumes: np.ndarray,
    *,
    ventricle: str = "lv",
    volume_unit: Literal["mL", "voxels"] = "mL",
    frame_times_ms: np.ndarray | None = None,
    rr_interval_ms: float | None = None,
    ed_frame: int = 0,
    n_harmonics: int = DEFAULT_HARMONICS,
) -> VolumeCurve:
    """Fit a periodic Fourier series to per-frame volumes and find the peak rates.

    The series (least squares, :func:`~cardiolens.measure.fourier.fit_periodic`)
    is differentiated analytically on a fine grid over one cycle starting at
    the ED frame; systole runs from ED to the fitted minimum. Diastolic peaks
    of dV/dt need a prominence of 10 % of the largest filling rate.

    Args:
        volumes: one volume per frame over one cycle (>= 3 frames).
        frame_times_ms, rr_interval_ms: frame times after the R wave and the
            cycle length (both or neither); without them frames are equally
            spaced and rates are per cycle only.
        ed_frame: index of the ED frame (start of systole).
        n_harmonics: Fourier harmonics (clipped to what the frames determine).
    """
    v = np.asarray(volumes, dtype=float)
    if v.ndim != 1 or v.size < 3:
        raise UsageError(f"a volume curve needs at least 3 frames, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise UsageError("volume curve holds NaN/Inf")
    if not 0 <= ed_frame < v.size:
        raise UsageError(f"ed_frame {ed_frame} outside 0..{v.size - 1}")
    if (frame_times_ms is None) != (rr_interval_ms is None):
        raise UsageError("give both frame_times_ms and rr_interval_ms, or neither")
    if frame_times_ms is not None:
        times = np.asarray(frame_times_ms, dtype=float)
        period = float(rr_interval_ms)  # type: ignore[arg-type]
        if times.shape != v.shape:
            raise UsageError(f"{times.size} frame times for {v.size} volumes")
        if not (math.isfinite(period) and period > 0):
            raise UsageError(f"rr_interval_ms must be positive, got {rr_interval_ms!r}")
    else:
        times, period = np.arange(v.size) / v.size, 1.0
    fit = fit_periodic(v, n_harmonics, times=times, period=period)

    grid = times[ed_frame] + period * np.arange(_CURVE_SAMPLES) / _CURVE_SAMPLES
    fitted_grid = fit.evaluate(grid)
    rate = fit.derivative(grid) * period  # volume per cycle
    i_min = int(np.argmin(fitted_grid))
    ejection = float(np.max(-rate[: i_min + 1]))
    filling = rate[i_min:]
    early, atrial = _filling_peaks(filling)
    return VolumeCurve(
        ventricle=ventricle,
        volume_unit=volume_unit,
        volumes=v,
        fitted=fit.evaluate(times),
        frame_times_ms=None if frame_times_ms is None else times,
        rr_interval_ms=None if rr_interval_ms is None else period,
        n_harmonics=fit.n_harmonics,
        edv=float(v[ed_frame]),
        es_phase_fraction=i_min / _CURVE_SAMPLES,
        peak_ejection_rate=max(ejection, 0.0),
        peak_early_filling_rate=early,
        peak_atrial_filling_rate=atrial,
    )


def _filling_peaks(filling_rate: np.ndarray) -> tuple[float | None, float | None]:
    """(E, A) peaks of dV/dt over diastole: the first and last prominent maxima."""
    top = float(np.max(filling_rate)) if filling_rate.size else 0.0
    if top <= 0:
        return None, None
    peaks, _ = signal.find_peaks(filling_rate, prominence=FILLING_PEAK_PROMINENCE * top, height=0.0)
    if peaks.size == 0:  # monotonic: the maximum sits at an end of diastole
        return top, None
    early = float(filling_rate[peaks[0]])
    atrial = float(filling_rate[peaks[-1]]) if peaks.size > 1 else None
    return early, atrial


# --------------------------------------------------------------------------- top level


@dataclass(frozen=True, eq=False)
class CineMeasurements:
    """Volumes, function, mass, wall thickness and volume curves of one cine study.

    Voxel counts are always filled; ``*_ml``/``*_g`` values and the indexed
    values are None unless ``spacing_known`` (and height/weight for the
    indexed ones). Wall thickness is in pixels always and in mm when the
    spacing is known. ``to_dict()`` gives the flat JSON form with units in the
    key names.

    Attributes:
        subject_id: from the cine.
        spacing_known: whether mL/g values could be computed.
        ed_index, es_index: the frames used (0-based).
        phase_source: "container" or "volume" (ED = max / ES = min LV volume).
        voxel_volume_ml: None when the spacing is unknown.
        lv_edv_voxels ... rv_esv_voxels: voxel counts of the cavities at ED/ES
            (RV at the LV's ED/ES frames, as in ACDC).
        lv_myocardium_voxels: LV myocardium at ED.
        bsa_m2, height_cm, weight_kg: body size (Mosteller), when known.
        wall_thickness_mm, wall_thickness_px: at ED (mm only with known spacing).
        aha_orientation: how the AHA segments were oriented (septum and handedness).
        lv_curve, rv_curve: volume-time curves (None unless every frame is segmented).
        notes: what a reader of the numbers should know.
    """

    subject_id: str
    spacing_known: bool
    ed_index: int
    es_index: int
    phase_source: str
    n_frames: int
    n_frames_segmented: int
    voxel_volume_ml: float | None
    lv_edv_voxels: int
    lv_esv_voxels: int
    lv_myocardium_voxels: int
    rv_edv_voxels: int
    rv_esv_voxels: int
    height_cm: float | None = None
    weight_kg: float | None = None
    bsa_m2: float | None = None
    wall_thickness_mm: WallThickness | None = None
    wall_thickness_px: WallThickness | None = None
    lv_curve: VolumeCurve | None = None
    rv_curve: VolumeCurve | None = None
    aha_orientation: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def _ml(self, voxels: int) -> float | None:
        return None if self.voxel_volume_ml is None else voxels * self.voxel_volume_ml

    @property
    def lv_edv_ml(self) -> float | None:
        return self._ml(self.lv_edv_voxels)

    @property
    def lv_esv_ml(self) -> float | None:
        return self._ml(self.lv_esv_voxels)

    @property
    def lv_sv_ml(self) -> float | None:
        return self._ml(self.lv_edv_voxels - self.lv_esv_voxels)

    @property
    def lv_ef_pct(self) -> float | None:
        return ejection_fraction_pct(self.lv_edv_voxels, self.lv_esv_voxels)

    @property
    def lv_mass_g(self) -> float | None:
        volume = self._ml(self.lv_myocardium_voxels)
        return None if volume is None else MYOCARDIAL_DENSITY_G_PER_ML * volume

    @property
    def rv_edv_ml(self) -> float | None:
        return self._ml(self.rv_edv_voxels)

    @property
    def rv_esv_ml(self) -> float | None:
        return self._ml(self.rv_esv_voxels)

    @property
    def rv_sv_ml(self) -> float | None:
        return self._ml(self.rv_edv_voxels - self.rv_esv_voxels)

    @property
    def rv_ef_pct(self) -> float | None:
        return ejection_fraction_pct(self.rv_edv_voxels, self.rv_esv_voxels)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-able dict; keys carry units (``lv_edv_ml``, ``lv_massi_g_m2``, ``*_voxels``)."""
        ml = {
            "lv_edv_ml": self.lv_edv_ml,
            "lv_esv_ml": self.lv_esv_ml,
            "lv_sv_ml": self.lv_sv_ml,
            "lv_mass_g": self.lv_mass_g,
            "rv_edv_ml": self.rv_edv_ml,
            "rv_esv_ml": self.rv_esv_ml,
            "rv_sv_ml": self.rv_sv_ml,
        }
        out: dict[str, Any] = {
            "subject_id": self.subject_id,
            "spacing_known": self.spacing_known,
            "ed_index": self.ed_index,
            "es_index": self.es_index,
            "phase_source": self.phase_source,
            "n_frames": self.n_frames,
            "n_frames_segmented": self.n_frames_segmented,
            "voxel_volume_ml": self.voxel_volume_ml,
            **ml,
            "lv_ef_pct": self.lv_ef_pct,
            "rv_ef_pct": self.rv_ef_pct,
            "lv_edv_voxels": self.lv_edv_voxels,
            "lv_esv_voxels": self.lv_esv_voxels,
            "lv_sv_voxels": self.lv_edv_voxels - self.lv_esv_voxels,
            "lv_myocardium_voxels": self.lv_myocardium_voxels,
            "rv_edv_voxels": self.rv_edv_voxels,
            "rv_esv_voxels": self.rv_esv_voxels,
            "rv_sv_voxels": self.rv_edv_voxels - self.rv_esv_voxels,
            # spacing-invariant ratios (usable when the spacing is unknown)
            "rv_lv_edv_ratio": _ratio(self.rv_edv_voxels, self.lv_edv_voxels),
            "rv_lv_esv_ratio": _ratio(self.rv_esv_voxels, self.lv_esv_voxels),
            "lv_mass_edv_ratio_g_ml": _ratio(
                MYOCARDIAL_DENSITY_G_PER_ML * self.lv_myocardium_voxels, self.lv_edv_voxels
            ),
            "height_cm": self.height_cm,
            "weight_kg": self.weight_kg,
            "bsa_m2": self.bsa_m2,
        }
        for key, value in ml.items():
            stem, unit = key.rsplit("_", 1)  # lv_edv_ml -> lv_edvi_ml_m2
            out[f"{stem}i_{unit}_m2"] = None if self.bsa_m2 is None or value is None else value / self.bsa_m2
        for thickness, unit in ((self.wall_thickness_mm, "mm"), (self.wall_thickness_px, "px")):
            values = (thickness or WallThickness(unit, None, None, {}, {}, 0)).to_dict()  # type: ignore[arg-type]
            out.update(values)
        for curve, prefix in ((self.lv_curve, "lv"), (self.rv_curve, "rv")):
            if curve is not None:
                out.update(curve.to_dict())
            else:
                out.update(_empty_curve_dict(prefix))
        out["rates_in_ml_s"] = bool(self.lv_curve is not None and self.lv_curve.rates_in_ml_s)
        out["volume_curve_harmonics"] = None if self.lv_curve is None else self.lv_curve.n_harmonics
        out["aha_orientation"] = self.aha_orientation
        out["notes"] = list(self.notes)
        return {k: _json_value(v) for k, v in out.items()}


def _empty_curve_dict(prefix: str) -> dict[str, Any]:
    dummy = VolumeCurve(prefix, "voxels", np.zeros(0), np.zeros(0), None, None, 0, 0.0, 0.0, 0.0, None, None)
    return {key: None for key in dummy.to_dict()}


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def _collect_segmentations(
    cine: CineCMR, segmentations: Mapping[int, np.ndarray] | np.ndarray | None
) -> dict[int, np.ndarray]:
    """Frame -> label mask, checked against the cine grid and the cine label values."""
    given = segmentations is not None
    if segmentations is None:
        masks = dict(cine.segmentations)
    elif isinstance(segmentations, np.ndarray):
        if segmentations.ndim != 4 or segmentations.shape != cine.image.shape:
            raise UsageError(
                f"segmentations array must be (t, z, y, x) = {cine.image.shape}, got {segmentations.shape}"
            )
        masks = {t: segmentations[t] for t in range(segmentations.shape[0])}
    else:
        masks = {int(t): np.asarray(m) for t, m in segmentations.items()}
    if not masks:
        raise MissingDataError(cine.source, "no segmentation: cine measurements need label masks at least at ED and ES")
    allowed = set(CINE_LABELS.values())
    for frame, mask in masks.items():
        where = f"segmentation of frame {frame}"
        if not 0 <= frame < cine.n_frames:
            raise MissingDataError(cine.source, f"{where} outside 0..{cine.n_frames - 1}")
        if mask.shape != cine.image.shape[1:]:
            raise InconsistentGeometryError(
                cine.source, f"{where} has shape {mask.shape}, frames {cine.image.shape[1:]}"
            )
        if mask.dtype == bool:
            continue
        low, high = mask.min(), mask.max()
        if low >= 0 and high <= max(allowed) and (mask.dtype.kind in "iu" or np.array_equal(mask, np.round(mask))):
            continue
        bad = sorted(set(np.unique(mask).tolist()) - allowed)
        if bad:
            problem = f"{where} holds values {bad[:5]} outside the cine labels 0..3"
            if given:
                raise UsageError(f"{cine.source}: {problem}")
            raise CorruptFileError(cine.source, problem)
    return masks


def _choose_phases(cine: CineCMR, lv_counts: dict[int, int], phases: Phases, notes: list[str]) -> tuple[int, int, str]:
    frames = sorted(lv_counts)
    if phases == "volume":
        ed = max(frames, key=lambda f: (lv_counts[f], -f))
        es = min(frames, key=lambda f: (lv_counts[f], f))
        if len(frames) < cine.n_frames:
            notes.append(f"ED/ES chosen among the {len(frames)} segmented frames only")
        return ed, es, "volume"
    if phases != "container":
        raise UsageError(f"phases must be 'container' or 'volume', got {phases!r}")
    ed = cine.ed_index
    if ed not in lv_counts:
        raise MissingDataError(cine.source, f"no segmentation for the ED frame {ed}")
    es = cine.es_index
    if es is None:
        es = min(frames, key=lambda f: (lv_counts[f], f))
        notes.append(f"ES frame not recorded: ES = frame {es}, the smallest LV volume among segmented frames")
    elif es not in lv_counts:
        raise MissingDataError(cine.source, f"no segmentation for the ES frame {es}")
    return ed, es, "container"


def _body_size(
    cine: CineCMR, height_cm: float | None, weight_kg: float | None, notes: list[str]
) -> tuple[float | None, float | None, float | None]:
    if height_cm is None and weight_kg is None:
        height_cm, weight_kg = cine.metadata.get("height_cm"), cine.metadata.get("weight_kg")
        if height_cm is None or weight_kg is None:
            return None, None, None
        try:
            return float(height_cm), float(weight_kg), bsa_mosteller_m2(height_cm, weight_kg)
        except (UsageError, TypeError, ValueError):
            notes.append(f"height/weight in the cine metadata unusable ({height_cm!r}, {weight_kg!r}): no BSA")
            return None, None, None
    if height_cm is None or weight_kg is None:
        raise UsageError("give both height_cm and weight_kg (BSA needs both), or neither")
    return float(height_cm), float(weight_kg), bsa_mosteller_m2(height_cm, weight_kg)


def _base_to_apex(cine: CineCMR, base_to_apex: bool | None, notes: list[str]) -> bool:
    if base_to_apex is not None:
        return bool(base_to_apex)
    order = cine.metadata.get("slice_order")
    if order in ("base_to_apex", "apex_to_base"):
        return order == "base_to_apex"
    notes.append("slice order unknown: assumed base (slice 0) to apex for the AHA segments")
    return True


def measure_cine(
    cine: CineCMR,
    *,
    height_cm: float | None = None,
    weight_kg: float | None = None,
    segmentations: Mapping[int, np.ndarray] | np.ndarray | None = None,
    phases: Phases = "container",
    n_harmonics: int = DEFAULT_HARMONICS,
    base_to_apex: bool | None = None,
    clockwise: bool | None = None,
) -> CineMeasurements:
    """Volumes, EF, LV mass, BSA-indexed values, AHA wall thickness and volume curves.

    Args:
        cine: the study; its ``segmentations`` are used unless ``segmentations``
            is given (frame -> (z, y, x) label mask, or a (t, z, y, x) array).
            Masks at ED and ES suffice; volume-time curves need every frame.
        height_cm, weight_kg: for BSA (Mosteller) and indexed values; default
            from ``cine.metadata`` when both are there.
        phases: "container" uses ``cine.ed_index``/``es_index`` (ES = smallest
            LV volume when the container has none); "volume" takes ED = largest
            and ES = smallest LV cavity among the segmented frames.
        n_harmonics: Fourier harmonics for the volume-time curves.
        base_to_apex: slice order for the AHA levels; default from
            ``cine.metadata["slice_order"]``, else base to apex (noted).
        clockwise: AHA image handedness (see :mod:`cardiolens.measure.aha`);
            None derives it from ``cine.affine`` when that carries a usable
            orientation, else the standard display (anterior up, septum left).

    Raises:
        MissingDataError: no masks, no mask at the ED/ES frame, or an empty LV
            cavity at ED (each names the cine source).
        InconsistentGeometryError, CorruptFileError: masks of the wrong shape
            or with values outside the cine labels (UsageError for masks
            passed as an argument).
        UsageError: bad arguments.
    """
    notes: list[str] = []
    masks = _collect_segmentations(cine, segmentations)
    lv_counts = {t: int(np.count_nonzero(m == _LV)) for t, m in masks.items()}
    rv_counts = {t: int(np.count_nonzero(m == _RV)) for t, m in masks.items()}
    ed, es, phase_source = _choose_phases(cine, lv_counts, phases, notes)
    if lv_counts[ed] == 0:
        raise MissingDataError(cine.source, f"the LV cavity (label {_LV}) is empty at the ED frame {ed}")
    if rv_counts[ed] == 0:
        notes.append("no RV cavity at ED: RV values are 0 and RV EF is undefined")

    spacing_known = bool(cine.spacing_known)
    if not spacing_known:
        notes.append("voxel spacing unknown: volumes in voxels only, mL/g and indexed values are null")
    height, weight, bsa = _body_size(cine, height_cm, weight_kg, notes)

    ed_mask = masks[ed]
    order = _base_to_apex(cine, base_to_apex, notes)
    myo, cavity, rv = ed_mask == _MYO, ed_mask == _LV, ed_mask == _RV
    segments = aha_segment_map(
        myo, cavity, rv if rv.any() else None, base_to_apex=order, clockwise=clockwise, affine=cine.affine
    )
    orientation = _aha_orientation(cine, bool(rv.any()), order, clockwise)
    spacing_yx = (float(cine.spacing_mm[1]), float(cine.spacing_mm[2]))
    thickness_px = wall_thickness(cavity, myo, segments)
    thickness_mm = wall_thickness(cavity, myo, segments, spacing_yx_mm=spacing_yx) if spacing_known else None

    voxel_ml = cine.voxel_volume_ml if spacing_known else None
    lv_curve = rv_curve = None
    if len(masks) == cine.n_frames and cine.n_frames >= 3:
        timing = {}
        if cine.trigger_times_ms is not None and cine.rr_interval_ms is not None:
            timing = {"frame_times_ms": cine.trigger_times_ms, "rr_interval_ms": cine.rr_interval_ms}
        else:
            notes.append("no trigger times: frames taken as equally spaced, rates per cycle (EDV/cycle) only")
        unit: Literal["mL", "voxels"] = "mL" if voxel_ml is not None else "voxels"
        scale = voxel_ml if voxel_ml is not None else 1.0
        frames = range(cine.n_frames)
        lv_curve = volume_curve(
            np.array([lv_counts[t] for t in frames]) * scale,
            ventricle="lv",
            volume_unit=unit,
            ed_frame=ed,
            n_harmonics=n_harmonics,
            **timing,
        )
        if rv_counts[ed] > 0:
            rv_curve = volume_curve(
                np.array([rv_counts[t] for t in frames]) * scale,
                ventricle="rv",
                volume_unit=unit,
                ed_frame=ed,
                n_harmonics=n_harmonics,
                **timing,
            )
        if lv_curve.n_harmonics < n_harmonics:
            notes.append(f"volume curves fitted with {lv_curve.n_harmonics} harmonics ({cine.n_frames} frames)")
    else:
        notes.append(f"volume-time curves skipped: masks on {len(masks)} of {cine.n_frames} frames (need every frame)")

    return CineMeasurements(
        subject_id=cine.subject_id,
        spacing_known=spacing_known,
        ed_index=ed,
        es_index=es,
        phase_source=phase_source,
        n_frames=cine.n_frames,
        n_frames_segmented=len(masks),
        voxel_volume_ml=voxel_ml,
        lv_edv_voxels=lv_counts[ed],
        lv_esv_voxels=lv_counts[es],
        lv_myocardium_voxels=int(np.count_nonzero(myo)),
        rv_edv_voxels=rv_counts[ed],
        rv_esv_voxels=rv_counts[es],
        height_cm=height,
        weight_kg=weight,
        bsa_m2=bsa,
        wall_thickness_mm=thickness_mm,
        wall_thickness_px=thickness_px,
        lv_curve=lv_curve,
        rv_curve=rv_curve,
        aha_orientation=orientation,
        notes=tuple(notes),
    )


def _aha_orientation(cine: CineCMR, has_rv: bool, base_to_apex: bool, clockwise: bool | None) -> str:
    """Words for how :func:`aha_segment_map` oriented the segments of this study."""
    septum = "septum from the RV insertion points" if has_rv else "septum assumed on the image left (no RV mask)"
    if clockwise is not None:
        handedness = "handedness given"
    elif clockwise_from_affine(cine.affine, base_to_apex=base_to_apex) is not None:
        handedness = "handedness from the affine"
    else:
        handedness = "handedness assumed: standard display (anterior up, septum left)"
    return f"{septum}; {handedness}"
