"""Per-study inputs of every ``nicm`` classifier, from a cine and its masks on every frame.

:func:`extract_features` turns a :class:`~cardiolens.data.cine.CineCMR` plus a
``cine-seg`` mask array (t, z, y, x; 1 RV cavity, 2 LV myocardium, 3 LV
cavity) into a :class:`StudyFeatures`: LV-centred cine frames for the
CNN-LSTM, IVPG and volume time series for the MLP, and tables for the
classical, radiomics and artefact-control classifiers.

Shortcut control. In the ACDC copy, whether the voxel spacing is known and the
raw intensity range correlate with the diagnosis (``shared/data/README.md``).
Every feature a real classifier sees is therefore spacing- and
intensity-scale-invariant:

- images are normalised per study to [0, 1] by the 1st/99th percentile of the
  LV-centred crop region over the whole cine;
- the crop side is ``crop_scale`` x the LV end-diastolic equivalent diameter in
  pixels, so the crop covers the same anatomy whatever the pixel size;
- sizes enter only as ratios (EF, RV/LV, myocardium/cavity, wall thickness /
  LV diameter, both in in-plane pixels: square pixels are assumed);
- IVPG is the length-normalised form (``compute_ivpg(normalise_length=True)``,
  ΔP·(90 mm / L)²), and times are % of the cycle from ED.

The artefacts themselves go to :attr:`StudyFeatures.artefacts`, used only by
the control classifier that shows how much they alone can explain.

Timing. Without trigger times (ACDC) frames are assumed evenly spaced over a
nominal RR of ``nominal_rr_ms`` (1000 ms); IVPG pressures then hold for a 1 s
cycle (ΔP scales with 1/RR²), so absolute pressures are comparable only
between studies timed under the same assumption. Shapes and % timings are not
affected.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
from scipy import ndimage

from cardiolens.data.cine import CineCMR
from cardiolens.data.labels import CINE_LABELS
from cardiolens.errors import (
    CorruptFileError,
    DataError,
    InconsistentGeometryError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.io.atomic import atomic_path
from cardiolens.io.files import require_file
from cardiolens.measure.cine import volume_curve
from cardiolens.measure.ivpg import IVPGResult, compute_ivpg

__all__ = ["ED_ES_CLASSICAL", "SERIES_CHANNELS", "NicmFeatureSpec", "StudyFeatures", "ed_es_classical_features", "extract_features"]

#: Time series given to the IVPG/volume MLP, each resampled to ``n_phases`` over the cycle from ED.
SERIES_CHANNELS: Final[tuple[str, ...]] = (
    "ivpg_total", "ivpg_apical", "ivpg_mid", "ivpg_basal",
    "lv_volume_rel", "rv_volume_rel", "rv_volume_to_lv_edv", "myo_to_lv_cavity",
)  # fmt: skip

_RV, _MYO, _LV = CINE_LABELS["rv_cavity"], CINE_LABELS["lv_myocardium"], CINE_LABELS["lv_cavity"]
_FOUR_NEIGHBOURS = ndimage.generate_binary_structure(2, 1)
_N_SECTORS: Final[int] = 6  # angular sectors for regional thickening (about AHA-segment size)
_NPZ_VERSION: Final[int] = 2


@dataclass(frozen=True)
class NicmFeatureSpec:
    """How a study is turned into network inputs.

    Attributes:
        n_frames: cine frames sampled evenly over one cycle from ED (nearest frame).
        n_phases: samples of each time series over the cycle.
        crop_px: side of the LV-centred crop in output pixels.
        crop_scale: crop side / LV end-diastolic equivalent diameter (LV cavity +
            myocardium on the mid slice), so the crop is spacing-invariant and
            holds both ventricles.
        slice_positions: relative positions along the LV slice extent from the
            base (0) to the apex (1); one image channel each (default basal-mid,
            mid, apical-mid).
        nominal_rr_ms: cycle length assumed when the cine has no trigger times
            (see the module docstring: absolute IVPG then holds for this cycle).
    """

    n_frames: int = 16
    n_phases: int = 25
    crop_px: int = 64
    crop_scale: float = 3.0
    slice_positions: tuple[float, ...] = (0.25, 0.5, 0.75)
    nominal_rr_ms: float = 1000.0

    def __post_init__(self) -> None:
        if self.n_frames < 1 or self.n_phases < 4 or self.crop_px < 8:
            raise UsageError(f"need n_frames >= 1, n_phases >= 4, crop_px >= 8; got {self}")
        if not (self.crop_scale > 0 and self.nominal_rr_ms > 0):
            raise UsageError("crop_scale and nominal_rr_ms must be positive")
        if not self.slice_positions or not all(0.0 <= p <= 1.0 for p in self.slice_positions):
            raise UsageError(f"slice_positions must be values in [0, 1], got {self.slice_positions}")

    @property
    def n_channels(self) -> int:
        return len(self.slice_positions)


@dataclass(eq=False)
class StudyFeatures:
    """Everything the ``nicm`` classifiers need from one study.

    Attributes:
        subject_id, source: identity and provenance.
        frames: float32 (n_frames, n_channels, crop_px, crop_px) in [0, 1]:
            LV-centred crops of the chosen slices (channels) on frames sampled
            over one cycle from ED.
        ed_es_image: float32 (3, crop_px, crop_px): ED mid slice, ES mid slice, ES − ED.
        series: float32 (len(SERIES_CHANNELS), n_phases), see :data:`SERIES_CHANNELS`;
            IVPG in length-normalised mmHg, volumes relative to their EDV,
            RV volume relative to the LV EDV, myocardium / LV cavity voxel ratio.
        cycle_pct: (n_phases,) time of each series sample, % of the cycle from ED.
        classical: spacing-invariant ratios (EF as a fraction, volume ratios,
            relative wall thickness, peak rates in EDV per cycle).
        radiomics: scale-invariant pyradiomics features (empty when not computed).
        artefacts: acquisition/storage artefacts (spacing known, raw intensity
            range, matrix); for the artefact-control classifier only.
        ivpg_features: length-normalised IVPG features (mmHg, % of the cycle).
        frame_indices: the cine frames used for ``frames``.
        crop_box: for overlays, in the cine's pixels: ``slices`` (one per
            channel), ``centres_yx`` (one per channel), ``side_px``,
            ``mid_slice``, ``mid_centre_yx`` (for ``ed_es_image``),
            ``base_first`` (slice 0 is the base).
        notes: caveats (assumed timing, fallbacks...).
    """

    subject_id: str
    frames: np.ndarray
    ed_es_image: np.ndarray
    series: np.ndarray
    cycle_pct: np.ndarray
    classical: dict[str, float]
    radiomics: dict[str, float]
    artefacts: dict[str, float]
    ivpg_features: dict[str, float]
    frame_indices: np.ndarray
    crop_box: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    source: str = "<memory>"

    def to_npz(self, path: str | Path) -> Path:
        """Cache to a compressed ``.npz`` (written atomically); returns the path."""
        meta = {
            "version": _NPZ_VERSION,
            "subject_id": self.subject_id,
            "source": self.source,
            "series_channels": list(SERIES_CHANNELS),
            "classical": self.classical,
            "radiomics": self.radiomics,
            "artefacts": self.artefacts,
            "ivpg_features": self.ivpg_features,
            "crop_box": self.crop_box,
            "notes": self.notes,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                frames=self.frames,
                ed_es_image=self.ed_es_image,
                series=self.series,
                cycle_pct=self.cycle_pct,
                frame_indices=self.frame_indices,
                meta=np.array(json.dumps(meta)),  # NaN survives Python's json round trip
            )
        return Path(path)

    @classmethod
    def from_npz(cls, path: str | Path) -> StudyFeatures:
        """Read a cache written by :meth:`to_npz` (errors name the file)."""
        p = require_file(path)
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("frames", "ed_es_image", "series", "cycle_pct", "frame_indices")}
                meta = json.loads(str(data["meta"]))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise CorruptFileError(p, f"not a nicm feature cache ({exc})") from exc
        if meta.get("version") != _NPZ_VERSION or meta.get("series_channels") != list(SERIES_CHANNELS):
            raise CorruptFileError(p, "feature cache written by another version (re-extract the features)")
        return cls(
            subject_id=meta["subject_id"],
            source=meta["source"],
            classical=meta["classical"],
            radiomics=meta["radiomics"],
            artefacts=meta["artefacts"],
            ivpg_features=meta["ivpg_features"],
            crop_box=meta["crop_box"],
            notes=meta["notes"],
            **arrays,
        )


# --------------------------------------------------------------------------- checks and geometry


def _check_inputs(cine: CineCMR, masks: np.ndarray) -> int:
    """Validate the pair; return the ES frame (given, else the smallest LV cavity)."""
    if masks.shape != cine.image.shape:
        raise InconsistentGeometryError(
            cine.source, f"masks have shape {masks.shape}, the cine image {cine.image.shape} (t, z, y, x)"
        )
    if not np.isfinite(cine.image).all():
        raise NonFiniteValueError(cine.source, "cine image holds NaN/Inf values")
    unknown = np.setdiff1d(np.unique(masks), list(CINE_LABELS.values()))
    if unknown.size:
        raise InconsistentGeometryError(cine.source, f"masks hold label values {unknown.tolist()} outside 0-3")
    if not (masks[cine.ed_index] == _LV).any():
        raise MissingDataError(cine.source, f"no LV cavity (label 3) in the mask of the ED frame {cine.ed_index}")
    if cine.es_index is not None:
        return int(cine.es_index)
    return int(np.argmin((masks == _LV).sum(axis=(1, 2, 3))))


def _base_first(cine: CineCMR, lv_area_z: np.ndarray, lo: int, hi: int) -> tuple[bool, str | None]:
    """Whether slice index 0 is the base: metadata when known, else the larger end section is the base."""
    order = cine.metadata.get("slice_order")
    if order in ("base_to_apex", "apex_to_base"):
        return order == "base_to_apex", None
    base_first = bool(lv_area_z[lo] >= lv_area_z[hi])
    return base_first, "slice order inferred (larger end LV section taken as the base)"


def _slice_at(position: float, lo: int, hi: int, base_first: bool) -> int:
    offset = position * (hi - lo)
    return round(lo + offset if base_first else hi - offset)


def _centroid_yx(mask_yx: np.ndarray) -> tuple[float, float] | None:
    if not mask_yx.any():
        return None
    cy, cx = ndimage.center_of_mass(mask_yx)
    return float(cy), float(cx)


def _frame_phase_pct(cine: CineCMR) -> np.ndarray:
    """Phase of every frame in % of the cycle from ED (trigger times, else evenly spaced)."""
    n = cine.n_frames
    rr = cine.rr_interval_ms
    if cine.trigger_times_ms is None or rr is None:
        return 100.0 * ((np.arange(n) - cine.ed_index) % n) / n
    return 100.0 * np.mod(cine.trigger_times_ms - cine.trigger_times_ms[cine.ed_index], rr) / rr


def _sample_frames(phase_pct: np.ndarray, n_out: int) -> np.ndarray:
    """Frame nearest (circularly) to each of ``n_out`` phases evenly spaced from ED."""
    target = 100.0 * np.arange(n_out) / n_out
    distance = np.abs(target[:, None] - phase_pct[None, :])
    distance = np.minimum(distance, 100.0 - distance)
    return np.argmin(distance, axis=1).astype(np.int64)


def _periodic_resample(values: np.ndarray, phase_pct: np.ndarray, cycle_pct: np.ndarray) -> np.ndarray:
    return np.interp(cycle_pct, phase_pct, values, period=100.0)


def _crop(plane_yx: np.ndarray, centre_yx: tuple[float, float], side_px: float, crop_px: int) -> np.ndarray:
    """Square crop of side ``side_px`` around ``centre_yx`` resampled to ``crop_px`` (0 outside the image)."""
    zoom = side_px / crop_px
    if zoom > 1.0:  # smooth before shrinking, so thin structures do not alias
        plane_yx = ndimage.gaussian_filter(plane_yx, sigma=0.4 * zoom, mode="constant")
    offsets = ((np.arange(crop_px) + 0.5) / crop_px - 0.5) * side_px - 0.5
    yy, xx = np.meshgrid(centre_yx[0] + offsets, centre_yx[1] + offsets, indexing="ij")
    return ndimage.map_coordinates(plane_yx, [yy, xx], order=1, mode="constant", cval=0.0)


def _crop_geometry(
    cine: CineCMR, ed_masks: np.ndarray, spec: NicmFeatureSpec, notes: list[str]
) -> tuple[dict[str, Any], float]:
    """Chosen slices, LV-centred crop centres and side (cine pixels), and the LV ED diameter (pixels)."""
    lv_wall = (ed_masks == _LV) | (ed_masks == _MYO)
    area_z = lv_wall.sum(axis=(1, 2))
    present = np.flatnonzero(area_z)
    lo, hi = int(present[0]), int(present[-1])
    base_first, order_note = _base_first(cine, area_z, lo, hi)
    if order_note:
        notes.append(order_note)
    mid = _slice_at(0.5, lo, hi, base_first)
    if area_z[mid] == 0:
        mid = int(np.argmax(area_z))
        notes.append("no LV on the middle slice of the LV extent at ED: the largest LV section is used")
    diameter_px = 2.0 * math.sqrt(float(area_z[mid]) / math.pi)
    mid_centre = _centroid_yx(lv_wall[mid])
    assert mid_centre is not None  # area_z[mid] > 0
    slices = [_slice_at(p, lo, hi, base_first) for p in spec.slice_positions]
    centres = [_centroid_yx(lv_wall[z]) or mid_centre for z in slices]
    box = {
        "slices": slices,
        "centres_yx": [list(c) for c in centres],
        "side_px": spec.crop_scale * diameter_px,
        "mid_slice": mid,
        "mid_centre_yx": list(mid_centre),
        "base_first": base_first,
    }
    return box, diameter_px


def _normalise(image_tzyx: np.ndarray, box: dict[str, Any], notes: list[str]) -> np.ndarray:
    """The cine scaled to [0, 1] by the 1st/99th percentile of the crop regions over every frame."""
    image = image_tzyx.astype(np.float64)
    half = box["side_px"] / 2
    region = []
    for z, (cy, cx) in zip([*box["slices"], box["mid_slice"]], [*box["centres_yx"], box["mid_centre_yx"]]):
        y0, y1 = max(int(cy - half), 0), min(math.ceil(cy + half), image.shape[2])
        x0, x1 = max(int(cx - half), 0), min(math.ceil(cx + half), image.shape[3])
        region.append(image[:, z, y0:y1, x0:x1].ravel())
    p1, p99 = np.percentile(np.concatenate(region), [1, 99])
    if p99 <= p1:
        notes.append("crop region has (almost) constant intensity: normalised by the full range")
        p1, p99 = float(image.min()), float(image.max())
    return np.clip((image - p1) / max(p99 - p1, 1e-12), 0.0, 1.0)


# --------------------------------------------------------------------------- wall thickness


def _endocardial_thickness_px(cavity_zyx: np.ndarray, myo_zyx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wall thickness (pixels) at every endocardial point, with its slice and sector.

    The measurement of :func:`cardiolens.measure.cine.wall_thickness` (distance
    from each myocardium pixel 4-adjacent to the cavity to the nearest pixel
    outside the LV), but keeping the per-point values, which regional
    features (coefficient of variation, sector thickening) need.
    Sector = one of ``_N_SECTORS`` angles around that slice's LV centroid.
    """
    values, slices, sectors = [], [], []
    for z in range(cavity_zyx.shape[0]):
        cav, myo = cavity_zyx[z], myo_zyx[z]
        if not cav.any() or not myo.any():
            continue
        distance = ndimage.distance_transform_edt(np.pad(cav | myo, 1))[1:-1, 1:-1]
        endo = myo & ndimage.binary_dilation(cav, structure=_FOUR_NEIGHBOURS)
        if not endo.any():
            continue
        cy, cx = ndimage.center_of_mass(cav | myo)
        ys, xs = np.nonzero(endo)
        angle = np.arctan2(ys - cy, xs - cx)
        values.append(distance[endo])
        slices.append(np.full(ys.size, z))
        sectors.append(((angle + np.pi) / (2 * np.pi) * _N_SECTORS).astype(int) % _N_SECTORS)
    if not values:
        return np.zeros(0), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(values), np.concatenate(slices), np.concatenate(sectors)


def _sector_means(values: np.ndarray, slices: np.ndarray, sectors: np.ndarray) -> dict[tuple[int, int], float]:
    return {
        (int(z), int(s)): float(values[(slices == z) & (sectors == s)].mean())
        for z, s in set(zip(slices.tolist(), sectors.tolist()))
    }


def _thickness_features(ed: np.ndarray, es: np.ndarray, diameter_px: float) -> dict[str, float]:
    """Relative ED/ES wall thickness, its regional spread and systolic thickening."""
    out = dict.fromkeys(
        (
            "lv_max_thickness_rel", "lv_mean_thickness_rel", "lv_thickness_cv", "lv_es_max_thickness_rel",
            "lv_es_mean_thickness_rel", "lv_thickening_ratio", "lv_sector_thickening_min", "lv_sector_thickening_cv",
        ),
        math.nan,
    )  # fmt: skip
    ed_t = _endocardial_thickness_px(ed == _LV, ed == _MYO)
    es_t = _endocardial_thickness_px(es == _LV, es == _MYO)
    if ed_t[0].size:
        out["lv_max_thickness_rel"] = float(ed_t[0].max()) / diameter_px
        out["lv_mean_thickness_rel"] = float(ed_t[0].mean()) / diameter_px
        out["lv_thickness_cv"] = float(ed_t[0].std() / ed_t[0].mean())
    if es_t[0].size:
        out["lv_es_max_thickness_rel"] = float(es_t[0].max()) / diameter_px
        out["lv_es_mean_thickness_rel"] = float(es_t[0].mean()) / diameter_px
    if ed_t[0].size and es_t[0].size:
        out["lv_thickening_ratio"] = float(es_t[0].mean() / ed_t[0].mean())
        ed_s, es_s = _sector_means(*ed_t), _sector_means(*es_t)
        # Akinetic (infarcted) territories show as sectors that do not thicken.
        ratios = np.array([es_s[k] / ed_s[k] for k in ed_s.keys() & es_s.keys()])
        if ratios.size:
            out["lv_sector_thickening_min"] = float(ratios.min())
            out["lv_sector_thickening_cv"] = float(ratios.std() / ratios.mean())
    return out


# --------------------------------------------------------------------------- feature groups


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else math.nan


def _ed_es_ratios(counts: dict[str, np.ndarray], ed: int, es: int) -> dict[str, float]:
    """EF and volume ratios from the voxel counts at ED and ES."""
    lv, rv, myo = counts["lv"], counts["rv"], counts["myo"]
    return {
        "lv_ef": _ratio(lv[ed] - lv[es], lv[ed]),
        "rv_ef": _ratio(rv[ed] - rv[es], rv[ed]),
        "rv_lv_edv_ratio": _ratio(rv[ed], lv[ed]),
        "rv_lv_esv_ratio": _ratio(rv[es], lv[es]),
        "myo_lv_edv_ratio": _ratio(myo[ed], lv[ed]),
        "myo_lv_esv_ratio": _ratio(myo[es], lv[es]),
    }


def _volume_features(
    cine: CineCMR, counts: dict[str, np.ndarray], ed: int, es: int, notes: list[str]
) -> dict[str, float]:
    """EF, volume ratios and peak rates (EDV per cycle) from voxel counts: spacing cancels."""
    lv, rv = counts["lv"], counts["rv"]
    out = _ed_es_ratios(counts, ed, es)
    timed = cine.trigger_times_ms is not None and cine.rr_interval_ms is not None
    for name, curve_counts in (("lv", lv), ("rv", rv)):
        keys = [
            f"{name}_{k}_edv_cycle"
            for k in ("peak_ejection_rate", "peak_early_filling_rate", "peak_atrial_filling_rate")
        ]
        out.update(dict.fromkeys(keys, math.nan))
        out[f"{name}_es_phase_pct"] = math.nan
        if curve_counts[ed] <= 0 or cine.n_frames < 3:
            notes.append(f"no {name.upper()} volume curve ({name.upper()} empty at ED or < 3 frames)")
            continue
        curve = volume_curve(
            curve_counts.astype(float),
            ventricle=name,
            volume_unit="voxels",
            frame_times_ms=cine.trigger_times_ms if timed else None,
            rr_interval_ms=cine.rr_interval_ms if timed else None,
            ed_frame=ed,
        )
        for key, rate in zip(keys, ("peak_ejection_rate", "peak_early_filling_rate", "peak_atrial_filling_rate")):
            value = curve.rate(rate, "EDV/cycle")
            out[key] = math.nan if value is None else float(value)
        out[f"{name}_es_phase_pct"] = 100.0 * curve.es_phase_fraction
    return out


def _ivpg(cine: CineCMR, masks: np.ndarray, spec: NicmFeatureSpec, base_first: bool) -> IVPGResult:
    segmented = replace(cine, segmentations={t: masks[t] for t in range(cine.n_frames)})
    rr = None if cine.trigger_times_ms is not None else spec.nominal_rr_ms
    order = "base_to_apex" if base_first else "apex_to_base"  # the orientation the crops used
    try:
        return compute_ivpg(segmented, rr_interval_ms=rr, normalise_length=True, slice_order=order)
    except DataError as exc:
        raise type(exc)(cine.source, f"IVPG failed: {exc.problem}") from exc
    except UsageError as exc:
        raise InconsistentGeometryError(cine.source, f"IVPG failed: {exc}") from exc


def _ivpg_feature_dict(result: IVPGResult) -> dict[str, float]:
    """Length-normalised IVPG features; times as % of the cycle, impulses per cycle (mmHg·cycle)."""
    rr_s = result.rr_interval_ms / 1000.0
    out: dict[str, float] = {}
    for key, value in asdict(result.features).items():
        if key.endswith("_time_ms"):
            continue  # the _time_pct twin is kept
        if key.endswith("_mmhg_s"):
            out[f"ivpg_{key[: -len('_mmhg_s')]}_mmhg_cycle_lnorm"] = float(value) / rr_s
        elif key.endswith("_mmhg"):
            out[f"ivpg_{key}_lnorm"] = float(value)
        else:
            out[f"ivpg_{key}"] = float(value)
    phases = result.phases
    for name in ("es", "e_peak", "a_peak"):
        out[f"ivpg_phase_{name}_pct"] = 100.0 * float(getattr(phases, f"{name}_ms")) / result.rr_interval_ms
    return out


def _series(
    result: IVPGResult,
    counts: dict[str, np.ndarray],
    phase_pct: np.ndarray,
    cycle_pct: np.ndarray,
    ed: int,
    notes: list[str],
) -> np.ndarray:
    """The :data:`SERIES_CHANNELS` resampled to ``cycle_pct`` (periodic linear interpolation)."""
    lv, rv, myo = counts["lv"], counts["rv"], counts["myo"]
    if rv[ed] <= 0:
        notes.append("no RV cavity at ED: rv_volume_rel series set to 0, RV features NaN")
    per_frame = [
        lv / lv[ed],
        rv / rv[ed] if rv[ed] > 0 else np.zeros_like(rv),
        rv / lv[ed],  # RV size relative to the LV: RV dilation, which the two curves above normalise away
        np.where(lv > 0, myo / np.maximum(lv, 1.0), 0.0),
    ]
    ivpg_curves = [result.total_mmhg, result.apical_mmhg, result.mid_mmhg, result.basal_mmhg]
    return np.stack(
        [_periodic_resample(c, result.cycle_pct, cycle_pct) for c in ivpg_curves]
        + [_periodic_resample(c, phase_pct, cycle_pct) for c in per_frame]
    ).astype(np.float32)


def _artefacts(cine: CineCMR) -> dict[str, float]:
    image = cine.image
    integer_8bit = bool(np.all(image == np.round(image)) and image.min() >= 0 and image.max() <= 255)
    return {
        "spacing_known": float(cine.spacing_known),
        "intensity_max_raw": float(image.max()),
        "intensity_p99_raw": float(np.percentile(image, 99)),
        "intensity_integer_le_255": float(integer_8bit),
        "n_slices": float(cine.n_slices),
        "n_frames": float(cine.n_frames),
        "matrix_y": float(image.shape[2]),
        "matrix_x": float(image.shape[3]),
        "slice_spacing_mm": float(cine.spacing_mm[0]),
        "pixel_spacing_mm": float(cine.spacing_mm[1]),
    }


# --------------------------------------------------------------------------- entry points


#: The :attr:`StudyFeatures.classical` features that need only the ED and ES masks (no volume curve).
ED_ES_CLASSICAL: Final[tuple[str, ...]] = (
    "lv_ef", "rv_ef", "rv_lv_edv_ratio", "rv_lv_esv_ratio", "myo_lv_edv_ratio", "myo_lv_esv_ratio",
    "lv_max_thickness_rel", "lv_mean_thickness_rel", "lv_thickness_cv", "lv_es_max_thickness_rel",
    "lv_es_mean_thickness_rel", "lv_thickening_ratio", "lv_sector_thickening_min", "lv_sector_thickening_cv",
)  # fmt: skip


def ed_es_classical_features(cine: CineCMR, ed_masks_zyx: np.ndarray, es_masks_zyx: np.ndarray) -> dict[str, float]:
    """The :data:`ED_ES_CLASSICAL` features from ED and ES masks alone (e.g. expert masks of the ED/ES frames).

    Same definitions as in :func:`extract_features`; ``cine`` supplies the
    slice order (metadata) and names the study in errors.
    """
    ed, es = np.asarray(ed_masks_zyx), np.asarray(es_masks_zyx)
    if not (ed == _LV).any():
        raise MissingDataError(cine.source, "no LV cavity (label 3) in the ED mask")
    _, diameter_px = _crop_geometry(cine, ed, NicmFeatureSpec(), [])
    counts = {name: np.array([(ed == label).sum(), (es == label).sum()], float) for name, label in (("lv", _LV), ("rv", _RV), ("myo", _MYO))}
    out = _ed_es_ratios(counts, 0, 1) | _thickness_features(ed, es, diameter_px)
    return {key: out[key] for key in ED_ES_CLASSICAL}


def extract_features(
    cine: CineCMR,
    masks_tzyx: np.ndarray,
    spec: NicmFeatureSpec = NicmFeatureSpec(),
    *,
    radiomics: bool = True,
) -> StudyFeatures:
    """All ``nicm`` inputs of one study (see the module docstring for the invariances).

    Args:
        cine: the cine (t, z, y, x), with ``ed_index`` (and ``es_index``; the
            frame of smallest LV cavity when None) and trigger times if known.
        masks_tzyx: labels on every frame (0 background, 1 RV cavity, 2 LV
            myocardium, 3 LV cavity), shape of ``cine.image``.
        spec: sampling and crop settings.
        radiomics: also compute the pyradiomics features at ED and ES.

    Raises:
        InconsistentGeometryError: masks of another shape or unknown labels.
        NonFiniteValueError: NaN/Inf in the image.
        MissingDataError: no LV cavity at ED; IVPG failures re-raise their
            DataError class with the reason. All name ``cine.source``.
    """
    masks = np.asarray(masks_tzyx)
    es = _check_inputs(cine, masks)
    ed = int(cine.ed_index)
    notes: list[str] = []
    box, diameter_px = _crop_geometry(cine, masks[ed], spec, notes)
    box.update(ed_index=ed, es_index=es)
    slices, centres, side_px = box["slices"], [tuple(c) for c in box["centres_yx"]], box["side_px"]
    mid, mid_centre = box["mid_slice"], tuple(box["mid_centre_yx"])
    normalised = _normalise(cine.image, box, notes)

    phase_pct = _frame_phase_pct(cine)
    if cine.trigger_times_ms is None:
        notes.append(f"no trigger times: frames assumed evenly spaced over a nominal RR of {spec.nominal_rr_ms:g} ms")
    frame_indices = _sample_frames(phase_pct, spec.n_frames)
    frames = np.stack(
        [
            np.stack([_crop(normalised[t, z], c, side_px, spec.crop_px) for z, c in zip(slices, centres)])
            for t in frame_indices
        ]
    ).astype(np.float32)
    ed_crop = _crop(normalised[ed, mid], mid_centre, side_px, spec.crop_px)
    es_crop = _crop(normalised[es, mid], mid_centre, side_px, spec.crop_px)
    ed_es_image = np.stack([ed_crop, es_crop, es_crop - ed_crop]).astype(np.float32)

    # Time series over one cycle from ED.
    counts = {
        name: (masks == label).sum(axis=(1, 2, 3)).astype(float)
        for name, label in (("lv", _LV), ("rv", _RV), ("myo", _MYO))
    }
    result = _ivpg(cine, masks, spec, box["base_first"])
    notes += [n for n in result.notes if n not in notes]
    cycle_pct = 100.0 * np.arange(spec.n_phases) / spec.n_phases
    series = _series(result, counts, phase_pct, cycle_pct, ed, notes)

    classical = _volume_features(cine, counts, ed, es, notes)
    classical.update(_thickness_features(masks[ed], masks[es], diameter_px))
    radiomic: dict[str, float] = {}
    if radiomics:
        from cardiolens.systems.nicm.radiomics_features import radiomics_features

        radiomic.update(radiomics_features(normalised[ed], masks[ed], "ed"))
        radiomic.update(radiomics_features(normalised[es], masks[es], "es"))

    return StudyFeatures(
        subject_id=cine.subject_id,
        source=cine.source,
        frames=frames,
        ed_es_image=ed_es_image,
        series=series,
        cycle_pct=cycle_pct,
        classical=classical,
        radiomics=radiomic,
        artefacts=_artefacts(cine),
        ivpg_features=_ivpg_feature_dict(result),
        frame_indices=frame_indices,
        crop_box=box,
        notes=notes,
    )
