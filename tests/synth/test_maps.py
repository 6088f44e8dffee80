"""Simulated %ΔSI / T1 / T2 maps: determinism, labels, truth, physiology and spatial patterns."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cardiolens.data.labels import MAP_LABELS, SCAR_PATTERNS
from cardiolens.errors import UsageError
from cardiolens.synth.maps import simulate_parametric_maps

from .adjacency import touching

CAV, NORMAL, ABNORMAL = (MAP_LABELS[k] for k in ("lv_cavity", "normal_myocardium", "abnormal_myocardium"))
N_PER_PATTERN = 20


def aha_angles(mask: np.ndarray, anatomy: dict) -> np.ndarray:
    """AHA angle (rad) of every voxel of ``mask`` about its slice's recorded LV centre."""
    z, y, x = np.nonzero(mask)
    centre = np.array(anatomy["lv_centre_yx_px"])[z]
    offset = np.stack([y - centre[:, 0], x - centre[:, 1]], axis=1)
    septal, anterior = np.array(anatomy["septal_direction_yx"]), np.array(anatomy["anterior_direction_yx"])
    return np.arctan2(offset @ septal, offset @ anterior)


@pytest.fixture(scope="module")
def cohort() -> dict[str, list[dict]]:
    out = {}
    for pattern in SCAR_PATTERNS:
        out[pattern] = [
            simulate_parametric_maps(pattern, np.random.default_rng([seed, 2]), f"{pattern}{seed}")
            for seed in range(N_PER_PATTERN)
        ]
    return out


def interior_mean(volume, labels: np.ndarray) -> float:
    """Mean over myocardium one pixel away from its borders (what an analyst's ROI holds)."""
    myo = labels >= NORMAL
    inner = ndimage.binary_erosion(myo, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool))
    return float(volume.image[inner].mean())


def test_same_seed_gives_identical_arrays_and_another_seed_differs() -> None:
    a = simulate_parametric_maps("ischaemic", np.random.default_rng(8))
    b = simulate_parametric_maps("ischaemic", np.random.default_rng(8))
    c = simulate_parametric_maps("ischaemic", np.random.default_rng(9))
    for name in ("os_dsi", "t1", "t2"):
        assert np.array_equal(a[name].image, b[name].image) and np.array_equal(a[name].labels, b[name].labels)
        assert a[name].metadata["truth"] == b[name].metadata["truth"]
        assert not np.array_equal(a[name].image, c[name].image)


def test_container_units_and_shared_labels() -> None:
    maps = simulate_parametric_maps("non_ischaemic", np.random.default_rng(1), "S1", n_slices=3)
    assert set(maps) == {"os_dsi", "t1", "t2"}
    units = {"os_dsi": "%", "t1": "ms", "t2": "ms"}
    for name, volume in maps.items():
        assert volume.modality == name and volume.unit == units[name]
        assert volume.image.shape == (3, 96, 96) and volume.image.dtype == np.float32
        assert volume.label_scheme == "map" and volume.subject_id == "S1"
        assert set(np.unique(volume.labels)) <= set(MAP_LABELS.values())
        assert np.array_equal(volume.labels, maps["t1"].labels)
        assert volume.spacing_mm == maps["t1"].spacing_mm
        assert volume.metadata["simulated"] is True and volume.metadata["pattern"] == "non_ischaemic"
        assert volume.metadata["field_strength_t"] == 1.5
    assert maps["t1"].labels is not maps["t2"].labels  # each volume owns its labels
    labels = maps["t1"].labels
    for z in range(3):  # every mid-ventricular slice has a closed ring
        assert (labels[z] == CAV).any()
        assert not np.any(touching(labels[z] == CAV) & (labels[z] == 0))
    dz, dy, dx = maps["t1"].spacing_mm
    assert dy == dx and 1.2 <= dy <= 1.8


def test_truth_equals_a_recount() -> None:
    maps = simulate_parametric_maps("oedema", np.random.default_rng(4))
    labels = maps["t2"].labels
    n_abnormal, n_myo = int(np.sum(labels == ABNORMAL)), int(np.sum(labels >= NORMAL))
    for volume in maps.values():
        truth = volume.metadata["truth"]
        assert truth["abnormal_voxels"] == n_abnormal and truth["myocardium_voxels"] == n_myo
        assert truth["abnormal_fraction"] == pytest.approx(n_abnormal / n_myo)
        assert set(truth["mean_by_region"]) == {"lv_cavity", "normal_myocardium", "abnormal_myocardium"}


def test_healthy_has_no_abnormal_tissue_and_a_breath_hold_response_near_8pct(cohort) -> None:
    true_means, measured = [], []
    for maps in cohort["healthy"]:
        volume = maps["os_dsi"]
        assert not (volume.labels == ABNORMAL).any()
        assert volume.metadata["truth"]["abnormal_fraction"] == 0.0
        assert volume.metadata["truth"]["mean_by_region"]["abnormal_myocardium"] is None
        true_means.append(volume.metadata["truth"]["mean_by_region"]["normal_myocardium"])
        measured.append(interior_mean(volume, volume.labels))
    assert np.mean(true_means) == pytest.approx(8.0, abs=1.0)
    assert np.mean(measured) == pytest.approx(8.0, abs=1.5)
    assert np.std(true_means) > 0.5  # subjects differ


def test_native_t1_and_t2_normal_values(cohort) -> None:
    t1 = [m["t1"].metadata["truth"]["mean_by_region"]["normal_myocardium"] for m in cohort["healthy"]]
    t2 = [m["t2"].metadata["truth"]["mean_by_region"]["normal_myocardium"] for m in cohort["healthy"]]
    assert np.mean(t1) == pytest.approx(950, abs=20) and 5 < np.std(t1) < 45
    assert np.mean(t2) == pytest.approx(50, abs=2.5)
    at_3t = [
        simulate_parametric_maps("healthy", np.random.default_rng(s), field_strength_t=3.0)["t1"].metadata["truth"]
        for s in range(6)
    ]
    assert np.mean([t["mean_by_region"]["normal_myocardium"] for t in at_3t]) == pytest.approx(1052, abs=30)


def test_oedema_raises_t2_and_blunts_the_response(cohort) -> None:
    t2 = {p: [interior_mean(m["t2"], m["t2"].labels) for m in cohort[p]] for p in ("healthy", "oedema")}
    assert np.mean(t2["oedema"]) > np.mean(t2["healthy"]) + 5
    for maps in cohort["oedema"]:
        region = maps["t2"].metadata["truth"]["mean_by_region"]
        assert region["abnormal_myocardium"] > (region["normal_myocardium"] or 0) + 5
        assert maps["t2"].metadata["truth"]["abnormal_fraction"] >= 0.3
    dsi = {p: [m["os_dsi"].metadata["truth"]["mean_by_region"] for m in cohort[p]] for p in ("healthy", "oedema")}
    oedema_myo = [r["abnormal_myocardium"] for r in dsi["oedema"]]
    healthy_myo = [r["normal_myocardium"] for r in dsi["healthy"]]
    assert np.mean(oedema_myo) < np.mean(healthy_myo) - 2
    # but the classes overlap: some oedema responses are in the healthy range
    assert max(oedema_myo) > min(healthy_myo)


def test_ischaemic_region_is_confined_to_a_territory_and_starts_at_the_endocardium(cohort) -> None:
    for maps in cohort["ischaemic"]:
        volume = maps["os_dsi"]
        labels, anatomy = volume.labels, volume.metadata["anatomy"]
        territory = anatomy["abnormal_region"]["territory"]
        abnormal = labels == ABNORMAL
        assert abnormal.any()
        angle = aha_angles(abnormal, anatomy)
        distance = np.abs((angle - np.radians(territory["centre_deg"]) + np.pi) % (2 * np.pi) - np.pi)
        # one pixel of angular slack for the rounding of the recorded centre
        assert distance.max() <= np.radians(territory["half_width_deg"]) + 0.15
        assert np.any(touching(labels == CAV) & abnormal)
        region = volume.metadata["truth"]["mean_by_region"]
        assert region["abnormal_myocardium"] < region["normal_myocardium"] - 3
        t1 = maps["t1"].metadata["truth"]["mean_by_region"]
        assert t1["abnormal_myocardium"] > t1["normal_myocardium"] + 50


def test_non_ischaemic_patches_spare_the_endocardium(cohort) -> None:
    fractions = []
    for maps in cohort["non_ischaemic"]:
        labels = maps["os_dsi"].labels
        abnormal = labels == ABNORMAL
        assert abnormal.any()
        assert not np.any(touching(labels == CAV) & abnormal)
        fractions.append(maps["os_dsi"].metadata["truth"]["abnormal_fraction"])
        region = maps["os_dsi"].metadata["truth"]["mean_by_region"]
        assert region["abnormal_myocardium"] < region["normal_myocardium"]
    assert 0.03 < np.mean(fractions) < 0.25


def test_patterns_differ_in_extent_but_values_overlap(cohort) -> None:
    extent = {p: np.mean([m["t1"].metadata["truth"]["abnormal_fraction"] for m in cohort[p]]) for p in SCAR_PATTERNS}
    assert extent["healthy"] == 0 < extent["non_ischaemic"] < extent["oedema"]
    assert extent["ischaemic"] < extent["oedema"]
    # subject-level mean myocardial %ΔSI overlaps between healthy and every disease class
    means = {p: [interior_mean(m["os_dsi"], m["os_dsi"].labels) for m in cohort[p]] for p in SCAR_PATTERNS}
    for pattern in ("ischaemic", "non_ischaemic", "oedema"):
        assert max(means[pattern]) > min(means["healthy"])


@pytest.mark.parametrize(
    "pattern, kwargs",
    [("scar", {}), ("healthy", {"field_strength_t": 7.0}), ("healthy", {"n_slices": 0}), ("healthy", {"matrix": 10})],
)
def test_bad_arguments_raise_usage_error(pattern: str, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        simulate_parametric_maps(pattern, np.random.default_rng(0), **kwargs)
