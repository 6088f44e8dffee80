"""nicm per-study features: shapes, class ordering, the shortcut-control invariances, errors, cache."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cardiolens.data.cine import CineCMR
from cardiolens.errors import (
    CorruptFileError,
    DataError,
    EmptyFileError,
    InconsistentGeometryError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.synth.cine import simulate_cine
from cardiolens.systems.nicm.features import (
    ED_ES_CLASSICAL,
    SERIES_CHANNELS,
    NicmFeatureSpec,
    StudyFeatures,
    ed_es_classical_features,
    extract_features,
)
from cardiolens.systems.nicm.radiomics_features import (
    radiomics_feature_names,
    radiomics_features,
)

SMALL = {"n_frames": 12, "n_slices": 6, "matrix": 48}


def small_cine(group: str, seed: int, **overrides: int) -> CineCMR:
    return simulate_cine(group, np.random.default_rng(seed), f"{group}-{seed}", **{**SMALL, **overrides})


def all_masks(cine: CineCMR) -> np.ndarray:
    return np.stack([cine.segmentations[t] for t in range(cine.n_frames)])


@pytest.fixture(scope="module")
def nor() -> tuple[CineCMR, StudyFeatures]:
    cine = small_cine("NOR", 3)
    return cine, extract_features(cine, all_masks(cine))


def test_shapes_ranges_and_consistency(nor: tuple[CineCMR, StudyFeatures]) -> None:
    cine, f = nor
    assert f.frames.shape == (16, 3, 64, 64) and f.frames.dtype == np.float32
    assert f.frames.min() >= 0.0 and f.frames.max() <= 1.0 and f.frames.max() > 0.5
    assert f.ed_es_image.shape == (3, 64, 64) and f.ed_es_image.dtype == np.float32
    np.testing.assert_allclose(f.ed_es_image[2], f.ed_es_image[1] - f.ed_es_image[0], atol=1e-6)
    assert f.series.shape == (len(SERIES_CHANNELS), 25) and f.series.dtype == np.float32
    np.testing.assert_allclose(f.cycle_pct, 4.0 * np.arange(25))
    assert np.isfinite(f.series).all()
    # Sampling starts at ED; relative volumes are 1 there and smaller at ES.
    assert f.frame_indices[0] == cine.ed_index and f.frame_indices.shape == (16,)
    lv = f.series[SERIES_CHANNELS.index("lv_volume_rel")]
    assert lv[0] == pytest.approx(1.0) and lv.min() == pytest.approx(1.0 - f.classical["lv_ef"], abs=0.05)
    assert f.series[SERIES_CHANNELS.index("rv_volume_rel"), 0] == pytest.approx(1.0)
    # RV size relative to the LV EDV over the whole cycle (not to the LV volume of the same frame).
    rv_to_lv = f.series[SERIES_CHANNELS.index("rv_volume_to_lv_edv")]
    rv_rel = f.series[SERIES_CHANNELS.index("rv_volume_rel")]
    np.testing.assert_allclose(rv_to_lv, rv_rel * f.classical["rv_lv_edv_ratio"], rtol=1e-5)
    # The ED channel of the mid slice in `frames` is the ED image of ed_es_image.
    mid_channel = f.crop_box["slices"].index(f.crop_box["mid_slice"])
    np.testing.assert_allclose(f.frames[0, mid_channel], f.ed_es_image[0], atol=1e-6)
    assert set(f.radiomics) == set(radiomics_feature_names("ed")) | set(radiomics_feature_names("es"))
    assert all(k.startswith("ivpg_") for k in f.ivpg_features) and "ivpg_peak_systolic_mmhg_lnorm" in f.ivpg_features
    assert not any(k.endswith("_time_ms") for k in f.ivpg_features)  # times only as % of the cycle


def test_ef_matches_the_simulated_truth(nor: tuple[CineCMR, StudyFeatures]) -> None:
    cine, f = nor
    truth = cine.metadata["truth"]
    assert f.classical["lv_ef"] * 100 == pytest.approx(truth["lv_ef_pct"], abs=0.5)
    assert f.classical["rv_lv_edv_ratio"] == pytest.approx(truth["rv_edv_ml"] / truth["lv_edv_ml"], rel=1e-6)
    assert f.classical["myo_lv_edv_ratio"] == pytest.approx(truth["lv_mass_g"] / 1.05 / truth["lv_edv_ml"], rel=1e-6)


def test_custom_spec_changes_the_layout() -> None:
    cine = small_cine("HCM", 4)
    spec = NicmFeatureSpec(n_frames=8, n_phases=10, crop_px=32, slice_positions=(0.5,))
    f = extract_features(cine, all_masks(cine), spec, radiomics=False)
    assert f.frames.shape == (8, 1, 32, 32) and f.series.shape == (len(SERIES_CHANNELS), 10)
    assert f.radiomics == {}
    # 12 frames over the cycle, 8 samples: evenly spread, ED first.
    assert f.frame_indices[0] == 0 and np.all(np.diff(f.frame_indices) > 0)
    assert np.all(np.diff(f.frame_indices) <= 2)


def test_spec_rejects_bad_values() -> None:
    with pytest.raises(UsageError):
        NicmFeatureSpec(slice_positions=(0.5, 1.5))
    with pytest.raises(UsageError):
        NicmFeatureSpec(crop_px=2)


def test_class_ordering_on_simulated_groups() -> None:
    means = {}
    for group in ("NOR", "DCM", "HCM", "RV"):
        rows = []
        for seed in range(100, 103):
            cine = small_cine(group, seed)
            rows.append(extract_features(cine, all_masks(cine), radiomics=False).classical)
        means[group] = {
            k: float(np.mean([r[k] for r in rows])) for k in ("lv_ef", "myo_lv_edv_ratio", "rv_lv_edv_ratio")
        }
    assert means["DCM"]["lv_ef"] < min(means["NOR"]["lv_ef"], means["HCM"]["lv_ef"])
    assert means["HCM"]["myo_lv_edv_ratio"] > max(means["NOR"]["myo_lv_edv_ratio"], means["DCM"]["myo_lv_edv_ratio"])
    # HCM's small cavity also raises RV/LV, so the RV group is compared with NOR and DCM.
    assert means["RV"]["rv_lv_edv_ratio"] > max(means["NOR"]["rv_lv_edv_ratio"], means["DCM"]["rv_lv_edv_ratio"])
    assert means["HCM"]["lv_ef"] > means["DCM"]["lv_ef"]


def _assert_same_features(a: StudyFeatures, b: StudyFeatures) -> None:
    for group in ("classical", "radiomics", "ivpg_features"):
        left, right = getattr(a, group), getattr(b, group)
        assert left.keys() == right.keys()
        for key in left:
            x, y = left[key], right[key]
            if math.isnan(x):
                assert math.isnan(y), key
            else:
                assert y == pytest.approx(x, rel=1e-5, abs=1e-9), f"{group}.{key}"
    for name in ("frames", "ed_es_image", "series"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(a.frame_indices, b.frame_indices)


@pytest.mark.parametrize("group", ["MINF", "RV"])
def test_features_ignore_spacing_and_intensity_scale(group: str) -> None:
    """The shortcut-control guarantee: only the artefacts see spacing and raw intensities."""
    cine = small_cine(group, 11)
    masks = all_masks(cine)
    reference = extract_features(cine, masks)
    z, y, x = cine.spacing_mm
    unknown = replace(cine, image=cine.image * 10.0, spacing_mm=(1.0, 1.0, 1.0), spacing_known=False, affine=None)
    rescaled = replace(cine, image=cine.image * 0.37, spacing_mm=(1.7 * z, 0.6 * y, 0.6 * x), affine=None)
    for variant in (unknown, rescaled):
        other = extract_features(variant, masks)
        _assert_same_features(reference, other)
        assert other.artefacts["intensity_max_raw"] != pytest.approx(reference.artefacts["intensity_max_raw"])
        assert other.artefacts["pixel_spacing_mm"] != pytest.approx(reference.artefacts["pixel_spacing_mm"])
    assert reference.artefacts["spacing_known"] == 1.0
    assert extract_features(unknown, masks, radiomics=False).artefacts["spacing_known"] == 0.0


def test_artefacts_flag_8bit_integer_images() -> None:
    cine = small_cine("NOR", 5)
    scaled = np.round(255 * cine.image / cine.image.max())
    f = extract_features(replace(cine, image=scaled), all_masks(cine), radiomics=False)
    assert f.artefacts["intensity_integer_le_255"] == 1.0 and f.artefacts["intensity_max_raw"] == 255.0
    assert f.artefacts["n_frames"] == 12 and f.artefacts["n_slices"] == 6 and f.artefacts["matrix_x"] == 48


def test_missing_trigger_times_use_the_nominal_cycle() -> None:
    cine = small_cine("DCM", 6)
    untimed = replace(cine, trigger_times_ms=None)
    f = extract_features(untimed, all_masks(cine), NicmFeatureSpec(n_frames=12), radiomics=False)
    assert any("nominal RR of 1000 ms" in note for note in f.notes)
    assert f.frame_indices.tolist() == list(range(12))  # evenly spaced frames, one each
    assert math.isfinite(f.ivpg_features["ivpg_peak_systolic_mmhg_lnorm"])


def test_crop_runs_over_the_image_border() -> None:
    cine = small_cine("NOR", 8)
    f = extract_features(cine, all_masks(cine), NicmFeatureSpec(crop_scale=6.0), radiomics=False)
    assert f.crop_box["side_px"] > 48  # larger than the image itself
    assert np.all(f.frames[:, :, 0, :] == 0.0)  # zero padding outside the image
    assert f.frames.max() > 0.5


def test_mismatched_mask_shape_names_the_source() -> None:
    cine = replace(small_cine("NOR", 9), source="/data/sub-9/cine.nii.gz")
    with pytest.raises(InconsistentGeometryError, match="sub-9/cine.nii.gz"):
        extract_features(cine, all_masks(cine)[:, :, :-1])


def test_missing_lv_at_ed_and_non_finite_image() -> None:
    cine = replace(small_cine("NOR", 9), source="sub-9.nii.gz")
    masks = all_masks(cine).copy()
    masks[cine.ed_index][masks[cine.ed_index] == 3] = 0
    with pytest.raises(MissingDataError, match="sub-9.nii.gz.*LV cavity"):
        extract_features(cine, masks)
    bad = replace(small_cine("NOR", 9), source="sub-9.nii.gz")
    bad.image[1, 2, 3, 4] = np.nan  # the container checked it at creation; a later edit is caught here
    with pytest.raises(NonFiniteValueError, match="sub-9.nii.gz"):
        extract_features(bad, all_masks(bad))


def test_ivpg_failure_is_a_data_error_naming_the_source() -> None:
    cine = replace(small_cine("NOR", 10, n_frames=4), source="four-frames.nii.gz")
    with pytest.raises(DataError, match="four-frames.nii.gz: IVPG failed"):
        extract_features(cine, all_masks(cine), radiomics=False)


def test_npz_round_trip_and_bad_caches(nor: tuple[CineCMR, StudyFeatures], tmp_path: Path) -> None:
    _, f = nor
    path = f.to_npz(tmp_path / "cache" / "NOR-3.npz")
    assert sorted(p.name for p in path.parent.iterdir()) == ["NOR-3.npz"]  # no temporary left behind
    back = StudyFeatures.from_npz(path)
    for name in ("frames", "ed_es_image", "series", "cycle_pct", "frame_indices"):
        np.testing.assert_array_equal(getattr(back, name), getattr(f, name))
    assert back.subject_id == f.subject_id and back.crop_box == f.crop_box and back.notes == f.notes
    assert back.classical == f.classical and back.artefacts == f.artefacts
    assert back.radiomics.keys() == f.radiomics.keys()
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(EmptyFileError):
        StudyFeatures.from_npz(tmp_path / "empty.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(CorruptFileError, match="junk.npz"):
        StudyFeatures.from_npz(tmp_path / "junk.npz")


def test_radiomics_empty_label_gives_nan() -> None:
    cine = small_cine("NOR", 12)
    labels = cine.segmentations[0].copy()
    labels[labels == 1] = 0  # no RV
    image = (cine.image[0] - cine.image[0].min()) / np.ptp(cine.image[0])
    out = radiomics_features(image, labels, "ed")
    assert list(out) == radiomics_feature_names("ed")
    assert all(math.isnan(v) for k, v in out.items() if k.startswith("ed_rv_cavity_"))
    assert 0.0 < out["ed_lv_cavity_shape3d_Sphericity"] <= 1.0
    assert 0.0 <= out["ed_lv_myocardium_firstorder_Mean"] <= 1.0
    assert math.isfinite(out["ed_lv_myocardium_glcm_Contrast"])


def _every_frame_masks(cine: CineCMR) -> np.ndarray:
    """ACDC has masks at ED/ES only: copy the circularly nearest one to each frame (exercises the code only)."""
    keys = np.array(sorted(cine.segmentations))
    frames = np.arange(cine.n_frames)[:, None]
    distance = np.abs(frames - keys[None, :])
    nearest = keys[np.argmin(np.minimum(distance, cine.n_frames - distance), axis=1)]
    return np.stack([cine.segmentations[int(k)] for k in nearest])


@pytest.mark.real_data
def test_real_acdc_patients(shared_data: Path) -> None:
    from cardiolens.io.layouts import load, scan

    cohort = scan(shared_data / "acdc")
    results = {}
    for pid in ("patient001", "patient081"):
        cine = load(cohort, pid).cine
        masks = _every_frame_masks(cine)
        f = extract_features(cine, masks)
        ed, es = masks[cine.ed_index], masks[cine.es_index]
        expected_ef = 1.0 - (es == 3).sum() / (ed == 3).sum()
        assert f.classical["lv_ef"] == pytest.approx(expected_ef, rel=1e-9)
        assert f.frames.shape == (16, 3, 64, 64) and 0.0 <= f.frames.min() and f.frames.max() <= 1.0
        assert np.isfinite(f.series).all()
        assert any("nominal RR" in note for note in f.notes)  # ACDC has no trigger times
        results[pid] = f
    # patient001 (DCM) keeps real spacing and scanner integers; patient081 (RV) has neither.
    assert results["patient001"].artefacts["spacing_known"] == 1.0
    assert results["patient081"].artefacts["spacing_known"] == 0.0
    assert results["patient081"].artefacts["intensity_integer_le_255"] == 1.0
    assert results["patient001"].classical["lv_ef"] < results["patient081"].classical["lv_ef"]


def test_ed_es_classical_features_match_the_whole_cine_features(nor: tuple[CineCMR, StudyFeatures]) -> None:
    cine, f = nor
    masks = all_masks(cine)
    ed_es = ed_es_classical_features(cine, masks[cine.ed_index], masks[cine.es_index])
    assert set(ed_es) == set(ED_ES_CLASSICAL) and set(ED_ES_CLASSICAL) <= set(f.classical)
    for key in ED_ES_CLASSICAL:
        assert ed_es[key] == pytest.approx(f.classical[key], rel=1e-9, nan_ok=True), key
    swapped = ed_es_classical_features(cine, masks[cine.es_index], masks[cine.ed_index])
    assert swapped["lv_ef"] < 0 < ed_es["lv_ef"]
    with pytest.raises(MissingDataError, match="no LV cavity"):
        ed_es_classical_features(cine, np.zeros_like(masks[0]), masks[cine.es_index])
