"""Mapping and OS-CMR measurements: ECV, %ΔSI, abnormality flags (hand-computed and simulated cases)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardiolens.data.labels import MAP_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import InconsistentGeometryError, MissingDataError, UsageError
from cardiolens.measure.mapping import (
    MapCutoffs,
    assess_map,
    assess_volume,
    delta_r1_per_s,
    ecv_map,
    ecv_pct,
    ecv_roi,
    percent_delta_si,
    segment_means,
    segment_percent_delta_si,
)
from cardiolens.synth.maps import simulate_parametric_maps

# Hand-computed ECV case: Hct 0.42; myocardium T1 1000 -> 450 ms; blood 1600 -> 300 ms.
# dR1_myo = 1000/450 - 1000/1000 = 1.222222 /s; dR1_blood = 1000/300 - 1000/1600 = 2.708333 /s
# ECV = 0.58 * 1.222222 / 2.708333 * 100 = 26.1744 %
HAND_ECV_PCT = 26.1744


def test_delta_r1_from_t1_in_ms():
    assert delta_r1_per_s(1000.0, 500.0) == pytest.approx(1.0)
    assert delta_r1_per_s(1600.0, 300.0) == pytest.approx(2.708333, rel=1e-6)
    out = delta_r1_per_s(np.array([1000.0, 0.0]), np.array([500.0, 400.0]))
    assert out[0] == pytest.approx(1.0) and np.isnan(out[1])


def test_ecv_from_hand_computed_numbers():
    assert ecv_pct(1000.0, 450.0, 1600.0, 300.0, 0.42) == pytest.approx(HAND_ECV_PCT, rel=1e-5)
    # voxelwise: each voxel on its own, with the blood ROI means
    voxels = ecv_pct(np.array([1000.0, 1000.0]), np.array([450.0, 500.0]), 1600.0, 300.0, 0.42)
    assert voxels[0] == pytest.approx(HAND_ECV_PCT, rel=1e-5)
    assert voxels[1] == pytest.approx(0.58 * 1.0 / 2.708333 * 100, rel=1e-5)  # 21.4154 %


def test_ecv_rejects_bad_hematocrit_and_unenhanced_blood():
    with pytest.raises(UsageError, match="fraction.*not 42"):
        ecv_pct(1000.0, 450.0, 1600.0, 300.0, 42)
    with pytest.raises(UsageError, match="blood"):
        ecv_pct(1000.0, 450.0, 1600.0, 1700.0, 0.42)


def t1_volumes(native_myo=1000.0, post_myo=450.0, native_blood=1600.0, post_blood=300.0):
    labels = np.zeros((1, 20, 20), np.uint8)
    labels[0, 5:15, 5:15] = MAP_LABELS["normal_myocardium"]
    labels[0, 8:12, 8:12] = MAP_LABELS["lv_cavity"]
    myo = labels == MAP_LABELS["normal_myocardium"]
    blood = labels == MAP_LABELS["lv_cavity"]

    def volume(myo_value, blood_value, source):
        image = np.full(labels.shape, 300.0)
        image[myo], image[blood] = myo_value, blood_value
        return CMRVolume(
            image, "t1", spacing_mm=(8.0, 1.5, 1.5), labels=labels.copy(), label_scheme="map", source=source
        )

    return volume(native_myo, native_blood, "/x/native"), volume(post_myo, post_blood, "/x/post"), myo


def test_ecv_roi_and_map_from_t1_volumes():
    native, post, myo = t1_volumes()
    roi = ecv_roi(native, post, 0.42)
    assert roi.ecv_pct == pytest.approx(HAND_ECV_PCT, rel=1e-5)
    assert roi.delta_r1_blood_per_s == pytest.approx(2.708333, rel=1e-6)
    assert roi.myocardium_voxels == int(myo.sum()) and roi.blood_voxels == 16
    assert roi.abnormal is False  # 26 % is below the 30 % cut-off
    d = json.loads(json.dumps(roi.to_dict()))
    assert d["ecv_pct"] == pytest.approx(HAND_ECV_PCT, rel=1e-5) and "hematocrit_fraction" in d
    ecv = ecv_map(native, post, 0.42)
    assert ecv.modality == "ecv" and ecv.unit == "%"
    np.testing.assert_allclose(ecv.image[myo], HAND_ECV_PCT, rtol=1e-5)
    assert np.all(ecv.image[~myo] == 0)
    assert ecv_roi(*t1_volumes(post_myo=350.0)[:2], 0.42).abnormal  # 1000/350-1 = 1.857 -> 39.8 %


def test_ecv_roi_and_voxelwise_forms_differ_as_expected():
    """The ROI form uses mean T1s; the mean of the voxelwise map is not the same (1/T1 is not linear)."""
    native, post, myo = t1_volumes()
    post.image[myo] = np.where(np.arange(myo.sum()) % 2 == 0, 400.0, 500.0)
    roi = ecv_roi(native, post, 0.42).ecv_pct
    voxel_mean = float(ecv_map(native, post, 0.42).image[myo].mean())
    assert roi == pytest.approx(0.58 * (1000 / 450 - 1) / 2.708333 * 100, rel=1e-5)
    assert voxel_mean == pytest.approx(0.58 * ((1000 / 400 + 1000 / 500) / 2 - 1) / 2.708333 * 100, rel=1e-5)
    assert voxel_mean > roi


def test_ecv_errors_name_the_file():
    native, post, _myo = t1_volumes()
    short = CMRVolume(post.image[:, :10], "t1", source="/x/short")
    with pytest.raises(InconsistentGeometryError, match="/x/short"):
        ecv_roi(native, short, 0.42)
    bare = CMRVolume(native.image, "t1", source="/x/bare")
    with pytest.raises(MissingDataError, match="/x/bare"):
        ecv_roi(bare, post, 0.42)


def test_percent_delta_si_from_two_images():
    assert percent_delta_si(100.0, 108.0) == pytest.approx(8.0)
    out = percent_delta_si(np.array([200.0, 50.0, 0.0]), np.array([190.0, 56.0, 10.0]))
    np.testing.assert_allclose(out[:2], [-5.0, 12.0])
    assert np.isnan(out[2])
    with pytest.raises(InconsistentGeometryError):
        percent_delta_si(np.ones(3), np.ones(4))


def test_segment_delta_si_roi_form_and_map_mean():
    start = np.array([[[100.0, 300.0, 80.0, 0.0]]])
    end = np.array([[[110.0, 315.0, 76.0, 0.0]]])
    segments = np.array([[[1, 1, 2, 0]]])
    roi = segment_percent_delta_si(start, end, segments)
    assert roi[1] == pytest.approx(6.25)  # (212.5 - 200) / 200
    assert roi[2] == pytest.approx(-5.0)
    assert roi[3] is None
    means = segment_means(percent_delta_si(start, end), segments)
    assert means[1] == pytest.approx(7.5)  # mean of 10 % and 5 %
    assert means[2] == pytest.approx(-5.0) and means[17] is None


def test_default_cutoffs():
    assert MapCutoffs.for_field_strength(1.5).native_t1_ms == pytest.approx(992.0)  # 950 + 2 x 21
    assert MapCutoffs.for_field_strength(3.0).native_t1_ms == pytest.approx(1098.0)  # 1052 + 2 x 23
    cut = MapCutoffs()
    assert cut.t2_ms == pytest.approx(56.0) and cut.ecv_pct == 30.0 and cut.os_dsi_pct == 4.0
    assert any("ASSUMED" in n for n in cut.notes)
    local = MapCutoffs.for_field_strength(1.5, t1_normal_ms=(1000.0, 30.0), t2_normal_ms=(48.0, 4.0))
    assert (local.native_t1_ms, local.t2_ms) == (1060.0, 56.0)
    with pytest.raises(UsageError, match="7"):
        MapCutoffs.for_field_strength(7.0)
    with pytest.raises(UsageError, match="field strength"):
        cut.rule("t1")


def test_assess_map_flags_per_segment_and_globally():
    values = np.array([[[990.0, 994.0, 1100.0, 1120.0, 950.0, 5000.0]]])
    myo = np.array([[[True, True, True, True, True, False]]])
    segments = np.array([[[1, 1, 2, 2, 3, 0]]])
    a = assess_map(values, myo, "t1", segments=segments, cutoffs=MapCutoffs.for_field_strength(1.5))
    assert a.cutoff == 992.0 and a.abnormal_when == "above"
    assert a.segment_means[1] == pytest.approx(992.0) and a.segment_abnormal[1] is False  # not above
    assert a.segment_abnormal[2] is True and a.segment_abnormal[3] is False and a.segment_abnormal[4] is None
    assert a.abnormal_segments == (2,) and a.any_segment_abnormal
    assert a.global_mean == pytest.approx(1030.8) and a.global_abnormal  # blood voxel (5000) excluded
    d = json.loads(json.dumps(a.to_dict()))
    assert d["global_mean_ms"] == pytest.approx(1030.8) and d["cutoff_ms"] == 992.0
    dsi = assess_map(np.array([[[2.0, 9.0]]]), np.ones((1, 1, 2), bool), "os_dsi", segments=np.array([[[7, 8]]]))
    assert dsi.abnormal_when == "below" and dsi.segment_abnormal[7] and not dsi.segment_abnormal[8]
    assert "global_mean_pct" in dsi.to_dict()


def test_assess_volume_needs_field_strength_for_t1():
    native, _, _ = t1_volumes()
    with pytest.raises(UsageError, match="/x/native.*field strength"):
        assess_volume(native, segments=False)
    a = assess_volume(native, segments=False, field_strength_t=1.5)
    assert a.global_abnormal  # 1000 ms > 992 ms
    assert not assess_volume(native, segments=False, field_strength_t=3.0).global_abnormal


def test_simulated_maps_flag_abnormal_tissue():
    """Healthy subjects' T1 stays below the cut-off; ischaemic scar raises T1 where the truth puts it."""
    for seed in range(3):
        healthy = simulate_parametric_maps("healthy", np.random.default_rng(seed))["t1"]
        a = assess_volume(healthy, exclude_border_px=1)
        assert not a.global_abnormal and a.segment_orientation
        assert a.notes and "Dabir" in a.notes[0]
    maps = simulate_parametric_maps("ischaemic", np.random.default_rng(11))
    t1 = maps["t1"]
    dy, dx = t1.metadata["anatomy"]["septal_direction_yx"]
    a = assess_volume(t1, septal_angles_rad=float(np.arctan2(dy, dx)), exclude_border_px=1)
    abnormal_region = t1.labels == MAP_LABELS["abnormal_myocardium"]
    from cardiolens.measure.lge import aha_segments_without_rv

    segs, _ = aha_segments_without_rv(
        np.isin(t1.labels, (2, 3)), t1.labels == 1, septal_angles_rad=float(np.arctan2(dy, dx))
    )
    most = max(range(1, 18), key=lambda s: np.count_nonzero(abnormal_region & (segs == s)))
    assert a.segment_abnormal[most] is True
    assert a.segment_means[most] > max(
        v for s, v in a.segment_means.items() if v is not None and s not in a.abnormal_segments
    )
