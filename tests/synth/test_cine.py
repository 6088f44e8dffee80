"""Simulated cine CMR: determinism, container contract, anatomy, truth and class-level physiology."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.data.labels import CINE_GROUPS, CINE_LABELS
from cardiolens.errors import UsageError
from cardiolens.synth.cine import CycleTiming, ejection_state, simulate_cine
from cardiolens.synth.phantom import max_wall_thickness_mm

from .adjacency import touching

RV, MYO, CAV = CINE_LABELS["rv_cavity"], CINE_LABELS["lv_myocardium"], CINE_LABELS["lv_cavity"]
N_PER_GROUP = 20


def sector_thickness_mm(label2d: np.ndarray, spacing_mm: float, n_sectors: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Mean wall thickness per angular sector about the cavity centroid: area / (angle x mid radius).

    Returns the thickness (mm) and the sector centre angles as (dy, dx) unit vectors.
    """
    cy, cx = np.argwhere(label2d == CAV).mean(axis=0)
    yy, xx = np.nonzero(label2d == MYO)
    angle = np.arctan2(yy - cy, xx - cx)
    radius = np.hypot(yy - cy, xx - cx)
    sector = ((angle + np.pi) / (2 * np.pi) * n_sectors).astype(int) % n_sectors
    area_mm2 = np.array([np.count_nonzero(sector == k) for k in range(n_sectors)]) * spacing_mm**2
    mid_radius_mm = np.array([radius[sector == k].mean() for k in range(n_sectors)]) * spacing_mm
    thickness = area_mm2 / (2 * np.pi / n_sectors * mid_radius_mm)
    centres = -np.pi + (np.arange(n_sectors) + 0.5) * 2 * np.pi / n_sectors
    return thickness, np.stack([np.sin(centres), np.cos(centres)], axis=1)


@pytest.fixture(scope="module")
def cohort() -> dict[str, list[dict]]:
    """20 subjects per group (10 frames to keep it quick); keeps only what the tests need."""
    out: dict[str, list[dict]] = {}
    for group in CINE_GROUPS:
        rows = []
        for seed in range(N_PER_GROUP):
            cine = simulate_cine(group, np.random.default_rng([seed, 7]), f"{group}{seed}", n_frames=10)
            rows.append(
                {
                    "truth": cine.metadata["truth"],
                    "anatomy": cine.metadata["anatomy"],
                    "ed": cine.segmentations[cine.ed_index],
                    "es": cine.segmentations[cine.es_index],
                    "spacing": cine.spacing_mm,
                    "p99": float(np.percentile(cine.image, 99)),
                    "heart_rate": cine.metadata["heart_rate_bpm"],
                }
            )
        out[group] = rows
    return out


def values(cohort: dict[str, list[dict]], group: str, key: str) -> np.ndarray:
    return np.array([row["truth"][key] for row in cohort[group]])


# --- determinism and the container ------------------------------------------------------------


def test_same_seed_gives_identical_arrays_and_another_seed_differs() -> None:
    a = simulate_cine("MINF", np.random.default_rng(3), n_frames=8)
    b = simulate_cine("MINF", np.random.default_rng(3), n_frames=8)
    c = simulate_cine("MINF", np.random.default_rng(4), n_frames=8)
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(a.segmentations[t], b.segmentations[t]) for t in range(8))
    assert a.metadata["truth"] == b.metadata["truth"]
    assert np.array_equal(a.affine, b.affine)
    assert not np.array_equal(a.image, c.image)
    assert a.metadata["truth"] != c.metadata["truth"]


def test_container_geometry_timing_and_metadata() -> None:
    cine = simulate_cine("NOR", np.random.default_rng(11), "SUBJ")
    assert cine.image.shape == (25, 8, 64, 64) and cine.image.dtype == np.float32
    assert cine.subject_id == "SUBJ"
    dz, dy, dx = cine.spacing_mm
    assert 8.0 <= dz <= 10.0 and dy == dx
    assert 1.3 * 1.5 <= dy <= 2.0 * 1.5  # 64-pixel matrix: the 96-pixel range scaled by 96/64
    assert cine.slice_thickness_mm is not None and cine.slice_thickness_mm <= dz
    assert sorted(cine.segmentations) == list(range(25))
    assert cine.ed_index == 0
    cavity = [np.count_nonzero(cine.segmentations[t] == CAV) for t in range(25)]
    assert cine.es_index == int(np.argmin(cavity)) and cavity[0] == max(cavity)
    hr = cine.metadata["heart_rate_bpm"]
    assert 55 <= hr <= 95
    assert cine.rr_interval_ms == pytest.approx(60000 / hr, rel=1e-6)
    assert 0.3 <= cine.trigger_times_ms[cine.es_index] / cine.rr_interval_ms <= 0.46
    assert cine.metadata["simulated"] is True and cine.metadata["group"] == "NOR"
    assert cine.metadata["slice_order"] == "base_to_apex"
    # affine columns carry the spacing (voxel (x, y, z) -> mm)
    assert np.allclose(np.linalg.norm(cine.affine[:3, :3], axis=0), [dx, dy, dz])
    # a base-to-apex stack shown in the standard view is left-handed, as real ones are,
    # and its long axis points from the base to the apex: left, anterior and inferior in RAS+
    assert np.linalg.det(cine.affine[:3, :3]) < 0
    long_axis = cine.affine[:3, 2]
    assert long_axis[0] < 0 and long_axis[1] > 0 and long_axis[2] < 0


def test_finer_spacing_range_at_the_reference_matrix() -> None:
    spacing = [simulate_cine("HCM", np.random.default_rng(s), n_frames=4, matrix=96).spacing_mm[1] for s in range(4)]
    assert all(1.3 <= s <= 2.0 for s in spacing)


def test_ejection_state_is_zero_at_ed_one_at_es_and_refills() -> None:
    timing = CycleTiming(es_phase=0.37, relaxation=0.05, rapid_filling=0.16, diastasis=0.05, atrial_onset=0.86)
    phase = np.linspace(0, 0.999, 500)
    f = ejection_state(phase, timing, early_filling=0.7)
    assert f[0] == pytest.approx(0.0) and f.max() == pytest.approx(1.0)
    assert phase[np.argmax(f)] == pytest.approx(0.37, abs=0.01)
    assert np.all(np.diff(f[phase <= 0.37]) >= 0)  # ejection only
    after = f[(phase > 0.42) & (phase < 0.58)]
    assert after[0] - after[-1] > 0.6  # rapid filling fills most of the stroke volume
    assert f[-1] < 0.05  # the atrial kick completes filling


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group": "HOCM"},
        {"group": "NOR", "n_frames": 2},
        {"group": "NOR", "n_slices": 3},
        {"group": "NOR", "matrix": 16},
    ],
)
def test_bad_arguments_raise_usage_error(kwargs: dict) -> None:
    group = kwargs.pop("group")
    with pytest.raises(UsageError):
        simulate_cine(group, np.random.default_rng(0), **kwargs)


def test_rng_must_be_a_generator() -> None:
    with pytest.raises(UsageError, match="Generator"):
        simulate_cine("NOR", 42)  # type: ignore[arg-type]


# --- anatomy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("group", CINE_GROUPS)
def test_every_frame_is_anatomically_sane(group: str) -> None:
    cine = simulate_cine(group, np.random.default_rng(21), n_frames=10)
    septal = np.array(cine.metadata["anatomy"]["septal_direction_yx"])
    for t, labels in cine.segmentations.items():
        assert set(np.unique(labels)) <= {0, RV, MYO, CAV}
        assert not labels[:, [0, -1], :].any() and not labels[:, :, [0, -1]].any()  # inside the FOV
        cavity, myo, rv = labels == CAV, labels == MYO, labels == RV
        # the LV cavity is enclosed by myocardium on every ring slice
        assert not np.any(touching(cavity) & ~myo)
        for z in range(labels.shape[0]):
            if not (rv[z].any() and cavity[z].any()):
                continue
            assert np.any(touching(rv[z]) & myo[z]), f"RV does not abut the septum (t={t}, z={z})"
            offset = np.argwhere(rv[z]).mean(axis=0) - np.argwhere(cavity[z]).mean(axis=0)
            assert offset @ septal > 0, f"RV is not on the septal side (t={t}, z={z})"
    ed = cine.segmentations[0]
    ring = [z for z in range(ed.shape[0]) if (ed[z] == CAV).any()]
    areas = [np.count_nonzero(ed[z] == CAV) for z in ring]
    assert areas[-1] < max(areas)  # the cavity narrows towards the apex
    assert (ed[ring[-1]] == MYO).any()
    # beyond the last ring slice only the myocardial cap (or nothing) remains
    for z in range(ring[-1] + 1, ed.shape[0]):
        assert not (ed[z] == CAV).any()


def test_cohort_ed_and_es_masks_are_sane(cohort: dict[str, list[dict]]) -> None:
    for group, rows in cohort.items():
        for row in rows:
            for labels in (row["ed"], row["es"]):
                cavity = labels == CAV
                assert not np.any(touching(cavity) & (labels != MYO)), group
                assert not np.any(touching(labels == RV) & cavity), group
                assert not labels[:, [0, -1], :].any() and not labels[:, :, [0, -1]].any(), group


# --- truth ------------------------------------------------------------------------------------


def test_truth_equals_a_recount_from_the_masks() -> None:
    cine = simulate_cine("DCM", np.random.default_rng(5), n_frames=10)
    truth = cine.metadata["truth"]
    voxel_ml = np.prod(cine.spacing_mm) / 1000
    ed, es = cine.segmentations[0], cine.segmentations[cine.es_index]
    edv, esv = np.sum(ed == CAV) * voxel_ml, np.sum(es == CAV) * voxel_ml
    rv_edv, rv_esv = np.sum(ed == RV) * voxel_ml, np.sum(es == RV) * voxel_ml
    assert truth["lv_edv_ml"] == pytest.approx(edv)
    assert truth["lv_esv_ml"] == pytest.approx(esv)
    assert truth["lv_sv_ml"] == pytest.approx(edv - esv)
    assert truth["lv_ef_pct"] == pytest.approx(100 * (edv - esv) / edv)
    assert truth["lv_mass_g"] == pytest.approx(1.05 * np.sum(ed == MYO) * voxel_ml)
    assert truth["rv_edv_ml"] == pytest.approx(rv_edv)
    assert truth["rv_esv_ml"] == pytest.approx(rv_esv)
    assert truth["rv_ef_pct"] == pytest.approx(100 * (rv_edv - rv_esv) / rv_edv)
    assert truth["max_wall_thickness_mm"] == pytest.approx(
        max_wall_thickness_mm(ed == CAV, ed == MYO, cine.spacing_mm[1:])
    )


def test_max_wall_thickness_of_a_known_ring() -> None:
    yy, xx = np.mgrid[:60, :60]
    r = np.hypot(yy - 30, xx - 30)
    cavity = (r < 10)[None]
    bulge = np.abs(np.arctan2(yy - 30, 30 - xx)) < np.radians(80)  # a broad septal hypertrophy
    myo = ((r >= 10) & (r < 16) | (r >= 10) & (r < 22) & bulge)[None]
    thickness = max_wall_thickness_mm(cavity, myo, (1.5, 1.5))
    assert thickness == pytest.approx(12 * 1.5, abs=1.5)  # the bulge is 12 pixels thick
    assert max_wall_thickness_mm(cavity, ((r >= 10) & (r < 16))[None], (2.0, 2.0)) == pytest.approx(12.0, abs=2.0)


# --- class-level physiology (with overlap) ---------------------------------------------------


def test_dcm_is_dilated_with_low_ef_but_overlaps_nor(cohort: dict[str, list[dict]]) -> None:
    dcm_ef, nor_ef = values(cohort, "DCM", "lv_ef_pct"), values(cohort, "NOR", "lv_ef_pct")
    dcm_edv, nor_edv = values(cohort, "DCM", "lv_edv_ml"), values(cohort, "NOR", "lv_edv_ml")
    assert np.median(dcm_ef) < np.median(nor_ef) - 15
    assert np.median(dcm_edv) > np.median(nor_edv) * 1.2
    assert np.all((nor_ef > 48) & (nor_ef < 76))
    assert np.mean(dcm_ef < 42) >= 0.6
    # overlap built in (mild DCM): not every DCM is worse than every NOR
    assert dcm_ef.max() > nor_ef.min()
    assert dcm_edv.min() < nor_edv.max()


def test_hcm_has_thick_walls_and_high_ef(cohort: dict[str, list[dict]]) -> None:
    hcm_wall, nor_wall = values(cohort, "HCM", "max_wall_thickness_mm"), values(cohort, "NOR", "max_wall_thickness_mm")
    assert np.all(hcm_wall >= 15.0)
    assert np.all(nor_wall < 15.0)
    assert np.all(values(cohort, "HCM", "lv_ef_pct") >= 55) and np.median(values(cohort, "HCM", "lv_ef_pct")) >= 60
    assert np.median(values(cohort, "HCM", "lv_edv_ml")) < np.median(values(cohort, "NOR", "lv_edv_ml"))
    # HCM and NOR share the EF range: EF alone does not separate them
    assert values(cohort, "HCM", "lv_ef_pct").min() < values(cohort, "NOR", "lv_ef_pct").max()


def test_minf_has_a_hypokinetic_sector_in_its_territory(cohort: dict[str, list[dict]]) -> None:
    for group in ("MINF", "NOR"):
        for row in cohort[group]:
            z = 3  # mid-ventricular slice, inside every territory's long-axis extent
            ed, centres = sector_thickness_mm(row["ed"][z], row["spacing"][1])
            es, _ = sector_thickness_mm(row["es"][z], row["spacing"][1])
            thickening = es / ed - 1
            ratio = thickening.min() / np.median(thickening)
            if group == "NOR":
                assert ratio > 0.35
                continue
            assert ratio < 0.35, "no sector thickens well below the remote wall"
            # the least-thickening sector lies in the infarcted territory
            septal = np.array(row["anatomy"]["septal_direction_yx"])
            anterior = np.array(row["anatomy"]["anterior_direction_yx"])
            worst = centres[np.argmin(thickening)]
            aha = np.arctan2(worst @ septal, worst @ anterior)
            territory = row["anatomy"]["infarct_territory"]
            distance = abs((aha - np.radians(territory["centre_deg"]) + np.pi) % (2 * np.pi) - np.pi)
            assert distance <= np.radians(territory["half_width_deg"] + 30)


def test_minf_ef_is_reduced_and_overlaps_dcm(cohort: dict[str, list[dict]]) -> None:
    minf_ef = values(cohort, "MINF", "lv_ef_pct")
    assert np.median(minf_ef) < np.median(values(cohort, "NOR", "lv_ef_pct")) - 10
    assert np.all(minf_ef < 58)
    assert minf_ef.min() < values(cohort, "DCM", "lv_ef_pct").max()


def test_rv_group_has_a_larger_or_weaker_rv(cohort: dict[str, list[dict]]) -> None:
    rv_edv, nor_rv_edv = values(cohort, "RV", "rv_edv_ml"), values(cohort, "NOR", "rv_edv_ml")
    rv_ef, nor_rv_ef = values(cohort, "RV", "rv_ef_pct"), values(cohort, "NOR", "rv_ef_pct")
    assert np.median(rv_edv) > np.median(nor_rv_edv) * 1.3
    assert np.median(rv_ef) < np.median(nor_rv_ef) - 10
    # every RV subject is dilated or hypokinetic relative to the normal median
    assert np.all((rv_edv > np.median(nor_rv_edv)) | (rv_ef < np.median(nor_rv_ef)))
    # the LV stays normal-ish
    assert np.median(values(cohort, "RV", "lv_ef_pct")) > 50


def test_nuisance_carries_no_class_information(cohort: dict[str, list[dict]]) -> None:
    """Intensity scale, spacing and heart rate ranges overlap between every pair of groups."""
    for key in ("p99", "spacing_xy", "heart_rate"):
        ranges = []
        for group in CINE_GROUPS:
            if key == "spacing_xy":
                v = np.array([row["spacing"][1] for row in cohort[group]])
            else:
                v = np.array([row[key] for row in cohort[group]])
            ranges.append((v.min(), v.max()))
        low = max(r[0] for r in ranges)
        high = min(r[1] for r in ranges)
        assert low < high, f"{key} ranges do not overlap across groups: {ranges}"
    p99 = np.log([row["p99"] for rows in cohort.values() for row in rows])
    assert p99.max() - p99.min() > np.log(10)  # the global scale spans more than a decade
