"""Parametric mapping and oxygenation-sensitive CMR: ECV, %ΔSI and abnormality flags per AHA segment.

Methods (``METHODS.md`` section 6):

- **ECV** (SCMR/EACVI consensus, Messroghli et al., JCMR 2017;19:75,
  doi:10.1186/s12968-017-0389-8): ``ECV = (1 - Hct) * ΔR1_myo / ΔR1_blood``
  with ``ΔR1 = 1/T1_post - 1/T1_native`` (R1 in 1/s from T1 in ms). Two
  forms: voxelwise (myocardial T1 per voxel, blood from the pool ROI mean)
  and ROI-mean (all four T1s are ROI means). Normal 25.6 % (19.6-31.6 %,
  Sardanelli 2019); abnormal above ~30 % (default cut-off, [M]).
- **%ΔSI** of oxygenation-sensitive CMR (Guensch et al., EHJ-CVI 2014,
  doi:10.1093/ehjci/jet171; review Friedrich & Karamitsos, JCMR 2013;15:43):
  ``%ΔSI = (SI_end - SI_start) / SI_start * 100`` over the breath-hold, per
  voxel, per ROI (from mean signals) or as the mean of a %ΔSI map.
- **Abnormality flags** (:class:`MapCutoffs`), value vs a cut-off globally
  and per AHA segment:

  - native T1 (MOLLI) above the local normal mean + 2 SD; default normals of
    Dabir et al. (JCMR 2014): 950 +/- 21 ms at 1.5 T (cut-off 992 ms) and
    1052 +/- 23 ms at 3 T (1098 ms). Lake Louise 2018 asks for local normals.
  - T2 above 50 + 2 x 3 ms = 56 ms. ASSUMPTION [U]: the 50 ms mean is the
    METHODS.md value; the 3 ms SD is ours (typical of published T2-prepared
    bSSFP normal ranges at 1.5 T), not from a cited table. Use local normals.
  - ECV above 30 % ([M]).
  - %ΔSI below 4 %. ASSUMPTION [U]: about half the ~8 % breath-hold response
    of healthy myocardium (Guensch 2014); no published cut-off was checked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from scipy import ndimage

from cardiolens.data.volume import CMRVolume
from cardiolens.errors import InconsistentGeometryError, MissingDataError, UsageError
from cardiolens.measure.lge import (
    AHA_SEGMENTS,
    aha_segments_without_rv,
    lv_cavity_from_labels,
    myocardium_from_labels,
)

Quantity = Literal["t1", "t2", "ecv", "os_dsi"]

#: Native-T1 (MOLLI) normal mean and SD (ms) by field strength (T), Dabir et al. JCMR 2014.
NATIVE_T1_NORMALS_MS: Final[dict[float, tuple[float, float]]] = {1.5: (950.0, 21.0), 3.0: (1052.0, 23.0)}
#: Normal myocardial T2 mean (ms), METHODS.md §6.
T2_NORMAL_MEAN_MS: Final[float] = 50.0
#: SD of normal T2 (ms). ASSUMPTION [U]: not from a cited table; replace with local normals.
T2_NORMAL_SD_MS_ASSUMED: Final[float] = 3.0
#: ECV above this (%) is abnormal ([M]; normal 25.6 %, 19.6-31.6 %, Sardanelli 2019).
ECV_CUTOFF_PCT: Final[float] = 30.0
#: %ΔSI below this is abnormal. ASSUMPTION [U]: half the ~8 % healthy response (Guensch 2014).
OS_DSI_CUTOFF_PCT_ASSUMED: Final[float] = 4.0

_UNITS: Final[dict[str, str]] = {"t1": "ms", "t2": "ms", "ecv": "pct", "os_dsi": "pct"}


# --- ECV ------------------------------------------------------------------------------


def delta_r1_per_s(t1_native_ms: np.ndarray | float, t1_post_ms: np.ndarray | float) -> np.ndarray | float:
    """ΔR1 = 1/T1_post - 1/T1_native, in 1/s, from T1 in ms (NaN where a T1 is not positive)."""
    native = np.asarray(t1_native_ms, dtype=float)
    post = np.asarray(t1_post_ms, dtype=float)
    valid = (native > 0) & (post > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(valid, 1000.0 / np.where(valid, post, 1.0) - 1000.0 / np.where(valid, native, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def _check_hematocrit(hematocrit: float) -> float:
    hct = float(hematocrit)
    if not (math.isfinite(hct) and 0.0 < hct < 1.0):
        hint = " (give it as a fraction, e.g. 0.42, not 42 %)" if 1.0 <= hct <= 100.0 else ""
        raise UsageError(f"hematocrit must be a fraction between 0 and 1, got {hematocrit}{hint}")
    return hct


def ecv_pct(
    t1_native_myo_ms: np.ndarray | float,
    t1_post_myo_ms: np.ndarray | float,
    t1_native_blood_ms: float,
    t1_post_blood_ms: float,
    hematocrit: float,
) -> np.ndarray | float:
    """Extracellular volume (%) = (1 - Hct) x ΔR1_myo / ΔR1_blood x 100 (SCMR/EACVI 2017).

    Voxelwise when the myocardial T1s are arrays (blood T1s are pool ROI
    means); the ROI-mean form when all four are ROI means. NaN where a
    myocardial T1 is not positive.

    Args:
        t1_native_myo_ms, t1_post_myo_ms: myocardial T1 before/after contrast (ms).
        t1_native_blood_ms, t1_post_blood_ms: blood-pool T1 before/after contrast (ms).
        hematocrit: as a fraction (0-1).

    Raises:
        UsageError: hematocrit outside (0, 1), or blood ΔR1 not positive
            (post-contrast blood T1 must be shorter than native).
    """
    hct = _check_hematocrit(hematocrit)
    blood = delta_r1_per_s(t1_native_blood_ms, t1_post_blood_ms)
    if not (np.isfinite(blood) and blood > 0):
        raise UsageError(
            f"blood ΔR1 must be positive (post-contrast T1 {t1_post_blood_ms} ms shorter than native "
            f"{t1_native_blood_ms} ms); got {blood}"
        )
    return (1.0 - hct) * delta_r1_per_s(t1_native_myo_ms, t1_post_myo_ms) / blood * 100.0


@dataclass(frozen=True)
class ECVMeasurement:
    """ROI-mean ECV of one study.

    Attributes:
        ecv_pct: extracellular volume (%).
        hematocrit: fraction used.
        t1_native_myo_ms, t1_post_myo_ms, t1_native_blood_ms, t1_post_blood_ms: ROI means (ms).
        delta_r1_myo_per_s, delta_r1_blood_per_s: ΔR1 (1/s).
        myocardium_voxels, blood_voxels: ROI sizes.
        abnormal: ecv_pct above ``cutoff_pct``.
        cutoff_pct: the ECV cut-off (%).
    """

    ecv_pct: float
    hematocrit: float
    t1_native_myo_ms: float
    t1_post_myo_ms: float
    t1_native_blood_ms: float
    t1_post_blood_ms: float
    delta_r1_myo_per_s: float
    delta_r1_blood_per_s: float
    myocardium_voxels: int
    blood_voxels: int
    abnormal: bool
    cutoff_pct: float = ECV_CUTOFF_PCT

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, units in the key names."""
        return {
            "method": "ECV = (1 - Hct) dR1_myo / dR1_blood, ROI means (SCMR/EACVI 2017)",
            "ecv_pct": self.ecv_pct,
            "hematocrit_fraction": self.hematocrit,
            "t1_native_myo_ms": self.t1_native_myo_ms,
            "t1_post_myo_ms": self.t1_post_myo_ms,
            "t1_native_blood_ms": self.t1_native_blood_ms,
            "t1_post_blood_ms": self.t1_post_blood_ms,
            "delta_r1_myo_per_s": self.delta_r1_myo_per_s,
            "delta_r1_blood_per_s": self.delta_r1_blood_per_s,
            "myocardium_voxels": self.myocardium_voxels,
            "blood_voxels": self.blood_voxels,
            "ecv_abnormal": self.abnormal,
            "ecv_cutoff_pct": self.cutoff_pct,
        }


def _roi_mean(image: np.ndarray, roi: np.ndarray, source: str, what: str) -> tuple[float, int]:
    if roi.shape != image.shape:
        raise InconsistentGeometryError(source, f"{what} shape {roi.shape} != image shape {image.shape}")
    values = image[roi]
    if values.size == 0:
        raise MissingDataError(source, f"the {what} is empty")
    return float(values.mean()), int(values.size)


def ecv_roi(
    t1_native: CMRVolume,
    t1_post: CMRVolume,
    hematocrit: float,
    *,
    myocardium: np.ndarray | None = None,
    blood: np.ndarray | None = None,
    cutoff_pct: float = ECV_CUTOFF_PCT,
) -> ECVMeasurement:
    """ROI-mean ECV from native and post-contrast T1 maps on one grid (SCMR/EACVI 2017).

    Args:
        t1_native, t1_post: T1 maps (ms), same shape (registered).
        hematocrit: fraction (0-1), drawn the day of the scan.
        myocardium: myocardial ROI; default the labelled myocardium of ``t1_native``.
        blood: blood-pool ROI; default the labelled LV cavity of ``t1_native``.
        cutoff_pct: ECV above this is flagged abnormal.

    Raises:
        InconsistentGeometryError: maps or ROIs of different shapes.
        MissingDataError: no ROI given and no labels to take it from, or an empty ROI.
        UsageError: bad hematocrit, or blood T1 not shortened by contrast.
    """
    if t1_native.image.shape != t1_post.image.shape:
        raise InconsistentGeometryError(
            t1_post.source, f"post-contrast T1 shape {t1_post.image.shape} != native {t1_native.image.shape}"
        )
    myo = myocardium_from_labels(t1_native) if myocardium is None else np.asarray(myocardium, dtype=bool)
    pool = _blood_pool(t1_native) if blood is None else np.asarray(blood, dtype=bool)
    src = t1_native.source
    native_myo, n_myo = _roi_mean(t1_native.image, myo, src, "myocardium ROI")
    post_myo, _ = _roi_mean(t1_post.image, myo, t1_post.source, "myocardium ROI")
    native_blood, n_blood = _roi_mean(t1_native.image, pool, src, "blood-pool ROI")
    post_blood, _ = _roi_mean(t1_post.image, pool, t1_post.source, "blood-pool ROI")
    value = float(ecv_pct(native_myo, post_myo, native_blood, post_blood, hematocrit))
    return ECVMeasurement(
        ecv_pct=value,
        hematocrit=float(hematocrit),
        t1_native_myo_ms=native_myo,
        t1_post_myo_ms=post_myo,
        t1_native_blood_ms=native_blood,
        t1_post_blood_ms=post_blood,
        delta_r1_myo_per_s=float(delta_r1_per_s(native_myo, post_myo)),
        delta_r1_blood_per_s=float(delta_r1_per_s(native_blood, post_blood)),
        myocardium_voxels=n_myo,
        blood_voxels=n_blood,
        abnormal=bool(value > cutoff_pct),
        cutoff_pct=float(cutoff_pct),
    )


def _blood_pool(volume: CMRVolume) -> np.ndarray:
    cavity = lv_cavity_from_labels(volume)
    if cavity is None:
        raise MissingDataError(volume.source, "no blood-pool ROI: no LV cavity label and none was given")
    return cavity


def ecv_map(
    t1_native: CMRVolume,
    t1_post: CMRVolume,
    hematocrit: float,
    *,
    myocardium: np.ndarray | None = None,
    blood: np.ndarray | None = None,
) -> CMRVolume:
    """Voxelwise ECV map (%) inside the myocardium; blood ΔR1 from the pool ROI means.

    Voxels outside the myocardium, or with a non-positive T1, are 0 (the
    container holds no NaN); ``metadata["undefined_voxels"]`` counts the
    latter. Labels and geometry are those of ``t1_native``.

    Raises:
        as :func:`ecv_roi`.
    """
    if t1_native.image.shape != t1_post.image.shape:
        raise InconsistentGeometryError(
            t1_post.source, f"post-contrast T1 shape {t1_post.image.shape} != native {t1_native.image.shape}"
        )
    myo = myocardium_from_labels(t1_native) if myocardium is None else np.asarray(myocardium, dtype=bool)
    pool = _blood_pool(t1_native) if blood is None else np.asarray(blood, dtype=bool)
    native_blood, _ = _roi_mean(t1_native.image, pool, t1_native.source, "blood-pool ROI")
    post_blood, _ = _roi_mean(t1_post.image, pool, t1_post.source, "blood-pool ROI")
    if myo.shape != t1_native.image.shape:
        raise InconsistentGeometryError(t1_native.source, f"myocardium shape {myo.shape} != {t1_native.image.shape}")
    values = np.asarray(ecv_pct(t1_native.image, t1_post.image, native_blood, post_blood, hematocrit))
    defined = myo & np.isfinite(values)
    out = np.where(defined, values, 0.0).astype(np.float32)
    return CMRVolume(
        image=out,
        modality="ecv",
        spacing_mm=t1_native.spacing_mm,
        spacing_known=t1_native.spacing_known,
        affine=None if t1_native.affine is None else t1_native.affine.copy(),
        labels=None if t1_native.labels is None else t1_native.labels.copy(),
        label_scheme=t1_native.label_scheme,
        subject_id=t1_native.subject_id,
        source=t1_native.source,
        metadata={
            "method": "ECV = (1 - Hct) dR1_myo / dR1_blood, voxelwise (SCMR/EACVI 2017)",
            "hematocrit_fraction": float(hematocrit),
            "t1_native_blood_ms": native_blood,
            "t1_post_blood_ms": post_blood,
            "undefined_voxels": int(np.count_nonzero(myo & ~np.isfinite(values))),
            "field_strength_t": t1_native.metadata.get("field_strength_t"),
        },
    )


# --- oxygenation-sensitive %ΔSI -------------------------------------------------------------


def percent_delta_si(si_start: np.ndarray | float, si_end: np.ndarray | float) -> np.ndarray | float:
    """%ΔSI = (SI_end - SI_start) / SI_start x 100 per voxel (Guensch 2014); NaN where SI_start <= 0.

    Raises:
        InconsistentGeometryError: images of different shapes.
    """
    start = np.asarray(si_start, dtype=float)
    end = np.asarray(si_end, dtype=float)
    if start.shape != end.shape:
        raise InconsistentGeometryError("<memory>", f"SI_end shape {end.shape} != SI_start shape {start.shape}")
    valid = start > 0
    out = np.where(valid, (end - start) / np.where(valid, start, 1.0) * 100.0, np.nan)
    return float(out) if out.ndim == 0 else out


def segment_means(values: np.ndarray, segments: np.ndarray) -> dict[int, float | None]:
    """AHA segment (1-17) -> mean of the finite ``values`` in it (None when it has none)."""
    values = np.asarray(values, dtype=float)
    segments = np.asarray(segments)
    if values.shape != segments.shape:
        raise InconsistentGeometryError("<memory>", f"segment map shape {segments.shape} != values {values.shape}")
    out: dict[int, float | None] = {}
    for s in AHA_SEGMENTS:
        v = values[(segments == s) & np.isfinite(values)]
        out[s] = float(v.mean()) if v.size else None
    return out


def segment_percent_delta_si(si_start: np.ndarray, si_end: np.ndarray, segments: np.ndarray) -> dict[int, float | None]:
    """Per AHA segment, %ΔSI of the segment's mean signals: (mean end - mean start) / mean start x 100.

    The ROI form from two images (averaging before dividing damps noise in
    dark voxels). None for an empty segment or a non-positive mean start signal.
    """
    start = np.asarray(si_start, dtype=float)
    end = np.asarray(si_end, dtype=float)
    segments = np.asarray(segments)
    if not start.shape == end.shape == segments.shape:
        raise InconsistentGeometryError(
            "<memory>", f"shapes differ: SI_start {start.shape}, SI_end {end.shape}, segments {segments.shape}"
        )
    out: dict[int, float | None] = {}
    for s in AHA_SEGMENTS:
        inside = segments == s
        if not inside.any() or start[inside].mean() <= 0:
            out[s] = None
            continue
        out[s] = float(percent_delta_si(start[inside].mean(), end[inside].mean()))
    return out


# --- abnormality flags ----------------------------------------------------------------


@dataclass(frozen=True)
class MapCutoffs:
    """Cut-offs for abnormal mapping values (module docstring for sources and assumptions).

    Attributes:
        native_t1_ms: native T1 above this is abnormal (None: unknown field strength).
        t2_ms: T2 above this is abnormal.
        ecv_pct: ECV above this is abnormal.
        os_dsi_pct: %ΔSI below this is abnormal.
        field_strength_t: field strength the T1 cut-off was built for, if any.
        notes: provenance of each cut-off.
    """

    native_t1_ms: float | None = None
    t2_ms: float = T2_NORMAL_MEAN_MS + 2 * T2_NORMAL_SD_MS_ASSUMED
    ecv_pct: float = ECV_CUTOFF_PCT
    os_dsi_pct: float = OS_DSI_CUTOFF_PCT_ASSUMED
    field_strength_t: float | None = None
    notes: tuple[str, ...] = (
        f"T2: {T2_NORMAL_MEAN_MS:g} + 2 x {T2_NORMAL_SD_MS_ASSUMED:g} ms, SD ASSUMED [U]",
        f"ECV: > {ECV_CUTOFF_PCT:g} % [M]",
        f"%dSI: < {OS_DSI_CUTOFF_PCT_ASSUMED:g} %, ASSUMED [U] (half the healthy ~8 %, Guensch 2014)",
    )

    @classmethod
    def for_field_strength(
        cls,
        field_strength_t: float,
        *,
        t1_normal_ms: tuple[float, float] | None = None,
        t2_normal_ms: tuple[float, float] = (T2_NORMAL_MEAN_MS, T2_NORMAL_SD_MS_ASSUMED),
        n_sd: float = 2.0,
        ecv_pct: float = ECV_CUTOFF_PCT,
        os_dsi_pct: float = OS_DSI_CUTOFF_PCT_ASSUMED,
    ) -> MapCutoffs:
        """Cut-offs = normal mean + ``n_sd`` SD, with Dabir 2014 MOLLI normals unless ``t1_normal_ms`` is given.

        Args:
            field_strength_t: 1.5 or 3.0 for the default T1 normals (any value with ``t1_normal_ms``).
            t1_normal_ms, t2_normal_ms: local normal (mean, SD) in ms.
            n_sd: SDs above the mean (2 by default, METHODS.md §6).
            ecv_pct, os_dsi_pct: ECV and %ΔSI cut-offs (%).
        """
        field_t = float(field_strength_t)
        if t1_normal_ms is None:
            if field_t not in NATIVE_T1_NORMALS_MS:
                raise UsageError(
                    f"no default native-T1 normals at {field_strength_t} T (known: 1.5, 3.0); pass t1_normal_ms"
                )
            t1_normal_ms = NATIVE_T1_NORMALS_MS[field_t]
            t1_note = (
                f"native T1: Dabir 2014 MOLLI normals at {field_t:g} T, {t1_normal_ms[0]:g} +/- {t1_normal_ms[1]:g} ms"
            )
        else:
            t1_note = f"native T1: local normals {t1_normal_ms[0]:g} +/- {t1_normal_ms[1]:g} ms"
        t2_assumed = tuple(t2_normal_ms) == (T2_NORMAL_MEAN_MS, T2_NORMAL_SD_MS_ASSUMED)
        return cls(
            native_t1_ms=t1_normal_ms[0] + n_sd * t1_normal_ms[1],
            t2_ms=t2_normal_ms[0] + n_sd * t2_normal_ms[1],
            ecv_pct=float(ecv_pct),
            os_dsi_pct=float(os_dsi_pct),
            field_strength_t=field_t,
            notes=(
                f"{t1_note}, cut-off mean + {n_sd:g} SD",
                f"T2: {t2_normal_ms[0]:g} +/- {t2_normal_ms[1]:g} ms, cut-off mean + {n_sd:g} SD"
                + (" (SD ASSUMED [U])" if t2_assumed else " (local normals)"),
                f"ECV: > {ecv_pct:g} %",
                f"%dSI: < {os_dsi_pct:g} %" + (" ASSUMED [U]" if os_dsi_pct == OS_DSI_CUTOFF_PCT_ASSUMED else ""),
            ),
        )

    def rule(self, quantity: Quantity) -> tuple[float, Literal["above", "below"]]:
        """(cut-off, direction) for a quantity: values above (T1, T2, ECV) or below (%ΔSI) are abnormal.

        Raises:
            UsageError: T1 asked for without a T1 cut-off (field strength unknown).
        """
        if quantity == "t1":
            if self.native_t1_ms is None:
                raise UsageError(
                    "native-T1 cut-off unknown: normal T1 depends on field strength; use "
                    "MapCutoffs.for_field_strength(1.5 or 3.0) or give local normals"
                )
            return self.native_t1_ms, "above"
        if quantity == "t2":
            return self.t2_ms, "above"
        if quantity == "ecv":
            return self.ecv_pct, "above"
        if quantity == "os_dsi":
            return self.os_dsi_pct, "below"
        raise UsageError(f"unknown mapping quantity {quantity!r}; expected t1, t2, ecv or os_dsi")


@dataclass(frozen=True)
class MapAssessment:
    """Global and per-AHA-segment values of one map, flagged against a cut-off.

    Attributes:
        quantity: "t1", "t2", "ecv" or "os_dsi".
        unit: "ms" or "pct".
        cutoff: the cut-off value, in ``unit``.
        abnormal_when: "above" or "below" the cut-off.
        global_mean: mean over the myocardium.
        global_abnormal: global_mean beyond the cut-off.
        myocardium_voxels: voxels averaged (finite values only).
        segment_means: AHA segment (1-17) -> mean (None: no voxels there).
        segment_abnormal: AHA segment -> flag (None: no voxels there).
        segment_orientation: how the AHA segments were oriented ("" when none).
        notes: cut-off provenance and assumptions.
    """

    quantity: str
    unit: str
    cutoff: float
    abnormal_when: str
    global_mean: float
    global_abnormal: bool
    myocardium_voxels: int
    segment_means: dict[int, float | None] = field(default_factory=dict)
    segment_abnormal: dict[int, bool | None] = field(default_factory=dict)
    segment_orientation: str = ""
    notes: tuple[str, ...] = ()

    @property
    def abnormal_segments(self) -> tuple[int, ...]:
        return tuple(s for s, flag in self.segment_abnormal.items() if flag)

    @property
    def any_segment_abnormal(self) -> bool:
        return bool(self.abnormal_segments)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, the unit (ms or pct) in the key names."""
        u = self.unit
        return {
            "quantity": self.quantity,
            f"cutoff_{u}": self.cutoff,
            "abnormal_when": self.abnormal_when,
            f"global_mean_{u}": self.global_mean,
            "global_abnormal": self.global_abnormal,
            "myocardium_voxels": self.myocardium_voxels,
            f"segment_mean_{u}": {str(k): v for k, v in self.segment_means.items()},
            "segment_abnormal": {str(k): v for k, v in self.segment_abnormal.items()},
            "abnormal_segments": list(self.abnormal_segments),
            "any_segment_abnormal": self.any_segment_abnormal,
            "segment_orientation": self.segment_orientation,
            "notes": list(self.notes),
        }


def _beyond(value: float, cutoff: float, direction: str) -> bool:
    return bool(value > cutoff) if direction == "above" else bool(value < cutoff)


def assess_map(
    values: np.ndarray,
    myocardium: np.ndarray,
    quantity: Quantity,
    *,
    segments: np.ndarray | None = None,
    cutoffs: MapCutoffs | None = None,
    segment_orientation: str = "",
) -> MapAssessment:
    """Flag a map globally and per AHA segment: mean value vs the cut-off of :class:`MapCutoffs`.

    Args:
        values: the map, in ms (T1, T2) or % (ECV, %ΔSI); non-finite voxels are ignored.
        myocardium: boolean myocardium mask.
        quantity: "t1", "t2", "ecv" or "os_dsi".
        segments: optional AHA map (0 outside, 1-17).
        cutoffs: default :class:`MapCutoffs` (a T1 map then needs
            ``MapCutoffs.for_field_strength``).

    Raises:
        MissingDataError: no finite value in the myocardium.
        UsageError: unknown quantity or no T1 cut-off.
    """
    cutoffs = MapCutoffs() if cutoffs is None else cutoffs
    cutoff, direction = cutoffs.rule(quantity)
    values = np.asarray(values, dtype=float)
    myo = np.asarray(myocardium, dtype=bool)
    if myo.shape != values.shape:
        raise InconsistentGeometryError("<memory>", f"myocardium shape {myo.shape} != map shape {values.shape}")
    inside = values[myo & np.isfinite(values)]
    if inside.size == 0:
        raise MissingDataError("<memory>", f"no finite {quantity} value inside the myocardium")
    global_mean = float(inside.mean())
    seg_means: dict[int, float | None] = {}
    seg_flags: dict[int, bool | None] = {}
    if segments is not None:
        seg_means = segment_means(np.where(myo, values, np.nan), segments)
        seg_flags = {s: None if m is None else _beyond(m, cutoff, direction) for s, m in seg_means.items()}
    return MapAssessment(
        quantity=quantity,
        unit=_UNITS[quantity],
        cutoff=float(cutoff),
        abnormal_when=direction,
        global_mean=global_mean,
        global_abnormal=_beyond(global_mean, cutoff, direction),
        myocardium_voxels=int(inside.size),
        segment_means=seg_means,
        segment_abnormal=seg_flags,
        segment_orientation=segment_orientation,
        notes=cutoffs.notes,
    )


def assess_volume(
    volume: CMRVolume,
    *,
    myocardium: np.ndarray | None = None,
    segments: bool | np.ndarray = True,
    cutoffs: MapCutoffs | None = None,
    field_strength_t: float | None = None,
    base_to_apex: bool = True,
    septal_angles_rad: float | Sequence[float | None] | None = None,
    clockwise: bool | None = None,
    exclude_border_px: int = 0,
) -> MapAssessment:
    """Flag a T1, T2, ECV or %ΔSI map (:class:`CMRVolume`) globally and per AHA segment.

    The quantity comes from ``volume.modality``. T1 cut-offs need the field
    strength: ``cutoffs``, else ``field_strength_t``, else
    ``volume.metadata["field_strength_t"]``; with none of them a T1 map is
    refused rather than judged against the wrong normal range.

    Args:
        volume: a map with modality t1, t2, ecv or os_dsi.
        myocardium: default the labelled myocardium.
        segments: True computes AHA segments (no RV label: septum assumed on
            the image left unless ``septal_angles_rad`` is given; the result's
            ``segment_orientation`` says so), False skips, or an AHA map.
        cutoffs, field_strength_t: see above.
        base_to_apex, septal_angles_rad, clockwise: passed to the AHA
            segmentation (:func:`cardiolens.measure.lge.aha_segments_without_rv`).
        exclude_border_px: erode the myocardium in-plane by this many pixels
            before averaging, keeping ROIs off the blood pool and epicardial
            fat (partial volume, as the SCMR/EACVI 2017 mapping consensus
            advises); segments are still defined on the full myocardium.

    Raises:
        UsageError: a modality that is not a map, or a T1 map of unknown field strength.
        MissingDataError: no myocardium.
    """
    if volume.modality not in _UNITS:
        raise UsageError(f"{volume.source}: modality {volume.modality!r} is not a map (t1, t2, ecv, os_dsi)")
    quantity: Quantity = volume.modality  # type: ignore[assignment]
    if cutoffs is None:
        field_t = field_strength_t if field_strength_t is not None else volume.metadata.get("field_strength_t")
        if field_t is not None:
            cutoffs = MapCutoffs.for_field_strength(float(field_t))
        elif quantity == "t1":
            raise UsageError(
                f"{volume.source}: field strength unknown, so the native-T1 normal range is unknown; "
                "pass field_strength_t (1.5 or 3.0) or cutoffs"
            )
        else:
            cutoffs = MapCutoffs()
    myo = myocardium_from_labels(volume) if myocardium is None else np.asarray(myocardium, dtype=bool)
    if exclude_border_px < 0:
        raise UsageError(f"exclude_border_px must be >= 0, got {exclude_border_px}")
    segment_map: np.ndarray | None = None
    orientation = ""
    if isinstance(segments, np.ndarray):
        segment_map, orientation = segments, "given: AHA segment map supplied by the caller"
    elif segments:
        segment_map, orientation = aha_segments_without_rv(
            myo,
            lv_cavity_from_labels(volume),
            base_to_apex=base_to_apex,
            septal_angles_rad=septal_angles_rad,
            clockwise=clockwise,
            affine=volume.affine,
        )
    core = _erode_in_plane(myo, exclude_border_px)
    return assess_map(
        volume.image, core, quantity, segments=segment_map, cutoffs=cutoffs, segment_orientation=orientation
    )


def _erode_in_plane(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Erode each slice of a (z, y, x) mask by ``pixels`` (4-neighbour steps)."""
    if pixels == 0:
        return mask
    cross = np.zeros((3, 3, 3), dtype=bool)
    cross[1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_erosion(mask, structure=cross, iterations=pixels)
