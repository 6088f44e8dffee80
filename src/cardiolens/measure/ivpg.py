"""Intraventricular pressure gradients (IVPG) from a segmented short-axis cine.

Method: METHODS.md §1, "default method" — a 1-D Euler model along the LV long
axis with the flow derived from volume change. It adapts the Doppler Euler
approach (Greenberg & Thomas; Yotti et al., Circulation 2005) to the
short-axis stack; it is not known to be published for CMR, and the CMR IVPG
papers (Vos et al., EHJ-CVI 2023;24:1231, doi:10.1093/ehjci/jead083) use the
different Pedrizzetti hemodynamic-force model on long-axis cines, so values
are not interchangeable with theirs.

Steps (SI units inside; pressures reported in mmHg, 1 mmHg = 133.322 Pa):

1. Axis z runs from the apex (z = 0, assumed fixed) towards the base.
   Without long-axis views the mitral annulus cannot be tracked, so the
   slice extent is the fallback: the Eulerian box [0, L] runs from the
   apical edge of the most apical slab to the basal edge of the most basal
   slab holding LV cavity on any frame (slab = slice centre ± spacing/2).
   The short-axis planes are fixed in the scanner, so their LV blood-pool
   areas A_k(t) (label 3, papillary muscles included) are Eulerian sections.
2. Areas are resampled to a uniform grid with Δz ≤ 2 mm (default 1 mm):
   linear between slice centres (which fall on nodes), constant over the two
   outer half-slabs, so that V(L) equals the disc-summation volume
   Σ A_k·spacing exactly.
3. Cumulative volume V(z,t) = ∫_0^z A dz'; flow through the fixed plane z,
   positive towards the base, Q(z,t) = −∂V(z,t)/∂t. Because the box is fixed,
   Q(L,t) = −dV_LV/dt exactly (``base_flow_ml_s``); Q(0,t) = 0.
4. Section-mean (plug-flow) axial velocity u = Q / max(A, A_min), so u(0) = 0.
   A_min = ``area_floor_fraction`` (5 %) × the largest section area of the
   cycle, for sections that nearly empty (an apical slab obliterated at
   end-systole), where u = Q/A would diverge.
5. The base descends through the top slabs in systole; a slab it has partly
   left keeps only part of its disc area, which is not an LV cross-section,
   and u = Q/A there would be the (meaningless) velocity of the whole stroke
   through a sliver. The instantaneous base L(t) ≤ L is therefore taken where
   the section area, scanned down from the top of the stack, first reaches
   ``base_area_fraction`` (70 %) of the largest section of that instant
   (:func:`effective_base_m`; interpolated, so it moves continuously).
6. Euler equation ∂p/∂z = −ρ(∂u/∂t + u ∂u/∂z), integrated from the apex to
   L(t): ΔP_AB(t) = p_apex − p_base = ρ∫_0^L(t) ∂u/∂t dz (inertial)
   + ρ(u_base² − u_apex²)/2 (convective).
   Segments are thirds of L(t) (apical [0, L/3], mid, basal [2L/3, L]),
   ΔP_seg = ρ∫_seg ∂u/∂t dz + ρ(u_top² − u_bottom²)/2; they sum to the total.
   ρ = 1060 kg/m³. Positive ΔP pushes blood from the apex towards the base
   (ejection acceleration, E-wave deceleration); negative ΔP is suction
   towards the apex (early-diastolic filling acceleration, atrial kick).
7. Time derivatives come from a truncated Fourier series of each slice's
   area over the (periodic) cycle (:mod:`cardiolens.measure.fourier`, 8-10
   harmonics), never from frame differences; everything else is linear in
   the areas, so ∂V/∂t, ∂Q/∂t are exact for the series, and
   ∂u/∂t = ∂Q/∂t / A − Q ∂A/∂t / A² (∂Q/∂t / A_min where the floor applies).

Assumptions: a straight long axis perpendicular to evenly spaced, parallel
slices; plug flow (no vortex, no radial velocity); rigid, fixed apex; no flow
through the walls; one representative cycle. Values depend on the temporal
resolution through the harmonic count.

Spacing unknown (``spacing_known=False``): only the slice spacing matters
(in-plane scale cancels in u = Q/A and the area floor is relative), and ΔP
scales with the square of the length scale. The curves are then reported in
the spacing-invariant, length-normalised form ΔP·(L_ref/L)² — the pressure
difference the same shape and timing would have in an LV of length
L_ref = 90 mm — with ``length_normalised=True`` and key names ending in
``_mmhg_lnorm``. The nicm study reports "IVPG scaled by LV length" without
an exact formula [U]; dividing by L alone would leave ΔP/L ∝ L, so the L²
form is the one that removes an unknown spacing exactly (and keeps values in
physiological mmHg). ``normalise_length=True`` gives the same form for
subjects with known spacing, for cohorts that mix both.

Timing unknown (no trigger times, e.g. ACDC): pass ``rr_interval_ms``; frames
are then assumed evenly spaced over one RR interval starting at ED, and the
result says so in ``timing_source``.

Cycle phases come from the fitted LV volume V_LV(t) = V(L,t): ES = argmin V
(the first sample of the isovolumic plateau, V within 1 % of the stroke
volume of its minimum); E and A = the two largest diastolic peaks of the
filling rate dV/dt. Features are defined in :class:`IVPGFeatures`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import numpy as np

from cardiolens.data.cine import CineCMR
from cardiolens.data.labels import CINE_LABELS
from cardiolens.errors import (
    InconsistentGeometryError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.measure.fourier import fit_periodic
from cardiolens.measure.ivpg_features import (
    CyclePhases,
    IVPGFeatures,
    _features,
    _phases,
)

__all__ = [
    "DEFAULT_AREA_FLOOR_FRACTION",
    "DEFAULT_BASE_AREA_FRACTION",
    "DEFAULT_TEMPLATE_RR_MS",
    "PA_PER_MMHG",
    "REFERENCE_LV_LENGTH_MM",
    "RHO_BLOOD_KG_M3",
    "CyclePhases",
    "EulerTerms",
    "IVPGFeatures",
    "IVPGResult",
    "SectionAreas",
    "cine_section_areas",
    "compute_ivpg",
    "effective_base_m",
    "euler_pressure_difference",
    "ivpg_from_areas",
]

#: Blood density (METHODS.md §1 item 7).
RHO_BLOOD_KG_M3: Final[float] = 1060.0
#: Pascals per mmHg.
PA_PER_MMHG: Final[float] = 133.322
#: Largest allowed grid step along the long axis (METHODS.md §1 item 1).
MAX_DZ_MM: Final[float] = 2.0
#: Section-area floor as a fraction of the largest area of the cycle (see step 4).
DEFAULT_AREA_FLOOR_FRACTION: Final[float] = 0.05
#: The instantaneous base is where the section area first reaches this fraction of
#: the largest section of that instant, scanning down from the top of the stack (step 5).
DEFAULT_BASE_AREA_FRACTION: Final[float] = 0.7
#: LV length of the length-normalised form, in mm (a typical adult ED cavity length).
REFERENCE_LV_LENGTH_MM: Final[float] = 90.0
#: RR interval assumed by the ED/ES template when none is known: 70 bpm.
DEFAULT_TEMPLATE_RR_MS: Final[float] = 60000.0 / 70.0

SliceOrder = Literal["auto", "base_to_apex", "apex_to_base"]
_LV_CAVITY: Final[int] = CINE_LABELS["lv_cavity"]
_SEGMENTS: Final[tuple[str, ...]] = ("apical", "mid", "basal")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class SectionAreas:
    """LV cavity areas of fixed (Eulerian) short-axis sections over one cycle.

    Attributes:
        areas_mm2: shape (n_slices, n_frames); row 0 is the most apical slice,
            rows evenly spaced towards the base; mm² (pixel counts when
            ``spacing_known`` is False).
        slice_spacing_mm: centre-to-centre slice distance in mm (a placeholder
            when ``spacing_known`` is False).
        rr_interval_ms: the cycle length (period of the Fourier fit).
        times_ms: time of each frame after ED, in [0, rr); None = evenly
            spaced from ED (frame 0).
        spacing_known: False when areas and spacing are in voxel units.
        timing_source: how the time axis was obtained (trigger times, assumed RR...).
        subject_id, source: identity and provenance (named in errors).
        notes: caveats carried into the result.
    """

    areas_mm2: np.ndarray
    slice_spacing_mm: float
    rr_interval_ms: float
    times_ms: np.ndarray | None = None
    spacing_known: bool = True
    timing_source: str = "frames evenly spaced over the given RR interval"
    subject_id: str = ""
    source: str = "<memory>"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        areas = np.asarray(self.areas_mm2, dtype=float)
        object.__setattr__(self, "areas_mm2", areas)
        if areas.ndim != 2 or areas.shape[0] < 1 or areas.shape[1] < 5:
            raise InconsistentGeometryError(
                self.source, f"section areas must be (n_slices >= 1, n_frames >= 5), got shape {areas.shape}"
            )
        if not np.isfinite(areas).all():
            raise NonFiniteValueError(self.source, "section areas hold NaN/Inf")
        if (areas < 0).any():
            raise InconsistentGeometryError(self.source, "section areas must not be negative")
        if not areas.any():
            raise MissingDataError(self.source, "no LV cavity in any section on any frame")
        if not (math.isfinite(self.slice_spacing_mm) and self.slice_spacing_mm > 0):
            raise InconsistentGeometryError(self.source, f"slice spacing must be positive, got {self.slice_spacing_mm}")
        if not (math.isfinite(self.rr_interval_ms) and self.rr_interval_ms > 0):
            raise InconsistentGeometryError(self.source, f"RR interval must be positive, got {self.rr_interval_ms} ms")
        if self.times_ms is not None:
            times = np.asarray(self.times_ms, dtype=float)
            object.__setattr__(self, "times_ms", times)
            if times.shape != (areas.shape[1],):
                raise InconsistentGeometryError(
                    self.source, f"{times.size} frame times for {areas.shape[1]} frames of section areas"
                )
            if not (np.isfinite(times).all() and (times >= 0).all() and (times < self.rr_interval_ms).all()):
                raise InconsistentGeometryError(
                    self.source, f"frame times must lie in [0, RR={self.rr_interval_ms:g} ms)"
                )
            if np.unique(times).size != times.size:
                raise InconsistentGeometryError(self.source, "two frames have the same time in the cycle")

    @property
    def n_slices(self) -> int:
        return int(self.areas_mm2.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.areas_mm2.shape[1])

    @property
    def frame_times_ms(self) -> np.ndarray:
        """Frame times after ED (ms), evenly spaced when ``times_ms`` is None."""
        if self.times_ms is not None:
            return self.times_ms
        return np.arange(self.n_frames) * (self.rr_interval_ms / self.n_frames)

    def disc_volumes_ml(self) -> np.ndarray:
        """LV volume per frame by disc summation Σ A_k·spacing (mL; voxels if spacing unknown)."""
        return self.areas_mm2.sum(axis=0) * self.slice_spacing_mm / 1000.0


# --------------------------------------------------------------------------- slice order / extent


def _orient(areas_zt: np.ndarray, order: SliceOrder, metadata_order: Any, source: str) -> tuple[np.ndarray, str]:
    """Rows cropped to the LV extent and flipped to apex -> base, with how the order was decided."""
    present = np.flatnonzero(areas_zt.max(axis=1) > 0)
    if present.size == 0:
        raise MissingDataError(source, "no LV cavity (label 3) on any slice of the masks")
    cropped = areas_zt[present[0] : present[-1] + 1]
    if order == "auto" and metadata_order in ("base_to_apex", "apex_to_base"):
        order, how = metadata_order, f"slice order {metadata_order} (metadata)"
    elif order == "auto":
        # The base cuts the LV near its widest section, the apex where it tapers:
        # the smaller end section (largest over the cycle) is taken as the apex.
        first, last = cropped[0].max(), cropped[-1].max()
        order = "apex_to_base" if first < last else "base_to_apex"
        how = f"slice order {order} (inferred: smaller end section taken as apex)"
    elif order in ("base_to_apex", "apex_to_base"):
        how = f"slice order {order} (given)"
    else:
        raise UsageError(f"slice_order must be auto, base_to_apex or apex_to_base, got {order!r}")
    return (cropped[::-1] if order == "base_to_apex" else cropped), how


def _pixel_area_mm2(spacing_mm: tuple[float, ...], known: bool) -> float:
    return float(spacing_mm[1] * spacing_mm[2]) if known else 1.0


def _cine_timing(cine: CineCMR, rr_interval_ms: float | None) -> tuple[np.ndarray | None, float, str]:
    """Frame times after ED (ms), the period, and a sentence on where they came from."""
    n = cine.n_frames
    if rr_interval_ms is not None and not (math.isfinite(rr_interval_ms) and rr_interval_ms > 0):
        raise UsageError(f"rr_interval_ms must be positive, got {rr_interval_ms!r}")
    if cine.trigger_times_ms is None:
        if rr_interval_ms is None:
            raise MissingDataError(
                cine.source,
                "no trigger times (frame timing unknown); pass rr_interval_ms to assume frames "
                "evenly spaced over one RR interval",
            )
        times = ((np.arange(n) - cine.ed_index) % n) * (rr_interval_ms / n)
        return times, float(rr_interval_ms), (
            f"trigger times unknown: {n} frames assumed evenly spaced over an RR interval of "
            f"{rr_interval_ms:.1f} ms (rr_interval_ms argument)"
        )
    trigger = cine.trigger_times_ms
    rr = float(rr_interval_ms) if rr_interval_ms is not None else cine.rr_interval_ms
    assert rr is not None
    span = float(trigger[-1] - trigger[0])
    if span >= rr:
        raise InconsistentGeometryError(
            cine.source, f"trigger times span {span:.1f} ms, not shorter than the RR interval {rr:.1f} ms"
        )
    times = np.mod(trigger - trigger[cine.ed_index], rr)
    how = "trigger times, RR " + (
        f"{rr:.1f} ms (rr_interval_ms argument)" if rr_interval_ms is not None else f"{rr:.1f} ms (from trigger times)"
    )
    return times, rr, how


def cine_section_areas(
    cine: CineCMR, *, rr_interval_ms: float | None = None, slice_order: SliceOrder = "auto"
) -> SectionAreas:
    """Per-slice LV cavity areas A_k(t) from a cine segmented on every frame.

    Args:
        cine: short-axis cine with ``segmentations`` (CINE_LABELS; LV cavity =
            3, papillary muscles inside it) on every frame.
        rr_interval_ms: cycle length; required when the cine has no trigger
            times (frames are then assumed evenly spaced from ED), optional
            otherwise (default: estimated from the trigger times).
        slice_order: which end of the stack is the base; "auto" uses
            ``cine.metadata["slice_order"]`` when present, else takes the
            smaller end section as the apex.

    Raises:
        MissingDataError: a frame without a mask, no LV cavity on a frame,
            or no timing at all (each names ``cine.source``).
    """
    n = cine.n_frames
    missing = [t for t in range(n) if t not in cine.segmentations]
    if missing:
        raise MissingDataError(
            cine.source,
            f"IVPG needs an LV cavity mask on every frame; {len(missing)} of {n} frames have none "
            f"(first missing: frame {missing[0]}); segment every frame (cine-seg) or use "
            "ed_es_template_areas for ED/ES-only masks",
        )
    counts = np.stack([(cine.segmentations[t] == _LV_CAVITY).sum(axis=(1, 2)) for t in range(n)], axis=1)
    empty = np.flatnonzero(counts.sum(axis=0) == 0)
    if empty.size:
        raise MissingDataError(cine.source, f"frame {int(empty[0])} has no LV cavity (label 3) in its mask")
    times, rr, timing = _cine_timing(cine, rr_interval_ms)
    areas, how = _orient(
        counts * _pixel_area_mm2(cine.spacing_mm, cine.spacing_known),
        slice_order,
        cine.metadata.get("slice_order"),
        cine.source,
    )
    return SectionAreas(
        areas_mm2=areas,
        slice_spacing_mm=float(cine.spacing_mm[0]) if cine.spacing_known else 1.0,
        rr_interval_ms=rr,
        times_ms=times,
        spacing_known=cine.spacing_known,
        timing_source=timing,
        subject_id=cine.subject_id,
        source=cine.source,
        notes=(how, "per-frame segmentations"),
    )


# --------------------------------------------------------------------------- Euler kernel


@dataclass(frozen=True, eq=False)
class EulerTerms:
    """p(z_from) − p(z_to) split into its inertial and convective parts (Pa), one value per time."""

    inertial_pa: np.ndarray
    convective_pa: np.ndarray

    @property
    def total_pa(self) -> np.ndarray:
        return self.inertial_pa + self.convective_pa


def _velocity(
    area_m2: np.ndarray, flow_m3_s: np.ndarray, dflow_dt: np.ndarray, darea_dt: np.ndarray, area_floor_m2: float
) -> tuple[np.ndarray, np.ndarray]:
    """u = Q / max(A, A_min) and its exact time derivative (quotient rule; ∂A/∂t dropped where floored)."""
    floored = area_m2 < area_floor_m2
    a_eff = np.where(floored, area_floor_m2, area_m2)
    u = flow_m3_s / a_eff
    du_dt = (dflow_dt - np.where(floored, 0.0, u * darea_dt)) / a_eff
    return u, du_dt


def _cumtrapz(values: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral along the last axis, starting at 0."""
    steps = 0.5 * (values[..., 1:] + values[..., :-1]) * np.diff(z)
    return np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(steps, axis=-1)], axis=-1)


def _bracket(z: np.ndarray, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node index j with z[j] <= zq < z[j+1] (the last interval for zq = z[-1]) and the weight of node j+1."""
    j = np.clip(np.searchsorted(z, zq, side="right") - 1, 0, z.size - 2)
    return j, (zq - z[j]) / (z[j + 1] - z[j])


def euler_pressure_difference(
    z_m: np.ndarray,
    area_m2: np.ndarray,
    flow_m3_s: np.ndarray,
    dflow_dt_m3_s2: np.ndarray,
    darea_dt_m2_s: np.ndarray,
    *,
    bounds_m: tuple[float | np.ndarray, float | np.ndarray] | None = None,
    area_floor_m2: float = 0.0,
    rho_kg_m3: float = RHO_BLOOD_KG_M3,
) -> EulerTerms:
    """p(a) − p(b) from the 1-D Euler equation for a plug flow along z (METHODS.md §1 items 4-5).

    ``p(a) − p(b) = ρ∫_a^b ∂u/∂t dz + ρ(u(b)² − u(a)²)/2`` with
    ``u = Q / max(A, A_min)`` and ``∂u/∂t`` by the quotient rule. The
    integral is the trapezoid rule on the nodes; between nodes, A, Q and
    their time derivatives are interpolated linearly and u is formed from
    them, so ``ΔP(a, b) + ΔP(b, c) = ΔP(a, c)`` holds to rounding.

    Args:
        z_m: increasing node positions along the axis (m), shape (n_z,).
        area_m2, flow_m3_s, dflow_dt_m3_s2, darea_dt_m2_s: section area A,
            flow Q (positive towards increasing z), ∂Q/∂t and ∂A/∂t, each of
            shape (n_t, n_z) (or (n_z,) for one instant).
        bounds_m: (a, b) in m, each a number or one value per time (n_t,),
            within [z[0], z[-1]]; default the whole axis.
        area_floor_m2: A_min.
        rho_kg_m3: fluid density.

    Returns:
        :class:`EulerTerms` with arrays of shape (n_t,) ((1,) for 1-D input).
    """
    z = np.asarray(z_m, dtype=float)
    if z.ndim != 1 or z.size < 2 or np.any(np.diff(z) <= 0):
        raise UsageError("z_m must be at least two increasing positions")
    fields = [np.atleast_2d(np.asarray(x, dtype=float)) for x in (area_m2, flow_m3_s, dflow_dt_m3_s2, darea_dt_m2_s)]
    if any(f.shape[-1] != z.size for f in fields) or len({f.shape for f in fields}) != 1 or fields[0].ndim != 2:
        raise UsageError(f"area, flow and derivatives must share one shape (n_t, {z.size})")
    n_t = fields[0].shape[0]
    a, b = (z[0], z[-1]) if bounds_m is None else bounds_m
    lo = np.broadcast_to(np.asarray(a, dtype=float), (n_t,))
    hi = np.broadcast_to(np.asarray(b, dtype=float), (n_t,))
    tolerance = 1e-9 * (z[-1] - z[0])
    if np.any(lo < z[0] - tolerance) or np.any(hi > z[-1] + tolerance) or np.any(hi < lo):
        raise UsageError("bounds must satisfy z[0] <= a <= b <= z[-1]")
    _, du_dt = _velocity(*fields, area_floor_m2=area_floor_m2)
    cumulative = _cumtrapz(du_dt, z)

    rows = np.arange(n_t)

    def at(zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∫_z0^zq ∂u/∂t dz, u(zq)) for one position per time."""
        zq = np.clip(zq, z[0], z[-1])
        j, w = _bracket(z, zq)
        values = [f[rows, j] * (1.0 - w) + f[rows, j + 1] * w for f in fields]
        u_q, du_q = _velocity(*values, area_floor_m2=area_floor_m2)
        integral = cumulative[rows, j] + 0.5 * (du_dt[rows, j] + du_q) * (zq - z[j])
        return integral, u_q

    int_lo, u_lo = at(lo)
    int_hi, u_hi = at(hi)
    return EulerTerms(
        inertial_pa=rho_kg_m3 * (int_hi - int_lo),
        convective_pa=0.5 * rho_kg_m3 * (u_hi**2 - u_lo**2),
    )


def effective_base_m(z_m: np.ndarray, area_m2: np.ndarray, base_area_fraction: float) -> np.ndarray:
    """Instantaneous base position L(t) (m): where the section area, scanned from the
    top of the stack down, first reaches ``base_area_fraction`` × the largest section of that instant.

    Slabs the descending base has (partly) left keep only part of their disc
    area; above L(t) they are no longer LV sections and u = Q/A would be
    meaningless there. The crossing is interpolated linearly between nodes,
    so L(t) moves continuously as a basal slab empties.
    """
    area = np.atleast_2d(area_m2)
    threshold = base_area_fraction * area.max(axis=1)
    above = area >= threshold[:, None]
    j = area.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)  # top-most node at or above threshold
    base = z_m[j].astype(float)
    inner = j < area.shape[1] - 1
    rows = np.flatnonzero(inner)
    a_j, a_next = area[rows, j[rows]], area[rows, j[rows] + 1]
    frac = (a_j - threshold[rows]) / np.maximum(a_j - a_next, 1e-300)
    base[rows] = z_m[j[rows]] + np.clip(frac, 0.0, 1.0) * (z_m[j[rows] + 1] - z_m[j[rows]])
    return base


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class IVPGResult:
    """Apex-to-base IVPG over one cycle, its components, segments and features.

    Curves are sampled at ``time_ms`` (evenly over one RR interval from ED;
    ``cycle_pct`` is the same axis in % of RR). Pressures are
    p_apex − p_base in mmHg (length-normalised mmHg when
    ``length_normalised``: ΔP·(reference_length_mm / L)²).

    Attributes:
        total_mmhg: the apex-to-base difference = inertial + convective
            = apical + mid + basal.
        inertial_mmhg, convective_mmhg: ρ∫∂u/∂t dz and ρ(u_base² − u_apex²)/2.
        apical_mmhg, mid_mmhg, basal_mmhg: thirds of the instantaneous base
            L(t), each p(lower boundary) − p(upper boundary).
        lv_volume_ml, base_flow_ml_s: fitted V_LV(t) and Q(L,t) = −dV_LV/dt
            (positive = ejection); None when the spacing is unknown.
        extent_length_mm: the fixed Eulerian extent L (``n_slices`` slabs of
            ``slice_spacing_mm``; the length the normalised form divides by).
        base_position_mm: the instantaneous base L(t) <= L where the Euler
            integral ends (see :func:`effective_base_m`).
        Both are None when the spacing is unknown.
        dz_mm: grid step used (mm; without known spacing, mm of the LV rescaled
            to ``reference_length_mm``); area_floor_mm2: A_min (pixels² when
            the spacing is unknown).
        n_harmonics: harmonics used (requested ones clipped to the frame count).
        timing_source, method, notes: provenance and caveats.
    """

    time_ms: np.ndarray
    cycle_pct: np.ndarray
    total_mmhg: np.ndarray
    inertial_mmhg: np.ndarray
    convective_mmhg: np.ndarray
    apical_mmhg: np.ndarray
    mid_mmhg: np.ndarray
    basal_mmhg: np.ndarray
    lv_volume_ml: np.ndarray | None
    base_flow_ml_s: np.ndarray | None
    features: IVPGFeatures
    phases: CyclePhases
    rr_interval_ms: float
    extent_length_mm: float | None
    base_position_mm: np.ndarray | None
    n_slices: int
    slice_spacing_mm: float | None
    dz_mm: float
    area_floor_mm2: float
    n_harmonics: int
    spacing_known: bool
    length_normalised: bool
    reference_length_mm: float | None
    timing_source: str
    method: str
    subject_id: str = ""
    source: str = "<memory>"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pressure_unit(self) -> str:
        if self.length_normalised:
            return f"mmHg scaled to an LV length of {self.reference_length_mm:g} mm (x (L_ref/L)^2)"
        return "mmHg"

    def to_dict(self, *, include_curves: bool = True) -> dict[str, Any]:
        """JSON-able values, units in the key names.

        Pressure keys end in ``_mmhg`` (``_mmhg_s`` for impulses); in the
        length-normalised form they end in ``_mmhg_lnorm`` (``_mmhg_s_lnorm``)
        so the two can never be mixed up.
        """
        suffix = "_lnorm" if self.length_normalised else ""

        def key(name: str) -> str:
            return name + suffix if name.endswith(("_mmhg", "_mmhg_s")) else name

        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return value if math.isfinite(value) else None
            return value

        out: dict[str, Any] = {
            "subject_id": self.subject_id,
            "source": self.source,
            "method": self.method,
            "pressure_unit": self.pressure_unit,
            "length_normalised": self.length_normalised,
            "reference_length_mm": self.reference_length_mm,
            "spacing_known": self.spacing_known,
            "timing_source": self.timing_source,
            "rr_interval_ms": self.rr_interval_ms,
            "extent_length_mm": self.extent_length_mm,
            "n_slices": self.n_slices,
            "slice_spacing_mm": self.slice_spacing_mm,
            "dz_mm": self.dz_mm,
            "area_floor_mm2" if self.spacing_known else "area_floor_px2": self.area_floor_mm2,
            "n_harmonics": self.n_harmonics,
            "notes": list(self.notes),
        }
        out.update({key(k): clean(float(v)) for k, v in asdict(self.features).items()})
        out.update({f"phase_{k}": clean(float(v)) for k, v in asdict(self.phases).items()})
        if include_curves:
            curves = {
                "time_ms": self.time_ms,
                "cycle_pct": self.cycle_pct,
                "total_mmhg": self.total_mmhg,
                "inertial_mmhg": self.inertial_mmhg,
                "convective_mmhg": self.convective_mmhg,
                "apical_mmhg": self.apical_mmhg,
                "mid_mmhg": self.mid_mmhg,
                "basal_mmhg": self.basal_mmhg,
                "lv_volume_ml": self.lv_volume_ml,
                "base_flow_ml_s": self.base_flow_ml_s,
                "base_position_mm": self.base_position_mm,
            }
            out["curves"] = {
                key(k): None if v is None else [float(x) for x in v] for k, v in curves.items()
            }
        return out


# --------------------------------------------------------------------------- solver


def _grid(n_slices: int, spacing_mm: float, dz_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Uniform nodes (mm) from 0 to the slice extent, step <= dz_mm, with every slice centre on a node."""
    per_slice = 2 * max(1, math.ceil(spacing_mm / (2 * dz_mm) - 1e-9))  # even: centres fall on nodes
    z = np.linspace(0.0, n_slices * spacing_mm, n_slices * per_slice + 1)
    centres = (np.arange(n_slices) + 0.5) * spacing_mm
    return z, centres


def _interpolation_matrix(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """W (n_nodes, n_slices): linear between centres, constant beyond the outer ones (np.interp)."""
    eye = np.eye(centres.size)
    return np.stack([np.interp(z, centres, eye[k]) for k in range(centres.size)], axis=1)


def ivpg_from_areas(
    sections: SectionAreas,
    *,
    n_harmonics: int = 8,
    dz_mm: float = 1.0,
    area_floor_fraction: float = DEFAULT_AREA_FLOOR_FRACTION,
    base_area_fraction: float = DEFAULT_BASE_AREA_FRACTION,
    n_output_samples: int = 100,
    normalise_length: bool | None = None,
    reference_length_mm: float = REFERENCE_LV_LENGTH_MM,
    rho_kg_m3: float = RHO_BLOOD_KG_M3,
) -> IVPGResult:
    """Apex-to-base IVPG from Eulerian section areas A_k(t) (the method in the module docstring).

    Args:
        sections: per-slice LV cavity areas over one cycle, apex first.
        n_harmonics: Fourier harmonics for the time derivatives (8-10
            recommended; clipped to (n_frames − 1) // 2, noted in the result).
        dz_mm: largest grid step along the long axis, 0 < dz <= 2 mm.
        area_floor_fraction: A_min as a fraction of the largest section area of the cycle.
        base_area_fraction: the instantaneous base L(t) is where the section
            area, from the top of the stack down, first reaches this fraction
            of the largest section of that instant (see :func:`effective_base_m`).
        n_output_samples: samples of the output curves over one cycle (>= 20).
        normalise_length: report ΔP·(L_ref/L)²; None = only when the spacing is unknown.
        reference_length_mm: L_ref of the normalised form.
        rho_kg_m3: blood density.

    Returns:
        An :class:`IVPGResult`.
    """
    if not (0 < dz_mm <= MAX_DZ_MM):
        raise UsageError(f"dz_mm must be in (0, {MAX_DZ_MM:g}] mm, got {dz_mm!r}")
    for name, value in (("area_floor_fraction", area_floor_fraction), ("base_area_fraction", base_area_fraction)):
        if not (0 < value < 1):
            raise UsageError(f"{name} must be in (0, 1), got {value!r}")
    if int(n_output_samples) != n_output_samples or n_output_samples < 20:
        raise UsageError(f"n_output_samples must be an integer >= 20, got {n_output_samples!r}")
    if not (reference_length_mm > 0 and rho_kg_m3 > 0):
        raise UsageError("reference_length_mm and rho_kg_m3 must be positive")
    normalise = (not sections.spacing_known) if normalise_length is None else bool(normalise_length)
    if not sections.spacing_known and not normalise:
        raise UsageError(
            f"{sections.source}: spacing unknown, absolute pressures cannot be computed; "
            "use normalise_length=None or True"
        )

    rr = sections.rr_interval_ms
    fit = fit_periodic(sections.areas_mm2.T, n_harmonics, times=sections.frame_times_ms, period=rr)
    t_ms = np.arange(n_output_samples) * (rr / n_output_samples)
    # Areas and their time derivatives per slice (mm², per ms^k) -> SI (m², per s^k).
    per_slice = [fit.derivative(t_ms, order=k) * 1e-6 * 1000.0**k for k in (0, 1, 2)]

    # The length-normalised form is computed on the LV rescaled along z to L_ref: ΔP scales
    # with length² (u = Q/A does not depend on the in-plane scale), and the grid then has
    # the same resolution relative to the LV whatever the (unknown) slice spacing.
    extent_mm = sections.n_slices * sections.slice_spacing_mm
    z_scale = reference_length_mm / extent_mm if normalise else 1.0
    z_mm, centres_mm = _grid(sections.n_slices, sections.slice_spacing_mm * z_scale, dz_mm)
    weights = _interpolation_matrix(z_mm, centres_mm)
    area, darea, d2area = (x @ weights.T for x in per_slice)  # (n_t, n_nodes)
    z_m = z_mm * 1e-3
    volume = _cumtrapz(area, z_m)
    flow = -_cumtrapz(darea, z_m)  # Q(z,t) = −∂V/∂t
    dflow = -_cumtrapz(d2area, z_m)
    area_floor = area_floor_fraction * float(sections.areas_mm2.max()) * 1e-6

    base_m = effective_base_m(z_m, area, base_area_fraction)
    bounds = [base_m * k / 3.0 for k in range(4)]  # thirds of L(t)
    kernel = {"area_floor_m2": area_floor, "rho_kg_m3": rho_kg_m3}
    segments_pa = {
        name: euler_pressure_difference(z_m, area, flow, dflow, darea, bounds_m=(bounds[k], bounds[k + 1]), **kernel)
        for k, name in enumerate(_SEGMENTS)
    }
    whole = euler_pressure_difference(z_m, area, flow, dflow, darea, bounds_m=(bounds[0], bounds[3]), **kernel)

    to_mmhg = 1.0 / PA_PER_MMHG
    inertial, convective = whole.inertial_pa * to_mmhg, whole.convective_pa * to_mmhg
    total = inertial + convective
    segments = {name: terms.total_pa * to_mmhg for name, terms in segments_pa.items()}

    v_lv_ml = volume[:, -1] * 1e6 / z_scale  # back to the true length scale
    rate_ml_s = -flow[:, -1] * 1e6 / z_scale  # dV_LV/dt
    phases, phase_notes = _phases(t_ms, v_lv_ml, rate_ml_s, rr)
    features = _features(t_ms, rr, total, inertial, convective, segments, phases)

    notes = list(sections.notes) + phase_notes
    if fit.clipped:
        notes.append(f"{sections.n_frames} frames determine only {fit.n_harmonics} harmonics ({n_harmonics} requested)")
    if not sections.spacing_known:
        notes.append("voxel spacing unknown: pressures length-normalised, volumes not reported")
    interior_empty = (sections.areas_mm2[1:-1] == 0).any(axis=1) if sections.n_slices > 2 else np.zeros(0, bool)
    if interior_empty.any():
        notes.append(f"{int(interior_empty.sum())} interior slice(s) have no LV cavity on some frame (area floor applies)")

    known = sections.spacing_known
    dz_used = float(z_mm[1] - z_mm[0]) / (z_scale if known else 1.0)
    return IVPGResult(
        time_ms=t_ms,
        cycle_pct=100.0 * t_ms / rr,
        total_mmhg=total,
        inertial_mmhg=inertial,
        convective_mmhg=convective,
        apical_mmhg=segments["apical"],
        mid_mmhg=segments["mid"],
        basal_mmhg=segments["basal"],
        lv_volume_ml=v_lv_ml if known else None,
        base_flow_ml_s=-rate_ml_s if known else None,
        features=features,
        phases=phases,
        rr_interval_ms=float(rr),
        extent_length_mm=extent_mm if known else None,
        base_position_mm=base_m * 1e3 / z_scale if known else None,
        n_slices=sections.n_slices,
        slice_spacing_mm=float(sections.slice_spacing_mm) if known else None,
        dz_mm=dz_used,
        area_floor_mm2=area_floor * 1e6,
        n_harmonics=fit.n_harmonics,
        spacing_known=known,
        length_normalised=normalise,
        reference_length_mm=reference_length_mm if normalise else None,
        timing_source=sections.timing_source,
        method=(
            "1-D Euler along the LV long axis on Eulerian short-axis sections, flow from volume change "
            "(METHODS.md §1); apex fixed, L = slice extent; "
            f"Fourier time derivatives ({fit.n_harmonics} harmonics); rho {rho_kg_m3:g} kg/m3; "
            f"area floor {100 * area_floor_fraction:g} % of max section area"
        ),
        subject_id=sections.subject_id,
        source=sections.source,
        notes=tuple(notes),
    )


def compute_ivpg(
    cine: CineCMR,
    *,
    rr_interval_ms: float | None = None,
    n_harmonics: int = 8,
    dz_mm: float = 1.0,
    area_floor_fraction: float = DEFAULT_AREA_FLOOR_FRACTION,
    base_area_fraction: float = DEFAULT_BASE_AREA_FRACTION,
    normalise_length: bool | None = None,
    slice_order: SliceOrder = "auto",
) -> IVPGResult:
    """IVPG from a cine segmented on every frame (see the module docstring for the method).

    Args:
        cine: cine with spacing, LV cavity masks on every frame and trigger
            times (or ``rr_interval_ms``).
        rr_interval_ms: cycle length in ms; required without trigger times.
        n_harmonics, dz_mm, area_floor_fraction, base_area_fraction, normalise_length:
            as in :func:`ivpg_from_areas`.
        slice_order: as in :func:`cine_section_areas`.

    Raises:
        MissingDataError: masks missing on some frame, or no timing (names ``cine.source``).
    """
    sections = cine_section_areas(cine, rr_interval_ms=rr_interval_ms, slice_order=slice_order)
    return ivpg_from_areas(
        sections,
        n_harmonics=n_harmonics,
        dz_mm=dz_mm,
        area_floor_fraction=area_floor_fraction,
        base_area_fraction=base_area_fraction,
        normalise_length=normalise_length,
    )
