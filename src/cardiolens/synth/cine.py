"""Simulated cine CMR: a short-axis stack over one cardiac cycle for the ACDC groups.

Every subject is a truncated prolate-ellipsoid LV shell with an RV crescent on
the septal side (:mod:`cardiolens.synth.phantom`). Class parameters are drawn
from overlapping distributions:

======  ======================================================================
NOR     cavity radius 26-31 mm, wall 7-10 mm, EF ~50-72 %
DCM     dilated (radius 30-38 mm), thin wall 5.5-8 mm, EF ~12-40 %; one in
        four is mild (radius 28-33 mm, EF ~42-58 %) and overlaps NOR; a third
        have RV dysfunction (overlaps RV)
HCM     small cavity, max wall 16.5-25 mm (asymmetric septal 65 %, concentric
        20 %, other site 15 %), EF ~60-80 %, impaired early filling
MINF    akinetic/dyskinetic, thinned coronary territory (LAD/RCA/LCx); the
        remote wall moves like an LV with EF 38-60 %, so the global EF
        (~28-50 %) follows the infarct size (overlaps DCM)
RV      dilated and hypokinetic RV (50 %), dilated only (30 %, RVEF 40-55 %) or
        hypokinetic only (20 %, RVEF 18-38 %); septal flattening; LV EF ~50-68 %
======  ======================================================================

Motion follows an LV volume curve (ejection to end-systole at 33-42 % of the
RR interval, isovolumic relaxation, rapid filling, diastasis, atrial kick);
the base descends towards the fixed apex, the wall thickens with myocardial
area conserved per angle, and the radial shortening that gives the drawn EF is
solved by disc summation over the actual slice positions.

Nuisance (drawn independently of the class): slice spacing 8-10 mm, in-plane
spacing 1.3-2.0 mm at a 96-pixel matrix (coarser in proportion below 96, see
:func:`~cardiolens.synth.phantom.draw_in_plane_spacing_mm`), heart rate
55-95 bpm, position, in-plane rotation, tissue contrasts, background
(lung/fat/soft tissue), bias field, Rician noise, blur and a log-uniform global
intensity scale.

Absolute volumes are smaller than adult ACDC values: the default 8-slice stack
(64-80 mm) is shorter than an adult LV, and the whole LV is kept inside it.
Ratios (EF) and relative dilation follow the class definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardiolens import SIMULATED_NOTICE
from cardiolens.data.cine import CineCMR
from cardiolens.data.labels import CINE_GROUPS, CINE_LABELS
from cardiolens.errors import UsageError
from cardiolens.synth.phantom import (
    HeartAxes,
    Territory,
    aha_angle,
    angular_noise,
    bias_field,
    cavity_profile,
    check_rng,
    check_size,
    draw_in_plane_spacing_mm,
    draw_territory,
    enclose_cavity,
    log_uniform,
    lv_shell,
    max_wall_thickness_mm,
    rician,
    rv_crescent,
    sax_affine,
    sector_weight,
    tissue_background,
)

#: Myocardial density used for LV mass (g/mL).
MYOCARDIAL_DENSITY_G_PER_ML = 1.05

_SEPTUM_RAD = np.pi / 2
_N_THETA = 96  # angular samples for the analytic volume solver


@dataclass(frozen=True)
class _Anatomy:
    """Class-driven shape and function parameters of one subject (mm, fractions)."""

    endo_eq_mm: float
    ovality: float
    ovality_rad: float
    septal_flattening: float
    wall_mm: float
    wall_irregularity: tuple[float, float, float, float]  # amplitude, phase of 2 harmonics
    hypertrophy_mm: float
    hypertrophy_centre_rad: float
    hypertrophy_half_width_rad: float
    territory: Territory | None
    thinning: float
    akinesia: float
    target_ef: float
    base_descent_mm: float
    early_filling: float
    rv_thickness_mm: float
    rv_perp_scale: float
    rv_offset: float
    rv_target_ef: float
    rv_length_fraction: float


@dataclass(frozen=True)
class CycleTiming:
    """Phases of one cardiac cycle as fractions of the RR interval.

    ``es_phase``: end of ejection; ``relaxation``: isovolumic relaxation;
    ``rapid_filling``: early (E-wave) filling; ``diastasis``: fraction of the
    stroke volume filled slowly before ``atrial_onset`` (start of the kick).
    """

    es_phase: float
    relaxation: float
    rapid_filling: float
    diastasis: float
    atrial_onset: float


def _draw_anatomy(group: str, rng: np.random.Generator) -> _Anatomy:
    """Class parameters; ranges overlap between groups on purpose."""
    u = rng.uniform
    hyp_mm, hyp_centre, hyp_half = u(0.0, 1.2), np.radians(u(70, 110)), np.radians(60.0)  # septum a bit thicker
    territory, thinning, akinesia, flattening = None, 0.0, 0.0, 0.0
    rv_thickness, rv_perp, rv_ef = u(22, 32), u(0.8, 0.95), u(48, 66)
    if group == "NOR":
        endo, wall, ef, descent, early = u(26, 31), u(7.0, 10.0), u(50, 72), u(8, 14), u(0.65, 0.8)
    elif group == "DCM":
        if rng.random() < 0.25:  # mild phenotype, overlaps NOR
            endo, wall, ef = u(28, 33), u(6.5, 8.5), u(42, 58)
        else:
            endo, wall, ef = u(30, 38), u(5.5, 8.0), u(12, 40)
        descent, early = u(2, 7), u(0.72, 0.9)
        if rng.random() < 0.35:  # biventricular involvement, overlaps RV
            rv_thickness, rv_ef = u(26, 36), u(22, 45)
    elif group == "HCM":
        kind = rng.choice(3, p=(0.65, 0.2, 0.15))
        if kind == 0:  # asymmetric septal
            wall = u(8.5, 11.5)
            hyp_mm, hyp_centre, hyp_half = u(16.5, 25) - wall, np.radians(u(60, 115)), np.radians(u(45, 75))
        elif kind == 1:  # concentric
            wall = u(14.5, 18.0)
            hyp_mm = max(16.5 - wall, 0.0) + u(0.5, 3.0)
        else:  # another site (anterior, lateral, inferior)
            wall = u(8.5, 11.5)
            hyp_mm, hyp_centre, hyp_half = u(16.5, 23) - wall, u(-np.pi, np.pi), np.radians(u(40, 70))
        endo, ef, descent, early = u(19, 25), u(60, 80), u(5, 11), u(0.4, 0.6)
        rv_thickness = u(18, 28)
    elif group == "MINF":
        endo, wall, ef, descent, early = u(27, 34), u(7.0, 10.5), u(38, 60), u(4, 10), u(0.6, 0.8)
        territory, thinning, akinesia = draw_territory(rng), u(0.3, 0.55), u(0.85, 1.15)
        if territory.name == "RCA" and rng.random() < 0.3:  # RV infarct extension
            rv_ef = u(35, 50)
    elif group == "RV":
        endo, wall, ef, descent, early = u(25, 30), u(6.5, 9.5), u(50, 68), u(7, 13), u(0.6, 0.8)
        flattening = u(0.05, 0.18)
        kind = rng.choice(3, p=(0.5, 0.3, 0.2))
        if kind == 0:  # RV failure: dilated and hypokinetic
            rv_thickness, rv_perp, rv_ef = u(32, 44), u(0.88, 1.02), u(18, 40)
        elif kind == 1:  # dilated, function preserved or mildly reduced
            rv_thickness, rv_perp, rv_ef = u(32, 44), u(0.88, 1.02), u(40, 55)
        else:  # hypokinetic, hardly dilated (overlaps NOR in size)
            rv_thickness, rv_perp, rv_ef = u(24, 32), u(0.82, 0.97), u(18, 38)
    else:  # pragma: no cover - checked by the caller
        raise UsageError(f"unknown cine group {group!r}")
    return _Anatomy(
        endo_eq_mm=endo,
        ovality=u(0.0, 0.06),
        ovality_rad=u(0, np.pi),
        septal_flattening=flattening,
        wall_mm=wall,
        wall_irregularity=(u(0, 0.6), u(0, 2 * np.pi), u(0, 0.4), u(0, 2 * np.pi)),
        hypertrophy_mm=hyp_mm,
        hypertrophy_centre_rad=float(hyp_centre),
        hypertrophy_half_width_rad=float(hyp_half),
        territory=territory,
        thinning=thinning,
        akinesia=akinesia,
        target_ef=ef / 100.0,
        base_descent_mm=descent,
        early_filling=early,
        rv_thickness_mm=rv_thickness,
        rv_perp_scale=rv_perp,
        rv_offset=u(0.3, 0.42),
        rv_target_ef=rv_ef / 100.0,
        rv_length_fraction=u(0.72, 0.88),
    )


def _draw_timing(heart_rate_bpm: float, rng: np.random.Generator) -> CycleTiming:
    """Phases of the cycle (fractions of RR); systole takes a larger share at higher rates."""
    es = float(np.clip(0.34 + 0.05 * (heart_rate_bpm - 55) / 40 + rng.normal(0, 0.01), 0.33, 0.42))
    return CycleTiming(
        es_phase=es,
        relaxation=rng.uniform(0.04, 0.06),
        rapid_filling=rng.uniform(0.14, 0.2),
        diastasis=rng.uniform(0.03, 0.08),
        atrial_onset=1.0 - rng.uniform(0.12, 0.16),
    )


def ejection_state(phase: np.ndarray, timing: CycleTiming, early_filling: float) -> np.ndarray:
    """Fraction of the stroke volume ejected at each phase (0 at ED, 1 at ES), shape of ``phase``.

    ``phase`` is time after the R wave / RR interval; ``early_filling`` is the
    fraction of the stroke volume refilled in the rapid-filling phase (lower
    with impaired relaxation); the atrial kick refills the rest.
    """
    p = np.asarray(phase, dtype=float)
    es, p1 = timing.es_phase, timing.es_phase + timing.relaxation
    p2 = p1 + timing.rapid_filling
    pa = max(timing.atrial_onset, p2 + 0.03)
    late = 1.0 - early_filling - timing.diastasis
    x_rapid = np.clip((p - p1) / timing.rapid_filling, 0, 1)
    x_atrial = np.clip((p - pa) / (1.0 - pa), 0, 1)
    return np.select(
        [p <= es, p <= p1, p <= p2, p <= pa],
        [
            0.5 * (1 - np.cos(np.pi * p / es)),
            np.ones_like(p),
            1 - early_filling * (1 - (1 - x_rapid) ** 2),  # fast then decelerating (E wave)
            1 - early_filling - timing.diastasis * (p - p2) / (pa - p2),
        ],
        late * 0.5 * (1 + np.cos(np.pi * x_atrial)),  # atrial kick
    )


class _Geometry:
    """LV/RV radii as functions of angle, long-axis level and ejection state."""

    def __init__(self, anatomy: _Anatomy, cavity_length_mm: float, apex_wall_mm: float, equator_u: float) -> None:
        self.a = anatomy
        self.length = cavity_length_mm
        self.apex_wall = apex_wall_mm
        self.equator_u = equator_u
        self.radial_shortening = 0.0
        self.rv_shortening = 0.0
        self.rv_descent = 0.0
        self.infarct_active = True

    def territory_weight(self, theta: np.ndarray, u_ed: np.ndarray) -> np.ndarray:
        if self.a.territory is None or not self.infarct_active:
            return np.zeros(np.broadcast_shapes(np.shape(theta), np.shape(u_ed)))
        return self.a.territory.weight(theta, u_ed)

    def lv_radii(self, theta: np.ndarray, u_ed: np.ndarray, f: np.ndarray, radial: np.ndarray | float | None = None):
        """(equatorial endocardial radius, wall thickness) in mm at ejection state ``f``."""
        a = self.a
        radial = self.radial_shortening if radial is None else radial
        m = self.territory_weight(theta, u_ed)
        endo_ed = a.endo_eq_mm * (1 + a.ovality * np.cos(2 * (theta - a.ovality_rad)))
        endo_ed = endo_ed * (1 - a.septal_flattening * sector_weight(theta, _SEPTUM_RAD, np.radians(45)))
        amp1, ph1, amp2, ph2 = a.wall_irregularity
        wall_ed = (
            a.wall_mm
            + amp1 * np.cos(3 * theta + ph1)
            + amp2 * np.cos(5 * theta + ph2)
            + a.hypertrophy_mm * sector_weight(theta, a.hypertrophy_centre_rad, a.hypertrophy_half_width_rad, 0.6)
        )
        wall_ed = wall_ed * (1 - a.thinning * m)
        motion = 1 - a.akinesia * m  # <0 in a dyskinetic core: bulges outwards in systole
        endo = endo_ed * (1 - radial * motion * f)
        length_ratio = self.length / (self.length - a.base_descent_mm * f)
        stretch = 1 + (length_ratio - 1) * np.clip(motion, 0, 1)
        area = (endo_ed + wall_ed) ** 2 - endo_ed**2  # per-angle wall area; grows as the LV shortens (volume kept)
        wall = np.sqrt(endo**2 + area * stretch) - endo
        return endo, wall

    def base_and_length(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        descent = self.a.base_descent_mm * f
        return descent, self.length - descent

    def lv_radius_at(self, theta, s_mm, f, radial=None):
        """(endocardial, epicardial) radius (mm) at slice level ``s_mm`` (0 above the base)."""
        base, length = self.base_and_length(f)
        endo_eq, wall = self.lv_radii(theta, s_mm / self.length, f, radial)
        apex_wall = self.apex_wall * (1 + 0.3 * self.radial_shortening * f)
        shell = lv_shell(np.zeros(1), endo_eq, wall, s_mm, base, length, apex_wall, self.equator_u)
        return shell.endo_radius_mm, shell.epi_radius_mm

    def rv_shape(self, s_mm, f, rv_shortening=None):
        """(septal epicardial radius, crescent thickness, perpendicular scale) per level and state."""
        a = self.a
        rv_shortening = self.rv_shortening if rv_shortening is None else rv_shortening
        theta_sept = np.full(np.shape(s_mm), _SEPTUM_RAD)
        _, septal_epi = self.lv_radius_at(theta_sept, s_mm, f)
        rv_length = a.rv_length_fraction * self.length
        base = self.rv_descent * f
        u_rv = (s_mm - base) / (rv_length - base)
        thickness = a.rv_thickness_mm * (1 - rv_shortening * f) * cavity_profile(u_rv, 0.1) ** 0.7
        thickness = np.where(septal_epi > 0, thickness, 0.0)  # no RV where the LV has left the slice
        perp = a.rv_perp_scale * (1 - 0.15 * rv_shortening * f)
        return septal_epi, thickness, perp

    # -- analytic disc-summation volumes used to solve for the shortening fractions --

    def lv_volume(self, s_mm: np.ndarray, f: float, radial: np.ndarray) -> np.ndarray:
        theta = np.linspace(-np.pi, np.pi, _N_THETA, endpoint=False)
        endo, _ = self.lv_radius_at(theta[None, None, :], s_mm[None, :, None], f, radial[:, None, None])
        return (0.5 * endo**2).sum(axis=(1, 2)) * (2 * np.pi / _N_THETA)

    def rv_reach(self, theta: np.ndarray, s_mm: np.ndarray, f, rv_shortening=None) -> tuple[np.ndarray, np.ndarray]:
        """Distance (mm) from the LV centre to the RV outline along ``theta``, and the crescent thickness."""
        septal_epi, thickness, perp = self.rv_shape(s_mm, f, rv_shortening)
        centre = self.a.rv_offset * septal_epi
        a_par = np.maximum(septal_epi + thickness - centre, 1e-3)
        a_perp = np.maximum(perp * septal_epi + 0.3 * thickness, 1e-3)
        qa = (np.sin(theta) / a_par) ** 2 + (np.cos(theta) / a_perp) ** 2
        qb = centre * np.sin(theta) / a_par**2
        qc = (centre / a_par) ** 2 - 1
        reach = (qb + np.sqrt(np.clip(qb**2 - qa * qc, 0, None))) / qa  # the LV centre is inside the ellipse
        return reach, thickness

    def rv_volume(self, s_mm: np.ndarray, f: float, rv_shortening: np.ndarray) -> np.ndarray:
        theta = np.linspace(-np.pi, np.pi, _N_THETA, endpoint=False)[None, None, :]
        s = s_mm[None, :, None]
        _, epi = self.lv_radius_at(theta, s, f)
        reach, thickness = self.rv_reach(theta, s, f, rv_shortening[:, None, None])
        area = np.where(thickness > 0.5, 0.5 * np.clip(reach**2 - epi**2, 0, None), 0.0)
        return area.sum(axis=(1, 2)) * (2 * np.pi / _N_THETA)

    def extent_mm(self, axes: HeartAxes, s_mm: np.ndarray, tilt: np.ndarray) -> np.ndarray:
        """(min dy, max dy, min dx, max dx) of the labelled LV + RV at ED, relative to the mid LV centre."""
        theta = np.linspace(-np.pi, np.pi, _N_THETA, endpoint=False)[None, :]
        s = s_mm[:, None]
        _, epi = self.lv_radius_at(theta, s, 0.0)
        reach, thickness = self.rv_reach(theta, s, 0.0)
        outer = np.maximum(epi, np.where(thickness > 0.5, reach, 0.0))
        dy, dx = axes.offset(theta, outer)
        dy = dy + tilt[0] * (s - s_mm.mean())
        dx = dx + tilt[1] * (s - s_mm.mean())
        return np.array([dy.min(), dy.max(), dx.min(), dx.max()])


def _solve(volume_fn, target_ef: float, high: float, f_es: float) -> float:
    """Shortening fraction whose disc-summed EF is ``target_ef`` (clipped to the reachable range).

    ``f_es`` is the ejection state of the sampled end-systolic frame: slices the
    base plane has just crossed make volumes jump, so solve where ES is imaged.
    """
    candidates = np.linspace(0.0, high, 41)
    ed = volume_fn(0.0, candidates)
    es = volume_fn(f_es, candidates)
    ef = 1 - es / np.maximum(ed, 1e-9)
    order = np.argsort(ef)
    return float(np.interp(target_ef, ef[order], candidates[order]))


def simulate_cine(
    group: str,
    rng: np.random.Generator,
    subject_id: str = "",
    *,
    n_frames: int = 25,
    n_slices: int = 8,
    matrix: int = 64,
) -> CineCMR:
    """Simulate one cine short-axis stack (base to apex) of an ACDC-style group.

    Args:
        group: one of :data:`~cardiolens.data.labels.CINE_GROUPS` (NOR, DCM, HCM, MINF, RV).
        rng: the random stream; the same seed gives identical arrays.
        subject_id: stored on the container.
        n_frames: frames over one RR interval (>= 4), equally spaced from the R wave.
        n_slices: short-axis slices from base (index 0) to apex (>= 4).
        matrix: in-plane size in pixels (>= 32).

    Returns:
        A :class:`CineCMR` with float32 images (t, z, y, x), spacing (z, y, x) in
        mm, an oblique short-axis affine, ``trigger_times_ms``, ED = frame 0,
        ES = the frame of minimum LV cavity volume, and label masks
        (:data:`CINE_LABELS`) for every frame; papillary muscles are part of the
        cavity label, as in ACDC. ``metadata`` holds ``simulated`` (True),
        ``group``, ``heart_rate_bpm``, ``slice_order`` and ``truth``:
        lv_edv_ml, lv_esv_ml, lv_sv_ml, lv_ef_pct, lv_mass_g (ED myocardial
        volume x 1.05 g/mL), rv_edv_ml, rv_esv_ml, rv_ef_pct (RV at the LV ES
        frame) and max_wall_thickness_mm (ED, see
        :func:`~cardiolens.synth.phantom.max_wall_thickness_mm`), all counted
        from the label masks, so they are what a perfect segmentation measures.
    """
    if group not in CINE_GROUPS:
        raise UsageError(f"unknown cine group {group!r}; expected one of {', '.join(CINE_GROUPS)}")
    rng = check_rng(rng)
    n_frames = check_size("n_frames", n_frames, 4)
    n_slices = check_size("n_slices", n_slices, 4)
    matrix = check_size("matrix", matrix, 32)

    anatomy = _draw_anatomy(group, rng)

    # --- nuisance: independent of the group ---
    dz = rng.uniform(8.0, 10.0)
    gap = rng.uniform(0.0, 2.0)
    dxy = draw_in_plane_spacing_mm(rng, 1.3, 2.0, matrix)
    heart_rate = rng.uniform(55.0, 95.0)
    timing = _draw_timing(heart_rate, rng)
    axes = HeartAxes.from_rotation(rng.uniform(-np.radians(25), np.radians(25)))
    jitter = rng.uniform(-1.0, 1.0, 2)
    tilt = rng.uniform(-0.06, 0.06, 2)

    # --- long axis: the whole LV (base to the epicardial apex) lies in the stack ---
    first = rng.uniform(0.25, 0.6) * dz
    s_mm = first + dz * np.arange(n_slices)
    apex_wall = float(np.clip(0.8 * (anatomy.wall_mm + 0.3 * anatomy.hypertrophy_mm), 5.0, 14.0))
    epi_length = min(rng.uniform(80.0, 100.0), s_mm[-1] + rng.uniform(0.0, 0.5) * dz)
    geometry = _Geometry(anatomy, epi_length - apex_wall, apex_wall, rng.uniform(0.0, 0.25))
    # MINF: the remote wall moves like a normal LV with the drawn EF; the akinetic territory
    # then lowers the global EF according to its size
    geometry.infarct_active = False
    phase = np.arange(n_frames) / n_frames
    f = ejection_state(phase, timing, anatomy.early_filling)
    f_es = float(f.max())
    geometry.radial_shortening = _solve(lambda f, c: geometry.lv_volume(s_mm, f, c), anatomy.target_ef, 0.6, f_es)
    geometry.infarct_active = True
    geometry.rv_descent = float(np.clip(anatomy.rv_target_ef / 0.6, 0.3, 1.2) * rng.uniform(8, 14))
    geometry.rv_shortening = _solve(
        lambda f, c: geometry.rv_volume(s_mm, f, c), anatomy.rv_target_ef, 0.8, f_es
    )

    # Centre the heart box in the field of view, jittered up to 4 mm where it still fits. A
    # heart larger than the field of view (rare: big DCM/RV at the finest spacing) is
    # shrunk in-plane to fit; its truth is counted from the masks all the same.
    box = geometry.extent_mm(axes, s_mm, tilt)
    size = np.array([box[1] - box[0], box[3] - box[2]])
    usable = (matrix - 4) * dxy
    in_plane_scale = float(min(1.0, usable / size.max()))
    slack = (usable - size * in_plane_scale) / 2
    centre = -np.array([box[0] + box[1], box[2] + box[3]]) / 2 * in_plane_scale + jitter * np.clip(slack, 0.0, 4.0)

    labels, papillary, rv_wall, fat, aorta = _rasterise(
        geometry, axes, s_mm, f, matrix, dxy, centre, tilt * in_plane_scale, in_plane_scale, rng
    )

    spacing = (float(dz), float(dxy), float(dxy))
    image = _render(labels, papillary, rv_wall, fat, aorta, axes, spacing, rng)

    cavity_counts = (labels == CINE_LABELS["lv_cavity"]).sum(axis=(1, 2, 3))
    es_index = int(np.argmin(cavity_counts))
    segmentations = {t: labels[t] for t in range(n_frames)}
    rr_ms = 60000.0 / heart_rate
    metadata = {
        "simulated": True,
        "notice": SIMULATED_NOTICE,
        "group": group,
        "heart_rate_bpm": float(heart_rate),
        "slice_order": "base_to_apex",
        "truth": cine_truth(segmentations, 0, es_index, spacing),
        "anatomy": {
            "septal_direction_yx": axes.septal_yx,
            "anterior_direction_yx": axes.anterior_yx,
            "infarct_territory": None if anatomy.territory is None else anatomy.territory.as_dict(),
            "es_phase_fraction": timing.es_phase,
            "in_plane_scale": in_plane_scale,
        },
    }
    return CineCMR(
        image=image,
        spacing_mm=spacing,
        affine=sax_affine(spacing, labels.shape[1:], axes),
        trigger_times_ms=phase * rr_ms,
        ed_index=0,
        es_index=es_index,
        segmentations=segmentations,
        slice_thickness_mm=round(float(dz - gap), 3),
        subject_id=subject_id,
        source=f"<simulated cine {subject_id or group}>",
        metadata=metadata,
    )


def _rasterise(geometry, axes, s_mm, f, matrix, dxy, centre, tilt, scale, rng):
    """Label masks (t, z, y, x) plus image-only structures: papillary muscles, RV wall, fat, aorta.

    ``scale`` < 1 shrinks the anatomy in-plane (pixels cover ``dxy / scale`` mm of anatomy).
    """
    a = geometry.a
    n_t, n_z = f.size, s_mm.size
    coords = (np.arange(matrix) - (matrix - 1) / 2) * dxy
    centre_y = centre[0] + tilt[0] * (s_mm - s_mm.mean())
    centre_x = centre[1] + tilt[1] * (s_mm - s_mm.mean())
    dy = (coords[None, :, None] - centre_y[:, None, None]) / scale
    dx = (coords[None, None, :] - centre_x[:, None, None]) / scale
    xi, eta = axes.components(dy, dx)
    r = np.hypot(dy, dx)[None]
    theta = aha_angle(xi, eta)[None]
    s4 = s_mm[None, :, None, None]
    f4 = f[:, None, None, None]

    base, length = geometry.base_and_length(f4)
    endo_eq, wall = geometry.lv_radii(theta, s4 / geometry.length, f4)
    apex_wall = geometry.apex_wall * (1 + 0.3 * geometry.radial_shortening * f4)
    shell = lv_shell(r, endo_eq, wall, s4, base, length, apex_wall, geometry.equator_u)
    cavity = shell.cavity
    myocardium = enclose_cavity(cavity, shell.myocardium)

    septal_epi, thickness, perp = geometry.rv_shape(s_mm[None, :, None, None], f4)
    rv, rv_wall = rv_crescent(xi[None], eta[None], septal_epi, thickness, a.rv_offset, perp, rng.uniform(2.5, 4.0))
    lv = cavity | myocardium
    rv &= ~lv
    rv_wall &= ~lv

    labels = np.zeros((n_t, n_z, matrix, matrix), dtype=np.uint8)
    labels[np.broadcast_to(rv, labels.shape)] = CINE_LABELS["rv_cavity"]
    labels[np.broadcast_to(myocardium, labels.shape)] = CINE_LABELS["lv_myocardium"]
    labels[np.broadcast_to(cavity, labels.shape)] = CINE_LABELS["lv_cavity"]

    # papillary muscles: dark blobs inside the cavity, labelled cavity (ACDC convention)
    papillary = np.zeros(labels.shape, dtype=bool)
    for angle in (np.radians(rng.uniform(-70, -30)), np.radians(rng.uniform(-160, -120))):
        endo_p, _ = geometry.lv_radius_at(np.array(angle), s4, f4)
        py, px = axes.offset(np.array(angle), rng.uniform(0.55, 0.7) * endo_p)
        radius = rng.uniform(2.0, 3.5) * np.sqrt(1 + 0.3 * f4)  # thicker when contracted
        near = (dy[None] - py) ** 2 + (dx[None] - px) ** 2 < radius**2
        papillary |= near & (endo_p > 12.0) & cavity

    # epicardial fat in patches outside the LV and RV walls
    fat_width = np.clip(2.0 + 2.5 * angular_noise(theta, rng), 0, 6.0)
    fat = (r >= shell.epi_radius_mm) & (r < shell.epi_radius_mm + fat_width) & ~lv & ~rv & ~rv_wall
    fat &= shell.epi_radius_mm > 0

    # descending aorta: a bright disc behind the LV that is not heart (a classic false positive)
    angle = np.radians(rng.uniform(-170, -135))
    ay, ax = axes.offset(np.array(angle), a.endo_eq_mm + a.wall_mm + rng.uniform(14, 22))
    aorta = ((dy - ay) ** 2 + (dx - ax) ** 2 < rng.uniform(8, 12) ** 2)[None] & (labels == 0) & ~rv_wall
    return labels, papillary, np.broadcast_to(rv_wall, labels.shape), np.broadcast_to(fat, labels.shape), aorta


def _render(labels, papillary, rv_wall, fat, aorta, axes, spacing, rng) -> np.ndarray:
    """bSSFP-like image: bright blood, dark myocardium, textured surroundings, bias, blur, noise."""
    u = rng.uniform
    blood, myo, fat_level = 1.0, u(0.18, 0.32), u(0.7, 0.95)
    shape_zyx = labels.shape[1:]
    bg = tissue_background(shape_zyx, spacing, axes, rng)
    background = bg.compose(lung=u(0.02, 0.08), liver=u(0.2, 0.35), fat=fat_level, soft=u(0.3, 0.5), texture_gain=0.15)
    image = np.broadcast_to(background, labels.shape).astype(np.float32)
    image = np.where(fat, np.float32(fat_level), image)
    image = np.where((labels == CINE_LABELS["lv_myocardium"]) | rv_wall | papillary, np.float32(myo), image)
    blood_map = blood * (1 + 0.04 * bg.texture)  # slow-flow inhomogeneity
    is_blood = ((labels == CINE_LABELS["lv_cavity"]) & ~papillary) | (labels == CINE_LABELS["rv_cavity"]) | aorta
    image = np.where(is_blood, np.broadcast_to(blood_map, labels.shape).astype(np.float32), image)
    image = image * bias_field(shape_zyx, rng, u(0.1, 0.3)).astype(np.float32)
    sigma = u(0.5, 0.8)
    image = ndimage.gaussian_filter(image, (0, 0, sigma, sigma))  # partial volume
    image = rician(image, u(0.02, 0.06), rng)
    return (image * log_uniform(rng, 50.0, 5000.0)).astype(np.float32)


def cine_truth(
    segmentations: dict[int, np.ndarray], ed_index: int, es_index: int, spacing_mm: tuple[float, float, float]
) -> dict[str, float]:
    """Volumes (mL), EF (%), LV mass (g) and max wall thickness (mm) counted from label masks.

    Volumes are voxel counts x voxel volume (disc summation); RV values are
    taken at the same ED/ES frames as the LV.
    """
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    ed, es = segmentations[ed_index], segmentations[es_index]

    def count(mask: np.ndarray, label: str) -> float:
        return float(np.count_nonzero(mask == CINE_LABELS[label])) * voxel_ml

    lv_edv, lv_esv = count(ed, "lv_cavity"), count(es, "lv_cavity")
    rv_edv, rv_esv = count(ed, "rv_cavity"), count(es, "rv_cavity")
    wall = max_wall_thickness_mm(
        ed == CINE_LABELS["lv_cavity"], ed == CINE_LABELS["lv_myocardium"], (spacing_mm[1], spacing_mm[2])
    )
    return {
        "lv_edv_ml": lv_edv,
        "lv_esv_ml": lv_esv,
        "lv_sv_ml": lv_edv - lv_esv,
        "lv_ef_pct": 100.0 * (lv_edv - lv_esv) / lv_edv if lv_edv > 0 else float("nan"),
        "lv_mass_g": count(ed, "lv_myocardium") * MYOCARDIAL_DENSITY_G_PER_ML,
        "rv_edv_ml": rv_edv,
        "rv_esv_ml": rv_esv,
        "rv_ef_pct": 100.0 * (rv_edv - rv_esv) / rv_edv if rv_edv > 0 else float("nan"),
        "max_wall_thickness_mm": wall,
    }
