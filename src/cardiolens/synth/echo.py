"""Simulated apical four-chamber (A4C) B-mode echo clips with wall-motion ground truth.

Method
------
1. Anatomy in heart coordinates (mm): ``u`` runs along the LV long axis from the
   epicardial apex towards the mitral plane, ``v`` across it (v > 0 lateral wall,
   on the image right as in the usual A4C display; v < 0 septum and RV). The LV
   cavity and epicardium are "bullet" shapes: half-width ``W * profile(q)``
   with ``q`` the normalised long-axis position (0 apex, 1 mitral plane). The RV
   lies against the septum, both atria below the atrioventricular plane, and
   thin valve leaflets open in diastole.
2. Motion: a contraction curve ``c(t)`` (0 at end-diastole, 1 at end-systole;
   systole, rapid filling, diastasis, atrial kick) scales each wall's inward
   excursion ``e_global * m_segment``; the base descends towards the apex
   (long-axis shortening) and the wall thickens as the endocardium moves in.
   ``e_global`` is solved from the drawn EF (single-plane area-length volumes
   of a uniformly contracting cavity); ``m_segment`` varies +-8 % between
   people, and a wall-motion abnormality (WMA) removes 50-75 % (hypokinetic)
   or 90-100 % (akinetic) of one segment's excursion. Segments: "apical" = the
   apical cap and both walls up to 30 % of the cavity length (blending out by
   50 %), "septal" / "lateral" = the rest of the septal / lateral wall.
3. Image formation: echogenicity map (pericardium > myocardium > tissue >
   blood) * depth attenuation, complex Gaussian scatterers that decorrelate
   slowly over time (AR(1), i.e. temporally correlated multiplicative speckle),
   a Gaussian point-spread function, Rayleigh electronic noise, gain, log
   compression over a drawn dynamic range, and a fan-shaped sector mask
   (outside the fan is 0).

Nuisance (heart rate, pixel spacing/depth, sector angle, probe and heart
position, gain, dynamic range, attenuation, noise, speckle size) is drawn
before and independently of the labels, in a fixed order: the same seed gives
the same clip apart from what ``wma`` and ``tissue_abnormal`` change.

CMR tissue labels (``tissue_abnormal``: "lge", "t1", "t2", "ecv") barely show
on echo: with ``tissue_effect`` > 0 each abnormal label shifts myocardial
echogenicity by ``tissue_effect * weight`` (weights in
:data:`TISSUE_ECHO_WEIGHTS`, granular so texture changes too). With the
default ``tissue_effect = 0`` they change nothing.

Ground truth in ``metadata``: ``ef_pct`` (area-length EF of the simulated
cavity, so it includes any WMA), ``segment_excursion_mm`` (inward endocardial
excursion ED->ES: apical = apex tip along the long axis, septal/lateral =
across it at mid-ventricle), ``ed_frames``/``es_frames`` and the drawn
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from scipy.ndimage import gaussian_filter

from cardiolens.data.echo import EchoClip
from cardiolens.errors import UsageError

WMA_SEGMENTS: Final[tuple[str, ...]] = ("apical", "septal", "lateral")
#: Echogenicity change per unit ``tissue_effect`` for each abnormal CMR label
#: (fibrosis/expanded ECV scatter more; oedema slightly less).
TISSUE_ECHO_WEIGHTS: Final[dict[str, float]] = {"lge": 1.0, "t1": 0.6, "t2": -0.5, "ecv": 0.8}

# Structure labels and their echogenicity (backscattered power, myocardium = 0.6).
_TISSUE, _PERICARDIUM, _ATRIAL_WALL, _BLOOD, _RV_WALL, _MYOCARDIUM, _VALVE = range(7)
_LABEL_ECHO: Final[np.ndarray] = np.array([0.04, 1.0, 0.4, 0.001, 0.5, 0.6, 0.7], dtype=np.float32)
_PEAK_WIDTH_Q = 0.7  # the cavity is widest at 70 % of its length
_LONG_FRACTION = 0.5  # long-axis shortening is half the radial shortening
_APEX_TRAVEL_MM = 14.0  # apex tip travel (mm) per unit radial excursion fraction


def _profile(q: np.ndarray) -> np.ndarray:
    """Half-width profile along the long axis (0 at the apex, 1 at the widest, 0.85 at the base).

    Apical part: an ellipse quadrant, sqrt(x (2 - x)) with x = q / 0.7; basal part: a
    gentle parabola narrowing to the annulus. Computed in the dtype of ``q``.
    """
    qc = np.minimum(np.maximum(q, 0.0), 1.0)
    x = qc * (1.0 / _PEAK_WIDTH_Q)
    apical = np.sqrt(x * (2.0 - x))
    y = (qc - _PEAK_WIDTH_Q) * (1.0 / (1.0 - _PEAK_WIDTH_Q))
    basal = 1.0 - 0.15 * y * y
    return np.where(x < 1.0, apical, basal)


def _contraction(phase: np.ndarray, systole: float) -> np.ndarray:
    """c(phase): 0 at ED, 1 at ES; rapid filling, diastasis at 0.15, atrial kick back to 0."""
    p = np.mod(phase, 1.0)
    fill_end = systole + 0.2
    c = np.where(p < systole, 0.5 * (1 - np.cos(np.pi * p / systole)), 0.0)
    early = 0.15 + 0.85 * 0.5 * (1 + np.cos(np.pi * (p - systole) / 0.2))
    c = np.where((p >= systole) & (p < fill_end), early, c)
    c = np.where((p >= fill_end) & (p < 0.85), 0.15, c)
    kick = 0.15 * 0.5 * (1 + np.cos(np.pi * (p - 0.85) / 0.15))
    return np.where(p >= 0.85, kick, c)


def _valve_open(phase: np.ndarray, systole: float) -> np.ndarray:
    """Atrioventricular valve opening (0 closed, 1 open): open in diastole, half-closed in diastasis."""
    p = np.mod(phase, 1.0)
    opening = np.clip((p - systole - 0.03) / 0.05, 0.0, 1.0)
    closing = np.clip((0.99 - p) / 0.04, 0.0, 1.0)
    diastasis = 1.0 - 0.4 * np.exp(-0.5 * ((p - (systole + 0.35)) / 0.08) ** 2)
    return opening * closing * diastasis


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.minimum(np.maximum((x - lo) * (1.0 / (hi - lo)), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _segment_multiplier(q: np.ndarray, lateral_side: np.ndarray, m: dict[str, float]) -> np.ndarray:
    """Excursion multiplier at long-axis position q: apical near the apex, else septal/lateral."""
    dtype = q.dtype.type
    apical_weight = 1.0 - _smoothstep(q, 0.3, 0.5)
    side = np.where(lateral_side, dtype(m["lateral"]), dtype(m["septal"]))
    return apical_weight * dtype(m["apical"]) + (1.0 - apical_weight) * side


def _area_length_volume_ml(area_mm2: float, length_mm: float) -> float:
    return 0.85 * area_mm2**2 / length_mm / 1000.0


def _solve_excursion(ef: float, long_fraction: float) -> float:
    """Radial excursion e with EF = 1 - (1-e)^2 (1 - long_fraction*e) (area-length, uniform contraction)."""
    lo, hi = 0.0, 0.9
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if 1 - (1 - mid) ** 2 * (1 - long_fraction * mid) < ef:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _draw_parameters(rng: np.random.Generator, matrix: int) -> dict[str, Any]:
    """Every random scalar, always drawn in the same order whatever the labels are.

    The WMA segment, kind and severity are drawn even without a WMA, so the
    same seed with ``wma`` True or False gives the same heart apart from that
    segment's motion.
    """
    normal_ef = rng.random() < 0.8
    ef = rng.normal(0.60, 0.05) if normal_ef else rng.uniform(0.30, 0.50)
    akinetic = bool(rng.random() < 0.4)
    loss = rng.uniform(0.9, 1.0) if akinetic else rng.uniform(0.5, 0.75)
    p: dict[str, Any] = {
        "ef_target": float(np.clip(ef, 0.25, 0.72)),
        "wma_segment": WMA_SEGMENTS[int(rng.integers(len(WMA_SEGMENTS)))],
        "wma_akinetic": akinetic,
        "wma_loss": float(loss),
        "heterogeneity": {seg: float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2)) for seg in WMA_SEGMENTS},
    }
    ranges = {  # name: (low, high), drawn uniformly in this order
        "heart_rate_bpm": (55.0, 95.0),
        "phase0": (0.0, 1.0),
        "field_of_view_mm": (115.0, 140.0),
        "half_angle_deg": (33.0, 42.0),
        "probe_shift_mm": (-4.0, 4.0),
        "apex_shift_mm": (0.0, 8.0),
        "apex_depth_mm": (10.0, 18.0),
        "tilt_deg": (4.0, 14.0),
        "gain_db": (-3.0, 3.0),
        "dynamic_range_db": (32.0, 42.0),
        "gamma": (1.2, 1.6),
        "attenuation": (0.0, 0.7),
        "noise_level": (0.005, 0.03),
        "speckle_rho": (0.75, 0.92),
        "psf_axial_px": (0.5, 0.8),
        "psf_lateral_px": (0.8, 1.4),
        "lv_length_mm": (64.0, 80.0),
        "lv_half_width_mm": (18.0, 23.0),
        "wall_mm": (8.0, 11.0),
        "rv_width_mm": (13.0, 18.0),
        "rv_apex_fraction": (0.25, 0.4),
        "la_long_mm": (16.0, 21.0),
        "la_across_mm": (15.0, 20.0),
        "ra_long_mm": (14.0, 19.0),
        "ra_across_mm": (13.0, 18.0),
    }
    p.update({name: float(rng.uniform(low, high)) for name, (low, high) in ranges.items()})
    p["spacing_mm"] = p["field_of_view_mm"] / matrix
    p["half_angle_rad"] = float(np.deg2rad(p["half_angle_deg"]))
    p["tilt_rad"] = float(np.deg2rad(p["tilt_deg"]))
    p["la_radii_mm"] = (p["la_long_mm"], p["la_across_mm"])
    p["ra_radii_mm"] = (p["ra_long_mm"], p["ra_across_mm"])
    return p


def _check_inputs(
    tissue_abnormal: dict[str, bool] | None, tissue_effect: float, n_frames: int, matrix: int, fps: float
) -> dict[str, bool]:
    tissue = dict(tissue_abnormal or {})
    unknown = sorted(set(tissue) - set(TISSUE_ECHO_WEIGHTS))
    if unknown:
        raise UsageError(f"tissue_abnormal has unknown key(s) {unknown}; use {sorted(TISSUE_ECHO_WEIGHTS)}")
    if not np.isfinite(tissue_effect) or abs(tissue_effect) > 1.0:
        raise UsageError(f"tissue_effect must be a fraction between -1 and 1, got {tissue_effect}")
    if n_frames < 2:
        raise UsageError(f"n_frames must be at least 2, got {n_frames}")
    if matrix < 32:
        raise UsageError(f"matrix must be at least 32 pixels, got {matrix}")
    if not np.isfinite(fps) or fps <= 0:
        raise UsageError(f"fps must be positive, got {fps}")
    return {k: bool(v) for k, v in tissue.items()}


@dataclass(frozen=True)
class _Motion:
    c: np.ndarray  # contraction per frame, (t,): 0 at ED, 1 at ES
    valve: np.ndarray  # atrioventricular valve opening per frame, (t,)
    e_global: float  # radial excursion fraction of a normal segment
    e_long: float  # long-axis shortening fraction
    multipliers: dict[str, float]  # excursion multiplier per segment (WMA included)


def simulate_echo(
    rng: np.random.Generator,
    subject_id: str = "",
    *,
    wma: bool,
    tissue_abnormal: dict[str, bool] | None = None,
    tissue_effect: float = 0.0,
    n_frames: int = 48,
    matrix: int = 112,
    fps: float = 50.0,
) -> EchoClip:
    """Simulate an A4C-like B-mode clip (uint8, shape (n_frames, matrix, matrix)).

    Args:
        rng: the random stream; the same stream state gives the same clip.
        subject_id: stored on the clip.
        wma: make one segment (apical, septal or lateral, drawn) hypo- or akinetic.
        tissue_abnormal: CMR tissue labels {"lge", "t1", "t2", "ecv"} -> bool.
        tissue_effect: fractional myocardial echogenicity shift per abnormal
            label (times :data:`TISSUE_ECHO_WEIGHTS`); 0 leaves the clip unchanged.
        n_frames: number of frames.
        matrix: image size in pixels (square).
        fps: frame rate in frames per second (with the defaults the clip lasts
            0.96 s, 0.9-1.5 cardiac cycles at 55-95 bpm).

    Returns:
        EchoClip (view "A4C", isotropic ``pixel_spacing_mm``: a 115-140 mm
        field of view over ``matrix`` pixels, 1.03-1.25 mm at 112) whose
        ``metadata`` holds ``simulated``, ``wma``, ``wma_segment`` (None
        without WMA), ``wma_kind``, ``ef_pct``, ``edv_ml``, ``esv_ml``,
        ``heart_rate_bpm``, ``segment_excursion_mm``, ``ed_frames``,
        ``es_frames``, ``tissue_abnormal``, ``tissue_effect``.
    """
    if not isinstance(rng, np.random.Generator):
        raise UsageError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    tissue = _check_inputs(tissue_abnormal, tissue_effect, n_frames, matrix, fps)
    p = _draw_parameters(rng, matrix)
    texture = gaussian_filter(rng.standard_normal((matrix, matrix), dtype=np.float32), 6.0)
    texture /= np.abs(texture).max() + 1e-9

    # Regional excursion multipliers (a WMA removes most of one segment's excursion).
    multipliers = dict(p["heterogeneity"])
    if wma:
        multipliers[p["wma_segment"]] *= 1.0 - p["wma_loss"]
    e_global = _solve_excursion(p["ef_target"], _LONG_FRACTION)
    e_long = _LONG_FRACTION * e_global * 0.5 * (multipliers["septal"] + multipliers["lateral"])

    t_s = np.arange(n_frames) / fps
    rr_s = 60.0 / p["heart_rate_bpm"]
    systole = float(np.clip(0.32 / rr_s, 0.3, 0.5))  # systole lasts ~320 ms whatever the rate
    phase = p["phase0"] + t_s / rr_s
    motion = _Motion(
        c=_contraction(phase, systole).astype(np.float32),
        valve=_valve_open(phase, systole).astype(np.float32),
        e_global=e_global,
        e_long=e_long,
        multipliers=multipliers,
    )

    s = p["spacing_mm"]
    grid = (np.arange(matrix, dtype=np.float32) + 0.5) * np.float32(s)
    py, px = np.meshgrid(grid, grid, indexing="ij")
    probe_x, probe_y = matrix * s / 2 + p["probe_shift_mm"], -s
    dx_mm, dy_mm = px - np.float32(probe_x), py - np.float32(probe_y)
    sector = (np.hypot(dx_mm, dy_mm) <= 0.97 * p["field_of_view_mm"]) & (
        np.abs(np.arctan2(dx_mm, dy_mm)) <= p["half_angle_rad"]
    )
    # Anatomy is only worked out inside the fan; outside it the image is black anyway.
    inside = np.flatnonzero(sector)
    labels = np.full((n_frames, matrix * matrix), _TISSUE, dtype=np.uint8)
    labels[:, inside] = _label_frames(
        p, motion, px.ravel()[inside], py.ravel()[inside], probe_x + p["apex_shift_mm"], p["apex_depth_mm"]
    )
    labels = labels.reshape(n_frames, matrix, matrix)

    echo = _LABEL_ECHO[labels]
    echo = np.where(labels == _TISSUE, _LABEL_ECHO[_TISSUE] * (1.0 + 0.4 * texture), echo)
    myocardium = _myocardium_echo(tissue, tissue_effect, texture)
    if myocardium is not None:
        echo = np.where(labels == _MYOCARDIUM, myocardium, echo)
    frames = _form_image(rng, echo, np.hypot(dx_mm, dy_mm), sector, p)

    truth = _truth(p, motion, systole, rr_s, t_s)
    metadata: dict[str, Any] = {
        "simulated": True,
        "wma": bool(wma),
        "wma_segment": p["wma_segment"] if wma else None,
        "wma_kind": ("akinetic" if p["wma_akinetic"] else "hypokinetic") if wma else None,
        "heart_rate_bpm": round(p["heart_rate_bpm"], 2),
        "tissue_abnormal": tissue,
        "tissue_effect": float(tissue_effect),
        **truth,
    }
    return EchoClip(
        frames=frames,
        fps=float(fps),
        pixel_spacing_mm=(s, s),
        view="A4C",
        subject_id=subject_id,
        source="<simulated>",
        metadata=metadata,
    )


def _label_frames(
    p: dict[str, Any], motion: _Motion, x_mm: np.ndarray, y_mm: np.ndarray, apex_x: float, apex_y: float
) -> np.ndarray:
    """Structure label per frame of the pixels at (x_mm, y_mm) (1-D): shape (t, n), painted back to front."""
    c, e, m = motion.c[:, None], motion.e_global, motion.multipliers
    sin_t, cos_t = np.float32(np.sin(p["tilt_rad"])), np.float32(np.cos(p["tilt_rad"]))
    rel_x, rel_y = x_mm - np.float32(apex_x), y_mm - np.float32(apex_y)
    u = (rel_x * sin_t + rel_y * cos_t)[None]  # along the long axis, mm from the epicardial apex
    v = (rel_x * cos_t - rel_y * sin_t)[None]  # across it, mm (> 0 lateral wall)
    lateral = v > 0

    w0, wall = p["lv_half_width_mm"], p["wall_mm"]
    lb0 = p["lv_length_mm"] + 0.8 * wall  # epicardial apex to mitral plane at ED
    lb = lb0 * (1.0 - motion.e_long * c)  # the base descends towards the still apex
    apex_endo = 0.8 * wall + _APEX_TRAVEL_MM * e * m["apical"] * c

    q_endo = (u - apex_endo) / (lb - apex_endo)
    w_endo = w0 * _profile(q_endo) * (1.0 - e * _segment_multiplier(q_endo, lateral, m) * c)
    cavity = (q_endo >= 0) & (q_endo <= 1) & (np.abs(v) <= w_endo)
    q_epi = u / lb
    # The epicardium moves in by 40 % of the endocardial excursion, so the wall thickens.
    w_epi = _profile(q_epi) * ((w0 + wall) - 0.4 * w0 * e * _segment_multiplier(q_epi, lateral, m) * c)
    epi = (q_epi >= 0) & (q_epi <= 1) & (np.abs(v) <= w_epi)
    q_peri = (u + 3.0) / (lb + 3.0)
    pericardium = (q_peri >= 0) & (q_epi <= 1) & (np.abs(v) <= _profile(q_peri) * (w0 + wall + 3.0))

    # RV against the septum: shorter than the LV; depth measured from the septal epicardium.
    rv_apex = p["rv_apex_fraction"] * lb0
    q_rv = (u - rv_apex) / (lb - rv_apex)
    rv_depth = -v - w_epi
    rv_width = p["rv_width_mm"] * _profile(q_rv) * (1.0 - 0.25 * c)
    rv_zone = (q_rv >= 0) & (q_rv <= 1) & ~lateral & (rv_depth > -1.0)

    # Atria below the atrioventricular plane; they fill while the ventricles empty.
    grow = 1.0 + 0.08 * c
    below = u - lb
    (la_ru, la_rv), (ra_ru, ra_rv) = p["la_radii_mm"], p["ra_radii_mm"]
    ra_v = -(w0 + wall + 0.5 * p["rv_width_mm"])
    la_r = np.hypot(below / (la_ru * grow) - 1.0, (v - 0.45 * w0) / (la_rv * grow))
    ra_r = np.hypot(below / (ra_ru * grow) - 1.0, (v - ra_v) / (ra_rv * grow))
    atrium_r = np.where(below > -1.0, np.minimum(la_r, ra_r), np.inf)

    labels = np.full(cavity.shape, _TISSUE, dtype=np.uint8)
    labels[pericardium] = _PERICARDIUM
    labels[atrium_r <= 1.15] = _ATRIAL_WALL
    labels[atrium_r <= 1.0] = _BLOOD
    labels[rv_zone & (rv_depth <= rv_width + 4.0)] = _RV_WALL
    labels[rv_zone & (rv_depth <= rv_width)] = _BLOOD
    labels[epi] = _MYOCARDIUM
    labels[cavity] = _BLOOD
    leaflets = _leaflet_mask(p, motion, u[0], v[0], lb[:, 0], lb0)
    labels[leaflets] = _VALVE
    return labels


def _leaflet_mask(
    p: dict[str, Any], motion: _Motion, u: np.ndarray, v: np.ndarray, lb: np.ndarray, lb0: float
) -> np.ndarray:
    """Mitral and tricuspid leaflets, 1.8 mm thick: closed they span the orifice (bowed to the
    atrium), open they swing towards the apex. Only pixels near the valve plane are tested."""
    w0, wall, rv_w = p["lv_half_width_mm"], p["wall_mm"], p["rv_width_mm"]
    mitral_half = w0 * 0.85 * (1.0 - 0.5 * motion.e_global * motion.c)
    tricuspid_half = np.full_like(mitral_half, 0.5 * rv_w)
    near = (u > lb0 * (1.0 - motion.e_long) - w0 - 2.0) & (u < lb0 + 0.3 * w0 + 2.0)
    near &= (v > -(w0 + wall + rv_w) - 2.0) & (v < w0 + 2.0)
    uu, vv = u[near][None], v[near][None]
    open_ = motion.valve[:, None]
    hit = np.zeros((len(lb), uu.shape[1]), dtype=bool)
    for centre_v, half in ((0.0, mitral_half), (-(w0 + wall + 0.5 * rv_w), tricuspid_half)):
        for side in (-1.0, 1.0):
            du = (1.0 - open_) * 0.15 - open_
            dv = -side * ((1.0 - open_) + 0.25 * open_)
            norm = np.sqrt(du * du + dv * dv)
            du, dv = du / norm, dv / norm
            rel_u, rel_v = uu - lb[:, None], vv - (centre_v + side * half)[:, None]
            along = np.clip(rel_u * du + rel_v * dv, 0.0, 0.9 * half[:, None])
            hit |= np.hypot(rel_u - along * du, rel_v - along * dv) <= 0.9
    mask = np.zeros((len(lb), *u.shape), dtype=bool)
    mask[:, near] = hit
    return mask


def _myocardium_echo(tissue: dict[str, bool], tissue_effect: float, texture: np.ndarray) -> np.ndarray | None:
    """Myocardial echogenicity shifted (granularly) by abnormal tissue labels; None = unchanged."""
    shift = tissue_effect * sum(TISSUE_ECHO_WEIGHTS[k] for k, abnormal in tissue.items() if abnormal)
    if shift == 0.0:
        return None  # exactly the same clip whatever tissue_abnormal says
    return (_LABEL_ECHO[_MYOCARDIUM] * (1.0 + shift * (1.0 + 0.5 * texture))).astype(np.float32)


def _form_image(
    rng: np.random.Generator, echo: np.ndarray, r_mm: np.ndarray, sector: np.ndarray, p: dict[str, Any]
) -> np.ndarray:
    """Speckle, PSF, noise, gain, log compression and the sector mask -> uint8 frames.

    ``r_mm``: distance of each pixel from the probe (the fan's apex); ``sector``: the fan.
    """
    n_frames, rows, cols = echo.shape
    # Chest-wall clutter near the probe, and imperfect depth-gain compensation.
    depth_gain = (np.exp(-p["attenuation"] * r_mm / 100.0)).astype(np.float32)
    echo = (echo + np.float32(0.5) * np.exp(-r_mm / np.float32(6.0))) * depth_gain

    # Complex scatterers decorrelating slowly from frame to frame (AR(1) in time), so the
    # speckle is multiplicative and temporally correlated.
    rho = np.float32(p["speckle_rho"])
    scatter = rng.standard_normal((n_frames, 2, rows, cols), dtype=np.float32)
    fresh = np.float32(np.sqrt(1.0 - p["speckle_rho"] ** 2))
    for k in range(1, n_frames):
        scatter[k] = rho * scatter[k - 1] + fresh * scatter[k]
    sigma = (0.0, 0.0, p["psf_axial_px"], p["psf_lateral_px"])
    field = gaussian_filter(scatter * np.sqrt(echo)[:, None], sigma=sigma)
    impulse = np.zeros((1, 1, 33, 33), dtype=np.float32)
    impulse[0, 0, 16, 16] = 1.0
    energy = float((gaussian_filter(impulse, sigma=sigma) ** 2).sum())
    envelope = np.sqrt((field[:, 0] ** 2 + field[:, 1] ** 2) * np.float32(1.0 / (2.0 * energy)))
    envelope += rng.rayleigh(p["noise_level"], envelope.shape).astype(np.float32)

    gain = np.float32(10.0 ** (p["gain_db"] / 20.0))
    level_db = np.float32(20.0) * np.log10(envelope * gain + np.float32(1e-6))
    top_db, span_db = 4.0, p["dynamic_range_db"]
    display = np.clip((level_db - np.float32(top_db - span_db)) / np.float32(span_db), 0.0, 1.0)
    frames = np.rint(display ** np.float32(p["gamma"]) * np.float32(255.0)).astype(np.uint8)
    frames[:, ~sector] = 0
    return frames


def _truth(p: dict[str, Any], motion: _Motion, systole: float, rr_s: float, t_s: np.ndarray) -> dict[str, Any]:
    """EF (single-plane area-length), segment excursions (mm), ED/ES frame indices."""
    e, m = motion.e_global, motion.multipliers
    w0, wall = p["lv_half_width_mm"], p["wall_mm"]
    lb0 = p["lv_length_mm"] + 0.8 * wall
    q = np.linspace(0.0, 1.0, 401)
    profile = _profile(q)
    widths_es = sum(
        w0 * profile * (1.0 - e * _segment_multiplier(q, np.full(q.shape, side), m)) for side in (False, True)
    )
    length_ed = lb0 - 0.8 * wall
    length_es = lb0 * (1.0 - motion.e_long) - (0.8 * wall + _APEX_TRAVEL_MM * e * m["apical"])
    edv = _area_length_volume_ml(float(np.trapezoid(2.0 * w0 * profile, q)) * length_ed, length_ed)
    esv = _area_length_volume_ml(float(np.trapezoid(widths_es, q)) * length_es, length_es)
    mid_wall = w0 * float(_profile(np.array([0.6]))[0]) * e
    excursion = {
        "apical": _APEX_TRAVEL_MM * e * m["apical"],
        "septal": mid_wall * m["septal"],
        "lateral": mid_wall * m["lateral"],
    }
    fps = 1.0 / (t_s[1] - t_s[0])
    first, last = p["phase0"], p["phase0"] + t_s[-1] / rr_s

    def frames_at(phase_offset: float) -> list[int]:
        cycles = np.arange(np.floor(first - phase_offset) - 1, np.ceil(last - phase_offset) + 2)
        index = np.rint((cycles + phase_offset - first) * rr_s * fps).astype(int)
        return [int(i) for i in index if 0 <= i < t_s.size]

    return {
        "ef_pct": round(100.0 * (edv - esv) / edv, 2),
        "edv_ml": round(edv, 2),
        "esv_ml": round(esv, 2),
        "segment_excursion_mm": {k: round(float(v), 3) for k, v in excursion.items()},
        "ed_frames": frames_at(0.0),
        "es_frames": frames_at(systole),
    }


__all__ = ["TISSUE_ECHO_WEIGHTS", "WMA_SEGMENTS", "simulate_echo"]
