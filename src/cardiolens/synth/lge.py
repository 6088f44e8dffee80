"""Simulated late-gadolinium-enhancement (LGE) short-axis stacks with scar ground truth.

The LV comes from :func:`~cardiolens.synth.phantom.draw_static_heart` (by
default half of the subjects have HCM-like asymmetric septal hypertrophy,
independent of the pattern). Scar is grown inside the myocardium by ranking a pattern score
and keeping the top voxels, so the realised %LGE equals the requested burden
(to the voxel) whenever the pattern has room for it:

- ``subendocardial``: a coronary territory, inner <= 60 % of the wall, growing
  from the endocardium (ischaemic);
- ``transmural``: a coronary territory, full thickness at the core and
  subendocardial at the edges (the ischaemic wavefront);
- ``midwall``: a stripe in the middle of the wall (septal or lateral), never
  touching the endocardial or epicardial border;
- ``subepicardial``: outer wall, usually inferolateral, never touching the
  endocardium;
- ``patchy``: multifocal blobs, commonest at the RV insertion points and in
  hypertrophied segments (HCM-like);
- ``none``: no scar.

Microvascular obstruction (MVO) is a dark core of larger ischaemic scars:
scar voxels whose in-plane neighbours are all scar, MVO or cavity.

Image (inversion recovery, nulled myocardium): dark remote myocardium; scar
brighter than remote by a per-subject contrast of 6-20 noise SDs with a
dimmer border zone (so n-SD thresholds work, but not perfectly); blood about
as bright as scar (subendocardial scar is hard to tell from the pool); bright
epicardial fat, liver and lung around; bias field, partial-volume blur, Rician
noise and a random global scale. Spacing: in-plane 1.2-1.8 mm (at a 96-pixel
matrix, coarser in proportion below), slice 8-10 mm. Contrast, spacing and
all other nuisance are drawn independently of the pattern.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from scipy import ndimage

from cardiolens import SIMULATED_NOTICE
from cardiolens.data.labels import LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import UsageError
from cardiolens.synth.phantom import (
    StaticHeart,
    bias_field,
    check_rng,
    check_size,
    draw_static_heart,
    draw_territory,
    log_uniform,
    rician,
    sax_affine,
    sector_weight,
    select_top,
    smooth_field,
    tissue_background,
    touching4,
    wrap_angle,
)

#: Scar patterns :func:`simulate_lge` can draw.
LGE_PATTERNS: Final[tuple[str, ...]] = ("none", "subendocardial", "transmural", "midwall", "subepicardial", "patchy")
#: Patterns of ischaemic (coronary) origin; only these can hold MVO.
ISCHAEMIC_PATTERNS: Final[frozenset[str]] = frozenset({"subendocardial", "transmural"})
#: Largest scar burden accepted (% of the myocardium).
MAX_TARGET_PCT: Final[float] = 60.0

# burden drawn when none is requested: (low, high) % of the myocardium
_DEFAULT_BURDEN_PCT = {
    "subendocardial": (3.0, 15.0),
    "transmural": (8.0, 30.0),
    "midwall": (2.0, 12.0),
    "subepicardial": (3.0, 15.0),
    "patchy": (2.0, 25.0),
}
_MVO_PROBABILITY = {"subendocardial": 0.25, "transmural": 0.5}
_MIN_PCT_FOR_RANDOM_MVO = 8.0


def _scar_score(pattern: str, heart: StaticHeart, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(score, eligible mask, description) of a pattern; scar = the top-scoring eligible voxels."""
    dz, dxy, _ = heart.spacing_mm
    noise = smooth_field(heart.theta.shape, (max(6.0 / dz, 0.5), 5.0 / dxy, 5.0 / dxy), rng)
    theta, u, depth = heart.theta, heart.u, heart.depth
    myo = heart.myocardium
    off_endo = ~touching4(heart.cavity)
    off_epi = ~touching4(heart.outside)
    ring = (u >= 0) & (u <= 1)
    if pattern in ISCHAEMIC_PATTERNS:
        territory = draw_territory(rng)
        if pattern == "subendocardial":
            score = territory.score(theta, u) - 3.0 * depth + 0.5 * noise
            eligible = myo & (depth <= 0.6)
        else:
            score = territory.score(theta, u) - 0.8 * depth + 0.35 * noise
            eligible = myo.copy()
        return score, eligible, {"territory": territory.as_dict()}
    if pattern == "midwall":
        septal = rng.random() < 0.7
        centre = np.radians(rng.uniform(60, 120) if septal else rng.uniform(-150, -60))
        score = -0.5 * ((depth - 0.5) / 0.2) ** 2 - (wrap_angle(theta - centre) / np.radians(50)) ** 2
        score = score - ((u - 0.5) / 0.6) ** 2 + 0.5 * noise
        eligible = myo & ring & (depth >= 0.2) & (depth <= 0.8) & off_endo & off_epi
        return score, eligible, {"centre_deg": float(np.degrees(centre))}
    if pattern == "subepicardial":
        centre = np.radians(rng.uniform(-150, -90))
        score = -(((1 - depth) / 0.35) ** 2) - (wrap_angle(theta - centre) / np.radians(50)) ** 2
        score = score - ((u - 0.55) / 0.6) ** 2 + 0.5 * noise
        eligible = myo & ring & (depth >= 0.45) & off_endo
        return score, eligible, {"centre_deg": float(np.degrees(centre))}
    if pattern == "patchy":
        blobs = smooth_field(theta.shape, (max(8.0 / dz, 0.5), 6.0 / dxy, 6.0 / dxy), rng)
        insertion = np.maximum(sector_weight(theta, np.radians(30), 0.35), sector_weight(theta, np.radians(150), 0.35))
        thick = np.clip((heart.wall_mm - 10.0) / 8.0, 0, 1)
        score = blobs + 0.8 * insertion + 0.6 * thick - 2.0 * (depth - 0.5) ** 2 + 0.3 * noise
        return score, myo.copy(), {}
    return np.zeros(theta.shape), np.zeros(theta.shape, dtype=bool), {}


def _mvo_core(scar: np.ndarray, score: np.ndarray, heart: StaticHeart, fraction: float) -> np.ndarray:
    """The highest-scoring scar voxels not in-plane adjacent to normal myocardium or outside the LV."""
    normal = heart.myocardium & ~scar
    candidates = scar & ~touching4(normal) & ~touching4(heart.outside)
    n = int(np.count_nonzero(candidates))
    if n == 0:
        return candidates
    return select_top(score, candidates, max(1, round(fraction * n)))


def simulate_lge(
    pattern: str,
    rng: np.random.Generator,
    subject_id: str = "",
    *,
    target_pct_lge: float | None = None,
    with_mvo: bool | None = None,
    n_slices: int = 10,
    matrix: int = 96,
    hypertrophy_probability: float = 0.5,
) -> CMRVolume:
    """Simulate one LGE short-axis stack (base to apex) with a scar pattern.

    Args:
        pattern: one of :data:`LGE_PATTERNS`.
        rng: the random stream; the same seed gives identical arrays.
        subject_id: stored on the volume.
        target_pct_lge: scar burden, % of the LV myocardium (0-60; MVO counts
            as scar). None draws a typical burden for the pattern. The realised
            value equals it to within one voxel unless the pattern runs out of
            room (it is always reported in ``truth``).
        with_mvo: force (True) or forbid (False) microvascular obstruction;
            None draws it for larger ischaemic scars. Only ischaemic patterns
            can hold MVO.
        n_slices: slices from base (index 0) to apex (>= 4).
        matrix: in-plane size in pixels (>= 32).
        hypertrophy_probability: chance of HCM-like asymmetric septal
            hypertrophy (1.0 for an HCM cohort).

    Returns:
        A :class:`CMRVolume` (modality ``"lge"``, float32, a.u.) with labels in
        :data:`LGE_LABELS` (``label_scheme="lge"``); the RV is not labelled.
        ``metadata``: ``simulated`` (True), ``pattern``, ``with_mvo`` and
        ``truth``: pct_lge = (infarct + MVO) / myocardium x 100, scar_voxels
        (infarct + MVO), mvo_voxels, myocardium_voxels (normal + infarct +
        MVO), scar_volume_ml, mvo_volume_ml, myocardium_volume_ml and the
        requested target_pct_lge.
    """
    if pattern not in LGE_PATTERNS:
        raise UsageError(f"unknown LGE pattern {pattern!r}; expected one of {', '.join(LGE_PATTERNS)}")
    rng = check_rng(rng)
    n_slices = check_size("n_slices", n_slices, 4)
    matrix = check_size("matrix", matrix, 32)
    if target_pct_lge is not None:
        target_pct_lge = float(target_pct_lge)
        if not 0.0 <= target_pct_lge <= MAX_TARGET_PCT:
            raise UsageError(f"target_pct_lge must be in 0-{MAX_TARGET_PCT:g} %, got {target_pct_lge}")
        if pattern == "none" and target_pct_lge > 0:
            raise UsageError("pattern 'none' has no scar; target_pct_lge must be 0 or None")
    if with_mvo and pattern not in ISCHAEMIC_PATTERNS:
        raise UsageError(f"MVO occurs only in ischaemic scar (subendocardial, transmural), not {pattern!r}")

    heart = draw_static_heart(
        rng,
        n_slices=n_slices,
        matrix=matrix,
        in_plane_range_mm=(1.2, 1.8),
        coverage="full",
        hypertrophy_probability=hypertrophy_probability,  # independent of the pattern
    )
    if pattern == "none":
        target = 0.0
    elif target_pct_lge is None:
        target = float(rng.uniform(*_DEFAULT_BURDEN_PCT[pattern]))
    else:
        target = target_pct_lge
    score, eligible, description = _scar_score(pattern, heart, rng)
    n_myo = int(np.count_nonzero(heart.myocardium))
    scar = select_top(score, eligible, round(target / 100.0 * n_myo))

    forced = with_mvo is True
    if with_mvo is None:
        with_mvo = bool(
            pattern in ISCHAEMIC_PATTERNS
            and target >= _MIN_PCT_FOR_RANDOM_MVO
            and rng.random() < _MVO_PROBABILITY[pattern]
        )
    mvo = _mvo_core(scar, score, heart, rng.uniform(0.15, 0.35)) if with_mvo else np.zeros_like(scar)
    if with_mvo and not mvo.any():
        if forced:
            raise UsageError(
                f"a {target:.1f} % scar is too thin to hold a microvascular-obstruction core; raise target_pct_lge"
            )
        with_mvo = False  # drawn, but this scar has no core to put it in

    labels = np.zeros(scar.shape, dtype=np.uint8)
    labels[heart.cavity] = LGE_LABELS["lv_cavity"]
    labels[heart.myocardium] = LGE_LABELS["normal_myocardium"]
    labels[scar] = LGE_LABELS["infarct"]
    labels[mvo] = LGE_LABELS["mvo"]

    image = _render(labels, heart, score, rng)
    spacing = heart.spacing_mm
    metadata = {
        "simulated": True,
        "notice": SIMULATED_NOTICE,
        "pattern": pattern,
        "with_mvo": bool(with_mvo),
        "slice_order": "base_to_apex",
        "truth": {**lge_truth(labels, spacing), "target_pct_lge": target},
        "anatomy": {**heart.anatomy_dict(), "scar": description},
    }
    return CMRVolume(
        image=image,
        modality="lge",
        spacing_mm=spacing,
        affine=sax_affine(spacing, labels.shape, heart.axes),
        labels=labels,
        label_scheme="lge",
        subject_id=subject_id,
        source=f"<simulated lge {subject_id or pattern}>",
        metadata=metadata,
    )


def _render(labels: np.ndarray, heart: StaticHeart, score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inversion-recovery LGE image built from the labels (no label is read back from pixels)."""
    u = rng.uniform
    noise_sd = u(0.015, 0.035)
    remote = u(0.02, 0.08)
    scar_level = remote + u(6.0, 20.0) * noise_sd
    blood = remote + u(6.0, 18.0) * noise_sd  # blood may be brighter or darker than scar
    fat_level = u(0.25, 0.5)

    bg = tissue_background(labels.shape, heart.spacing_mm, heart.axes, rng)
    image = bg.compose(lung=u(0.005, 0.03), liver=u(0.1, 0.3), fat=fat_level, soft=u(0.08, 0.2), texture_gain=0.2)
    image = np.where(heart.epicardial_fat, fat_level, image)
    image = np.where(heart.rv_cavity, blood, image)
    image = np.where(heart.rv_wall, remote, image)
    image = np.where(heart.cavity, blood * (1 + 0.05 * bg.texture), image)
    image = np.where(heart.myocardium | heart.papillary, remote, image)

    scar = (labels == LGE_LABELS["infarct"]) | (labels == LGE_LABELS["mvo"])
    # heterogeneous enhancement: dimmer border zone next to normal myocardium
    hetero = np.clip(0.8 + 0.2 * smooth_field(labels.shape, (0.7, 2.0, 2.0), rng), 0.4, 1.15)
    border = scar & touching4(labels == LGE_LABELS["normal_myocardium"])
    hetero = np.where(border, hetero * u(0.6, 0.85), hetero)
    image = np.where(scar, remote + (scar_level - remote) * hetero, image)
    image = np.where(labels == LGE_LABELS["mvo"], remote * u(0.6, 1.5), image)

    image = image * bias_field(labels.shape, rng, u(0.1, 0.3))
    sigma = u(0.4, 0.7)
    image = ndimage.gaussian_filter(image, (0, sigma, sigma))
    image = rician(image, noise_sd, rng)
    return (image * log_uniform(rng, 20.0, 4000.0)).astype(np.float32)


def lge_truth(labels: np.ndarray, spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    """Scar burden counted from an LGE label mask (MVO counts as scar, as in %LGE)."""
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    infarct = int(np.count_nonzero(labels == LGE_LABELS["infarct"]))
    mvo = int(np.count_nonzero(labels == LGE_LABELS["mvo"]))
    myocardium = int(np.count_nonzero(labels == LGE_LABELS["normal_myocardium"])) + infarct + mvo
    scar = infarct + mvo
    return {
        "pct_lge": 100.0 * scar / myocardium if myocardium else 0.0,
        "scar_voxels": scar,
        "mvo_voxels": mvo,
        "myocardium_voxels": myocardium,
        "scar_volume_ml": scar * voxel_ml,
        "mvo_volume_ml": mvo * voxel_ml,
        "myocardium_volume_ml": myocardium * voxel_ml,
    }
