"""Simulated oxygenation-sensitive (%ΔSI) and native T1/T2 maps for the scar-pattern classes.

One mid-ventricular LV (:func:`~cardiolens.synth.phantom.draw_static_heart`)
per subject; the abnormal myocardium (label 3 of :data:`MAP_LABELS`) comes
from the anatomy of the pattern:

- ``healthy``: none;
- ``ischaemic``: one coronary territory (LAD/RCA/LCx), from the endocardium
  (subendocardial to transmural), 8-30 % of the myocardium, never outside the
  territory;
- ``non_ischaemic``: 1-3 mid-wall or subepicardial patches (septal,
  inferolateral or anywhere), 5-22 %;
- ``oedema``: diffuse: the whole myocardium (one in three) or a broad
  transmural arc of 35-80 %.

Values of the noise-free tissue maps (OS-CMR after Guensch 2014, native T1
after Dabir 2014; ``METHODS.md`` section 6), at 1.5 T:

- healthy myocardium: %ΔSI per-subject mean ~N(8, 1.5) %; T1 ~N(950, 21) ms
  (1052 at 3 T); T2 ~N(50, 2.5) ms (46 at 3 T);
- ischaemic region: %ΔSI -4 to +2 % (blunted or negative); T1 +100-250 ms;
  T2 +0-4 ms (acute, 40 %: +8-15 ms);
- non-ischaemic patches: %ΔSI 3-6 % below the subject's healthy value;
  T1 +50-150 ms; T2 +0-3 ms (active inflammation, 50 %: +4-10 ms);
- oedema: %ΔSI of all myocardium x0.55-0.8 and the region 1-3 % lower still;
  T1 +50-120 ms; T2 +8-20 ms.

T1 rises scale with the normal T1 at 3 T.

Classes differ mostly in where the abnormal tissue is; values overlap
(subject means vary, oedema's global blunting reaches healthy values, and a
third of subjects of every class carry a susceptibility artefact that lowers
%ΔSI in the inferolateral wall without being tissue disease, so it is not
labelled and not in ``truth``). The %ΔSI map is computed from two noisy bSSFP
images (start and end of the breath-hold), so it is noisy where the signal is
low; T1/T2 maps get Gaussian pixel noise and a little partial-volume blur.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from scipy import ndimage

from cardiolens import SIMULATED_NOTICE
from cardiolens.data.labels import MAP_LABELS, SCAR_PATTERNS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import UsageError
from cardiolens.synth.phantom import (
    StaticHeart,
    bias_field,
    check_rng,
    check_size,
    draw_static_heart,
    draw_territory,
    sax_affine,
    select_top,
    smooth_field,
    tissue_background,
    touching4,
    wrap_angle,
)

#: Field strengths with published native-T1 normal ranges (T) and their normal myocardial T1 (ms).
NORMAL_T1_MS: Final[dict[float, float]] = {1.5: 950.0, 3.0: 1052.0}
_NORMAL_T2_MS: Final[dict[float, float]] = {1.5: 50.0, 3.0: 46.0}
_BLOOD_T1_MS: Final[dict[float, tuple[float, float]]] = {1.5: (1500.0, 1650.0), 3.0: (1800.0, 1950.0)}
_ARTEFACT_PROBABILITY = 1 / 3


def _abnormal_region(pattern: str, heart: StaticHeart, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Mask of abnormal myocardium for a pattern, and its description."""
    myo = heart.myocardium
    theta, depth = heart.theta, heart.depth
    dz, dxy, _ = heart.spacing_mm
    noise = smooth_field(myo.shape, (max(6.0 / dz, 0.5), 4.0 / dxy, 4.0 / dxy), rng)
    n_myo = int(np.count_nonzero(myo))
    if pattern == "ischaemic":
        territory = draw_territory(rng)
        score = territory.score(theta, heart.u) - rng.uniform(0.8, 3.0) * depth + 0.4 * noise
        inside = np.abs(wrap_angle(theta - territory.centre_rad)) <= territory.half_width_rad
        region = select_top(score, myo & inside, round(rng.uniform(0.08, 0.3) * n_myo))
        return region, {"territory": territory.as_dict()}
    if pattern == "non_ischaemic":
        score = np.full(myo.shape, -np.inf)
        patches = []
        for _ in range(int(rng.integers(1, 4))):
            site = rng.choice(3, p=(0.5, 0.3, 0.2))
            centre = (rng.uniform(60, 120), rng.uniform(-150, -90), rng.uniform(-180, 180))[site]
            layer = 0.5 if site != 1 else 0.75  # mid-wall, or subepicardial in the inferolateral wall
            half = rng.uniform(20, 45)
            patches.append({"centre_deg": float(centre), "half_width_deg": float(half), "depth": layer})
            one = -((wrap_angle(theta - np.radians(centre)) / np.radians(half)) ** 2) - ((depth - layer) / 0.25) ** 2
            score = np.maximum(score, one)
        eligible = myo & (depth >= 0.15) & ~touching4(heart.cavity)
        region = select_top(score + 0.4 * noise, eligible, round(rng.uniform(0.05, 0.22) * n_myo))
        return region, {"patches": patches}
    if pattern == "oedema":
        if rng.random() < 1 / 3:
            return myo.copy(), {"extent": "global"}
        centre, half = rng.uniform(-180, 180), rng.uniform(70, 140)
        score = -((wrap_angle(theta - np.radians(centre)) / np.radians(half)) ** 2) + 0.3 * noise
        region = select_top(score, myo, round(rng.uniform(0.35, 0.8) * n_myo))
        return region, {"extent": "regional", "centre_deg": float(centre), "half_width_deg": float(half)}
    return np.zeros(myo.shape, dtype=bool), {}


def simulate_parametric_maps(
    pattern: str,
    rng: np.random.Generator,
    subject_id: str = "",
    *,
    n_slices: int = 1,
    matrix: int = 96,
    field_strength_t: float = 1.5,
) -> dict[str, CMRVolume]:
    """Simulate %ΔSI, native T1 and T2 maps of one subject with a scar pattern.

    Args:
        pattern: one of :data:`~cardiolens.data.labels.SCAR_PATTERNS`.
        rng: the random stream; the same seed gives identical arrays.
        subject_id: stored on every volume.
        n_slices: mid-ventricular short-axis slices (>= 1).
        matrix: in-plane size in pixels (>= 32).
        field_strength_t: 1.5 or 3.0 (sets normal T1/T2 and blood T1).

    Returns:
        ``{"os_dsi": ..., "t1": ..., "t2": ...}``: :class:`CMRVolume` objects
        (modalities ``os_dsi`` in %, ``t1`` and ``t2`` in ms) on one grid,
        each with its own copy of the labels (:data:`MAP_LABELS`,
        ``label_scheme="map"``). ``metadata``: ``simulated`` (True),
        ``pattern``, ``field_strength_t`` and ``truth``: abnormal_fraction
        (abnormal / myocardium), abnormal_voxels, myocardium_voxels and
        mean_by_region (noise-free tissue value of the map in lv_cavity,
        normal_myocardium, abnormal_myocardium; None where a region is empty).
    """
    if pattern not in SCAR_PATTERNS:
        raise UsageError(f"unknown scar pattern {pattern!r}; expected one of {', '.join(SCAR_PATTERNS)}")
    rng = check_rng(rng)
    n_slices = check_size("n_slices", n_slices, 1)
    matrix = check_size("matrix", matrix, 32)
    field = float(field_strength_t)
    if field not in NORMAL_T1_MS:
        raise UsageError(
            f"field_strength_t must be 1.5 or 3.0 (normal ranges are known for these), got {field_strength_t}"
        )

    heart = draw_static_heart(
        rng, n_slices=n_slices, matrix=matrix, in_plane_range_mm=(1.2, 1.8), coverage="mid", hypertrophy_probability=0.1
    )
    abnormal, description = _abnormal_region(pattern, heart, rng)
    labels = np.zeros(abnormal.shape, dtype=np.uint8)
    labels[heart.cavity] = MAP_LABELS["lv_cavity"]
    labels[heart.myocardium] = MAP_LABELS["normal_myocardium"]
    labels[abnormal] = MAP_LABELS["abnormal_myocardium"]
    normal = heart.myocardium & ~abnormal
    bg = tissue_background(labels.shape, heart.spacing_mm, heart.axes, rng)
    smooth = smooth_field(labels.shape, (0.7, 2.0, 2.0), rng)  # within-tissue variation shared by the maps

    tissue = {
        "os_dsi": _os_dsi_tissue(pattern, heart, abnormal, normal, bg, smooth, rng),
        "t1": _t1_tissue(pattern, heart, abnormal, normal, bg, smooth, field, rng),
        "t2": _t2_tissue(pattern, heart, abnormal, normal, bg, smooth, field, rng),
    }
    artefact = _susceptibility_artefact(heart, rng) if rng.random() < _ARTEFACT_PROBABILITY else None
    images = {
        "os_dsi": _measure_os_dsi(tissue["os_dsi"], artefact, heart, bg, rng),
        "t1": _measure_relaxation(tissue["t1"], heart, bg, rng.uniform(25, 45), rng),
        "t2": _measure_relaxation(tissue["t2"], heart, bg, rng.uniform(2.5, 4.5), rng),
    }

    spacing = heart.spacing_mm
    affine = sax_affine(spacing, labels.shape, heart.axes)
    n_myo = int(np.count_nonzero(heart.myocardium))
    n_abnormal = int(np.count_nonzero(abnormal))
    anatomy = {**heart.anatomy_dict(), "abnormal_region": description}
    volumes = {}
    for name, true_map in tissue.items():
        truth = {
            "abnormal_fraction": n_abnormal / n_myo if n_myo else 0.0,
            "abnormal_voxels": n_abnormal,
            "myocardium_voxels": n_myo,
            "mean_by_region": {
                region: (float(true_map[labels == value].mean()) if np.any(labels == value) else None)
                for region, value in MAP_LABELS.items()
                if region != "background"
            },
        }
        volumes[name] = CMRVolume(
            image=images[name].astype(np.float32),
            modality=name,  # type: ignore[arg-type]
            spacing_mm=spacing,
            affine=affine.copy(),
            labels=labels.copy(),
            label_scheme="map",
            subject_id=subject_id,
            source=f"<simulated {name} {subject_id or pattern}>",
            metadata={
                "simulated": True,
                "notice": SIMULATED_NOTICE,
                "pattern": pattern,
                "field_strength_t": field,
                "artefact": artefact is not None,
                "truth": truth,
                "anatomy": anatomy,
            },
        )
    return volumes


def _os_dsi_tissue(pattern, heart, abnormal, normal, bg, smooth, rng) -> np.ndarray:
    """True breath-hold %ΔSI per voxel."""
    healthy = float(np.clip(rng.normal(8.0, 1.5), 3.0, 13.0))
    if pattern == "oedema":
        healthy *= rng.uniform(0.55, 0.8)  # oedema blunts the response everywhere
    other = rng.uniform(0.0, 2.0)  # non-cardiac tissue barely responds
    out = bg.compose(lung=0.0, liver=other, fat=other, soft=other, texture_gain=0.3)
    out = np.where(heart.cavity | heart.rv_cavity, rng.uniform(1.0, 5.0), out)
    out = np.where(normal, healthy + 0.8 * smooth, out)
    if pattern == "ischaemic":
        lesion = rng.uniform(-4.0, 2.0) + 1.0 * smooth
    elif pattern == "non_ischaemic":
        lesion = healthy - rng.uniform(3.0, 6.0) + 0.8 * smooth
    else:  # oedema
        lesion = healthy - rng.uniform(1.0, 3.0) + 0.8 * smooth
    return np.where(abnormal, lesion, out)


def _t1_tissue(pattern, heart, abnormal, normal, bg, smooth, field, rng) -> np.ndarray:
    """True native T1 (ms) per voxel."""
    scale = NORMAL_T1_MS[field] / NORMAL_T1_MS[1.5]
    myo = rng.normal(NORMAL_T1_MS[field], 21.0 * scale)
    soft = rng.uniform(550.0, 900.0) * scale
    liver = rng.uniform(560, 640) * (1.4 if field > 2 else 1.0)  # liver T1 rises steeply with field
    out = bg.compose(rng.uniform(1000, 1400), liver, rng.uniform(250, 350) * scale, soft, texture_gain=0.08)
    out = np.where(heart.epicardial_fat, rng.uniform(250, 350) * scale, out)
    out = np.where(heart.cavity | heart.rv_cavity, rng.uniform(*_BLOOD_T1_MS[field]), out)
    out = np.where(normal | heart.rv_wall, myo + 10.0 * smooth, out)
    rise = {"ischaemic": (100, 250), "non_ischaemic": (50, 150), "oedema": (50, 120)}.get(pattern, (0, 0))
    return np.where(abnormal, myo + rng.uniform(*rise) * scale + 20.0 * smooth, out)


def _t2_tissue(pattern, heart, abnormal, normal, bg, smooth, field, rng) -> np.ndarray:
    """True T2 (ms) per voxel."""
    myo = rng.normal(_NORMAL_T2_MS[field], 2.5)
    u = rng.uniform
    out = bg.compose(lung=u(20, 80), liver=u(35, 45), fat=u(60, 90), soft=u(30, 50), texture_gain=0.08)
    out = np.where(heart.epicardial_fat, rng.uniform(60, 90), out)
    out = np.where(heart.cavity | heart.rv_cavity, rng.uniform(150, 230), out)
    out = np.where(normal | heart.rv_wall, myo + 1.0 * smooth, out)
    if pattern == "oedema":
        rise = rng.uniform(8, 20)
    elif pattern == "ischaemic":
        rise = rng.uniform(8, 15) if rng.random() < 0.4 else rng.uniform(0, 4)  # acute vs chronic
    elif pattern == "non_ischaemic":
        rise = rng.uniform(4, 10) if rng.random() < 0.5 else rng.uniform(0, 3)  # active inflammation or not
    else:
        rise = 0.0
    return np.where(abnormal, myo + rise + 1.5 * smooth, out)


def _susceptibility_artefact(heart: StaticHeart, rng: np.random.Generator) -> np.ndarray:
    """%ΔSI drop (>= 0) of an inferolateral off-resonance artefact: not disease, not labelled."""
    centre = np.radians(rng.uniform(-140, -100))
    half = np.radians(rng.uniform(20, 35))
    weight = np.clip(1 - np.abs(wrap_angle(heart.theta - centre)) / half, 0, 1) * np.clip(heart.depth + 0.3, 0, 1)
    return rng.uniform(2.0, 5.0) * weight * heart.myocardium


def _measure_os_dsi(true_map, artefact, heart, bg, rng) -> np.ndarray:
    """%ΔSI from two noisy bSSFP images (start and end of the breath-hold)."""
    u = rng.uniform
    signal = bg.compose(lung=u(0.02, 0.08), liver=u(0.2, 0.35), fat=u(0.7, 0.95), soft=u(0.3, 0.5), texture_gain=0.15)
    signal = np.where(heart.epicardial_fat, u(0.7, 0.95), signal)
    signal = np.where(heart.cavity | heart.rv_cavity, 1.0, signal)
    signal = np.where(heart.myocardium | heart.rv_wall | heart.papillary, u(0.22, 0.35), signal)
    signal = signal * bias_field(signal.shape, rng, u(0.1, 0.3))
    change = true_map - (0.0 if artefact is None else artefact)
    sigma = u(0.006, 0.012)
    start = signal + sigma * rng.standard_normal(signal.shape)
    end = signal * (1 + change / 100.0) + sigma * rng.standard_normal(signal.shape)
    dsi = (end - start) / np.maximum(start, 0.01) * 100.0
    dsi = ndimage.gaussian_filter(np.clip(dsi, -60.0, 60.0), (0, 0.5, 0.5))  # registration/interpolation
    return dsi


def _measure_relaxation(true_map, heart, bg, noise_ms, rng) -> np.ndarray:
    """Fitted relaxation map: partial-volume blur plus Gaussian pixel noise (lung is noisier)."""
    sigma = rng.uniform(0.4, 0.7)
    blurred = ndimage.gaussian_filter(true_map, (0, sigma, sigma))
    noise = noise_ms * rng.standard_normal(true_map.shape) * np.where(bg.lung & ~heart.myocardium, 4.0, 1.0)
    return np.clip(blurred + noise, 0.0, None)
