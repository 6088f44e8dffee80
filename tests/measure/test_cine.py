"""Cine measurements: analytic shapes, known volume curves, simulated truth and ACDC ground truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cardiolens.data.cine import CineCMR
from cardiolens.errors import (
    CorruptFileError,
    InconsistentGeometryError,
    MissingDataError,
    UsageError,
)
from cardiolens.measure.cine import (
    MYOCARDIAL_DENSITY_G_PER_ML,
    bsa_mosteller_m2,
    ejection_fraction_pct,
    measure_cine,
    volume_curve,
    wall_thickness,
)

N = 80
SPACING = (8.0, 1.5, 1.5)  # z (centre-to-centre), y, x in mm
STABLE_KEYS = (
    "lv_edv_ml",
    "lv_esv_ml",
    "lv_sv_ml",
    "lv_ef_pct",
    "lv_mass_g",
    "rv_edv_ml",
    "rv_esv_ml",
    "rv_ef_pct",
    "spacing_known",
    "lv_edv_voxels",
    "lv_esv_voxels",
    "lv_myocardium_voxels",
    "rv_edv_voxels",
    "lv_edvi_ml_m2",
    "lv_esvi_ml_m2",
    "lv_svi_ml_m2",
    "lv_massi_g_m2",
    "rv_edvi_ml_m2",
    "bsa_m2",
    "max_wall_thickness_mm",
    "mean_wall_thickness_mm",
    "wall_thickness_seg01_mean_mm",
    "wall_thickness_seg16_max_mm",
)


def _disc(radius_px: float, centre=(N / 2 - 0.5, N / 2 - 0.5)) -> np.ndarray:
    yy, xx = np.mgrid[:N, :N]
    return np.hypot(yy - centre[0], xx - centre[1]) < radius_px


def _labels(r_endo: float, r_epi: float, n_slices: int, rv: bool = True) -> np.ndarray:
    """A straight LV tube (cavity radius r_endo, epicardium r_epi, in pixels) with an RV on the image left."""
    slice_ = np.zeros((N, N), np.uint8)
    if rv:
        rv_disc = _disc(r_epi + 8, centre=(N / 2 - 0.5, N / 2 - 0.5 - r_epi - 2)) & ~_disc(r_epi + 1)
        slice_[rv_disc] = 1
    slice_[_disc(r_epi)] = 2
    slice_[_disc(r_endo)] = 3
    return np.repeat(slice_[None], n_slices, axis=0)


def _cine(ed: np.ndarray, es: np.ndarray, *, spacing_known: bool = True, **kwargs) -> CineCMR:
    image = np.stack([ed, es]).astype(np.float32)
    return CineCMR(
        image=image,
        spacing_mm=SPACING if spacing_known else (1.0, 1.0, 1.0),
        spacing_known=spacing_known,
        ed_index=0,
        es_index=1,
        segmentations={0: ed, 1: es},
        source="<test cine>",
        **kwargs,
    )


# --------------------------------------------------------------------------- analytic shapes


def test_cylinder_volumes_and_ef_match_the_analytic_values():
    n_slices, r_ed, r_es = 6, 20.0, 14.0
    cine = _cine(_labels(r_ed, r_ed + 6, n_slices), _labels(r_es, r_es + 8, n_slices))
    result = measure_cine(cine)
    height_mm = n_slices * SPACING[0]
    true_edv = math.pi * (r_ed * SPACING[1]) ** 2 * height_mm / 1000
    true_esv = math.pi * (r_es * SPACING[1]) ** 2 * height_mm / 1000
    assert result.lv_edv_ml == pytest.approx(true_edv, rel=0.01)
    assert result.lv_esv_ml == pytest.approx(true_esv, rel=0.015)
    assert result.lv_sv_ml == pytest.approx(true_edv - true_esv, rel=0.02)
    assert result.lv_ef_pct == pytest.approx(100 * (1 - (r_es / r_ed) ** 2), abs=1.0)
    # disc summation is the voxel count times the voxel volume, exactly
    assert result.lv_edv_ml == pytest.approx(result.lv_edv_voxels * np.prod(SPACING) / 1000, rel=1e-12)
    assert result.rv_edv_voxels > 0 and result.rv_ef_pct is not None


def test_annulus_gives_the_analytic_mass_and_wall_thickness():
    n_slices, r_endo, wall_px = 6, 16.0, 7.0
    labels = _labels(r_endo, r_endo + wall_px, n_slices)
    result = measure_cine(_cine(labels, _labels(12.0, 20.0, n_slices)))
    ring_area_mm2 = math.pi * ((r_endo + wall_px) ** 2 - r_endo**2) * SPACING[1] ** 2
    true_mass = MYOCARDIAL_DENSITY_G_PER_ML * ring_area_mm2 * n_slices * SPACING[0] / 1000
    assert result.lv_mass_g == pytest.approx(true_mass, rel=0.02)
    thickness = result.wall_thickness_mm
    assert thickness is not None and thickness.unit == "mm"
    true_mm = wall_px * SPACING[1]
    assert thickness.mean == pytest.approx(true_mm, abs=0.5 * SPACING[1])
    assert true_mm - 0.5 * SPACING[1] <= thickness.max <= true_mm + 1.0 * SPACING[1]
    # every one of the 16 segments is on the ring and equally thick
    assert all(thickness.segment_mean[s] == pytest.approx(true_mm, abs=0.6 * SPACING[1]) for s in range(1, 17))
    px = result.wall_thickness_px
    assert px is not None and px.mean == pytest.approx(thickness.mean / SPACING[1], rel=1e-9)


def test_wall_thickness_counts_whole_pixels_and_sees_a_thick_sector():
    # a square "ring" with an exactly 3-pixel wall, except one side 6 pixels thick
    cavity = np.zeros((1, 30, 30), bool)
    cavity[0, 10:20, 10:20] = True
    myo = np.zeros_like(cavity)
    myo[0, 7:23, 7:23] = True
    myo[0, 7:23, 20:26] = True  # the right wall (columns 20..25) is 6 pixels thick
    myo &= ~cavity
    result = wall_thickness(cavity, myo, spacing_yx_mm=(2.0, 2.0))
    assert result.max == pytest.approx(12.0)  # 6 pixels x 2 mm
    segments = np.where(myo, 1, 0)
    segments[0, :, 20:] = np.where(myo[0, :, 20:], 2, 0)
    per_segment = wall_thickness(cavity, myo, segments, spacing_yx_mm=(2.0, 2.0))
    assert per_segment.segment_max[2] == pytest.approx(12.0)
    assert per_segment.segment_mean[1] == pytest.approx(6.0)  # the 3-pixel walls
    assert per_segment.segment_mean[3] is None


def test_bsa_and_indexed_values():
    assert bsa_mosteller_m2(180, 80) == pytest.approx(2.0)  # sqrt(180 * 80 / 3600)
    assert bsa_mosteller_m2(165, 60) == pytest.approx(math.sqrt(165 * 60 / 3600))
    for bad in ((0, 70), (170, -1), (float("nan"), 70)):
        with pytest.raises(UsageError):
            bsa_mosteller_m2(*bad)
    cine = _cine(_labels(20, 26, 5), _labels(14, 22, 5))
    data = measure_cine(cine, height_cm=180, weight_kg=80).to_dict()
    assert data["bsa_m2"] == pytest.approx(2.0)
    assert data["lv_edvi_ml_m2"] == pytest.approx(data["lv_edv_ml"] / 2)
    assert data["lv_massi_g_m2"] == pytest.approx(data["lv_mass_g"] / 2)
    assert data["rv_esvi_ml_m2"] == pytest.approx(data["rv_esv_ml"] / 2)
    with pytest.raises(UsageError):
        measure_cine(cine, height_cm=180)
    # height/weight default to the container's metadata
    body = {"height_cm": 180, "weight_kg": 80}
    from_metadata = measure_cine(_cine(_labels(20, 26, 5), _labels(14, 22, 5), metadata=body))
    assert from_metadata.bsa_m2 == pytest.approx(2.0)


def test_unknown_spacing_reports_voxels_only():
    cine = _cine(_labels(20, 26, 5), _labels(14, 22, 5), spacing_known=False)
    data = measure_cine(cine, height_cm=180, weight_kg=80).to_dict()
    assert data["spacing_known"] is False
    for key in (
        "lv_edv_ml",
        "lv_esv_ml",
        "lv_sv_ml",
        "lv_mass_g",
        "rv_edv_ml",
        "lv_edvi_ml_m2",
        "lv_massi_g_m2",
        "max_wall_thickness_mm",
        "wall_thickness_seg03_mean_mm",
    ):
        assert data[key] is None, key
    assert data["lv_edv_voxels"] == 5 * int(_disc(20).sum())
    assert data["lv_ef_pct"] == pytest.approx(100 * (1 - _disc(14).sum() / _disc(20).sum()))
    assert data["max_wall_thickness_px"] == pytest.approx(6.0, abs=1.0)
    assert data["bsa_m2"] == pytest.approx(2.0)
    assert any("voxels" in note for note in data["notes"])


def test_to_dict_is_json_and_has_the_stable_keys():
    data = measure_cine(_cine(_labels(20, 26, 5), _labels(14, 22, 5)), height_cm=170, weight_kg=65).to_dict()
    for key in STABLE_KEYS:
        assert key in data, key
    json.dumps(data, allow_nan=False)
    expected_ef = ejection_fraction_pct(data["lv_edv_voxels"], data["lv_esv_voxels"])
    assert data["lv_ef_pct"] == pytest.approx(expected_ef)
    assert data["rv_lv_edv_ratio"] == pytest.approx(data["rv_edv_voxels"] / data["lv_edv_voxels"])
    assert any("curves skipped" in note for note in data["notes"])  # only ED and ES are segmented
    orientation = data["aha_orientation"]
    assert orientation.startswith("septum from the RV") and "assumed: standard display" in orientation
    assert data["lv_peak_ejection_rate_ml_s"] is None


def test_phases_from_volume_extremes():
    small, large = _labels(12, 20, 4), _labels(20, 26, 4)
    cine = _cine(small, large)  # the container says ED = 0 but frame 1 is larger
    container = measure_cine(cine)
    assert container.lv_ef_pct < 0
    by_volume = measure_cine(cine, phases="volume")
    assert (by_volume.ed_index, by_volume.es_index, by_volume.phase_source) == (1, 0, "volume")
    swapped_ef = -container.lv_ef_pct * container.lv_edv_voxels / container.lv_esv_voxels
    assert by_volume.lv_ef_pct == pytest.approx(swapped_ef)
    with pytest.raises(UsageError):
        measure_cine(cine, phases="guess")  # type: ignore[arg-type]


def test_missing_or_bad_masks_raise_errors_naming_the_source():
    ed, es = _labels(20, 26, 4), _labels(14, 22, 4)
    empty = CineCMR(image=np.zeros((2, 4, N, N), np.float32), spacing_mm=SPACING, source="<cine A>")
    with pytest.raises(MissingDataError, match="<cine A>"):
        measure_cine(empty)
    only_ed = CineCMR(
        image=np.zeros((2, 4, N, N), np.float32),
        spacing_mm=SPACING,
        ed_index=0,
        es_index=1,
        segmentations={0: ed},
        source="<cine B>",
    )
    with pytest.raises(MissingDataError, match="ES frame"):
        measure_cine(only_ed)
    no_es_recorded = CineCMR(
        image=np.zeros((2, 4, N, N), np.float32),
        spacing_mm=SPACING,
        ed_index=0,
        segmentations={0: ed, 1: es},
        source="<cine C>",
    )
    assert measure_cine(no_es_recorded).es_index == 1
    no_cavity = np.where(ed == 3, 0, ed).astype(np.uint8)
    with pytest.raises(MissingDataError, match="empty"):
        measure_cine(_cine(no_cavity, es))
    with pytest.raises(CorruptFileError, match="outside the cine labels"):
        measure_cine(_cine(np.where(ed == 1, 7, ed).astype(np.uint8), es))
    cine = _cine(ed, es)
    with pytest.raises(UsageError, match="outside the cine labels"):
        measure_cine(cine, segmentations={0: np.full_like(ed, 9), 1: es})
    with pytest.raises(InconsistentGeometryError):
        measure_cine(cine, segmentations={0: ed[:2], 1: es})
    with pytest.raises(UsageError):
        measure_cine(cine, segmentations=np.stack([ed]))


# --------------------------------------------------------------------------- volume-time curves


def _two_wave_curve(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A band-limited volume curve (mL) with E and A filling waves, and its exact derivative per cycle."""
    w = 2 * math.pi
    volume = 100 + 35 * np.cos(w * phase) + 5 * np.cos(2 * w * phase + 2.5) + 6 * np.cos(3 * w * phase)
    rate = -35 * w * np.sin(w * phase) - 10 * w * np.sin(2 * w * phase + 2.5) - 18 * w * np.sin(3 * w * phase)
    return volume, rate


def test_sinusoidal_curve_gives_the_analytic_peak_rates():
    rr_ms, n_frames = 800.0, 20
    times = np.arange(n_frames) * rr_ms / n_frames
    volumes = 100 + 40 * np.cos(2 * math.pi * times / rr_ms)  # EDV 140 at t=0, ESV 60 at RR/2
    curve = volume_curve(volumes, frame_times_ms=times, rr_interval_ms=rr_ms, n_harmonics=8)
    peak_ml_per_cycle = 2 * math.pi * 40
    assert curve.rate("peak_ejection_rate", "mL/s") == pytest.approx(peak_ml_per_cycle / 0.8, rel=1e-4)
    assert curve.rate("peak_early_filling_rate", "mL/s") == pytest.approx(peak_ml_per_cycle / 0.8, rel=1e-4)
    assert curve.peak_atrial_filling_rate is None  # a single filling wave
    assert curve.rate("peak_ejection_rate", "EDV/s") == pytest.approx(peak_ml_per_cycle / 140 / 0.8, rel=1e-4)
    assert curve.es_phase_fraction == pytest.approx(0.5, abs=1e-3)
    assert curve.rates_in_ml_s
    np.testing.assert_allclose(curve.fitted, volumes, atol=1e-9)
    untimed = volume_curve(volumes)
    assert untimed.rate("peak_ejection_rate", "mL/s") is None
    assert untimed.rate("peak_ejection_rate", "EDV/cycle") == pytest.approx(peak_ml_per_cycle / 140, rel=1e-4)


def test_two_wave_curve_gives_e_and_a_peaks():
    dense = np.arange(20000) / 20000
    v_dense, rate_dense = _two_wave_curve(dense)
    es = int(np.argmin(v_dense))
    diastole = rate_dense[es:]
    maxima = [i for i in range(1, diastole.size - 1) if diastole[i - 1] < diastole[i] >= diastole[i + 1]]
    assert len(maxima) == 2
    true_e, true_a = diastole[maxima[0]], diastole[maxima[1]]
    true_per = float(np.max(-rate_dense[: es + 1]))
    frames = np.arange(25) / 25
    curve = volume_curve(_two_wave_curve(frames)[0], n_harmonics=10)
    assert curve.peak_ejection_rate == pytest.approx(true_per, rel=2e-3)
    assert curve.peak_early_filling_rate == pytest.approx(true_e, rel=2e-3)
    assert curve.peak_atrial_filling_rate == pytest.approx(true_a, rel=2e-3)
    assert true_e > 1.3 * true_a  # the two are distinguishable: E is not just the maximum filling rate


def test_fourier_smoothing_removes_frame_noise():
    rng = np.random.default_rng(3)
    frames = np.arange(30) / 30
    clean = 100 + 40 * np.cos(2 * math.pi * frames)
    noisy = clean + rng.normal(0, 1.0, frames.size)
    smooth = volume_curve(noisy, n_harmonics=3)
    true_peak = 2 * math.pi * 40
    raw_peak = np.max(-np.diff(noisy) * frames.size)  # frame differences amplify the noise
    assert smooth.peak_ejection_rate == pytest.approx(true_peak, rel=0.06)
    assert abs(smooth.peak_ejection_rate - true_peak) < abs(raw_peak - true_peak)
    with pytest.raises(UsageError):
        volume_curve(noisy[:2])
    with pytest.raises(UsageError):
        volume_curve(noisy, frame_times_ms=frames * 800)


# --------------------------------------------------------------------------- simulated cohort


@pytest.fixture(scope="module")
def simulated():
    from cardiolens.synth.cine import simulate_cine

    return {
        (group, seed): simulate_cine(group, np.random.default_rng(seed), subject_id=f"{group}{seed}")
        for group in ("NOR", "DCM", "HCM", "MINF", "RV")
        for seed in (0, 1, 2)
    }


def test_simulated_truth_equals_the_measurements(simulated):
    for (group, seed), cine in simulated.items():
        truth = cine.metadata["truth"]
        data = measure_cine(cine).to_dict()
        for key, value in truth.items():
            assert data[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (group, seed, key)
        assert data["spacing_known"] and data["rates_in_ml_s"]


def test_simulated_hcm_walls_are_thick(simulated):
    for seed in (0, 1, 2):
        hcm = measure_cine(simulated[("HCM", seed)])
        nor = measure_cine(simulated[("NOR", seed)])
        assert hcm.wall_thickness_mm.max >= 15.0
        assert nor.wall_thickness_mm.max < hcm.wall_thickness_mm.max


def test_simulated_volume_curves_and_filling_pattern(simulated):
    ratios: dict[str, list[float]] = {"NOR": [], "HCM": []}
    for group, values in ratios.items():
        for seed in (0, 1, 2):
            cine = simulated[(group, seed)]
            result = measure_cine(cine)
            curve = result.lv_curve
            assert curve is not None and curve.n_harmonics == 10 and curve.rates_in_ml_s
            # the fitted curve follows the per-frame volumes and the minimum sits near the ES frame
            assert np.max(np.abs(curve.fitted - curve.volumes)) < 0.05 * curve.edv
            es_phase = cine.trigger_times_ms[result.es_index] / cine.rr_interval_ms
            assert curve.es_phase_fraction == pytest.approx(es_phase, abs=0.06)
            # ejection moves the stroke volume in a third of the cycle: the peak rate exceeds SV per cycle
            assert curve.peak_ejection_rate > 2 * result.lv_sv_ml
            assert curve.peak_atrial_filling_rate is not None
            values.append(curve.peak_early_filling_rate / curve.peak_atrial_filling_rate)
            assert result.rv_curve is not None
    # impaired relaxation (simulated HCM) shifts filling from the E to the A wave
    assert np.median(ratios["HCM"]) < np.median(ratios["NOR"])


# --------------------------------------------------------------------------- ACDC ground truth


@pytest.fixture(scope="module")
def acdc_results(shared_data):
    from cardiolens.io.layouts import load, scan

    cohort = scan(shared_data / "acdc")
    rows = []
    for record in cohort.records:
        study = load(cohort, record.subject_id)
        ed = study.ed
        # the full ED/ES frames: the shared cine is cropped to 5-7 slices and misses the first one
        full = study.ed_es_cine()
        data = measure_cine(full).to_dict()
        data["group"] = record.label
        data["voxel_ml"] = float(np.prod(ed.spacing_mm)) / 1000
        rows.append(data)
    first = load(cohort, cohort.records[0].subject_id)
    return rows, first


def _median(rows, group, key, only_known=False):
    values = [r[key] for r in rows if r["group"] == group and (r["spacing_known"] or not only_known)]
    values = [v for v in values if v is not None]
    assert values, (group, key)
    return float(np.median(values))


@pytest.mark.real_data
def test_acdc_every_patient_has_ef_and_edv(acdc_results):
    rows, _ = acdc_results
    assert len(rows) == 60
    for row in rows:
        assert 0 < row["lv_ef_pct"] < 100, row["subject_id"]
        assert row["lv_edv_voxels"] > row["lv_esv_voxels"] > 0
        assert row["bsa_m2"] is not None and 1.0 < row["bsa_m2"] < 3.0  # Info.cfg height/weight
        if row["spacing_known"]:
            assert row["lv_edv_ml"] == pytest.approx(row["lv_edv_voxels"] * row["voxel_ml"])
            assert 40 < row["lv_edv_ml"] < 600 and row["lv_mass_g"] > 40
        else:
            assert row["lv_edv_ml"] is None and row["lv_mass_g"] is None and row["lv_edvi_ml_m2"] is None
            assert row["max_wall_thickness_mm"] is None and row["max_wall_thickness_px"] > 0
    assert sum(not r["spacing_known"] for r in rows) == 33  # per the dataset README
    assert all(not r["spacing_known"] for r in rows if r["group"] == "RV")


@pytest.mark.real_data
def test_acdc_group_medians_follow_the_diagnostic_criteria(acdc_results):
    rows, _ = acdc_results

    def med(group: str, key: str, known: bool = False) -> float:
        return _median(rows, group, key, known)

    # DCM: low EF and a dilated LV
    assert med("DCM", "lv_ef_pct") < 40 < med("NOR", "lv_ef_pct")
    assert med("DCM", "lv_edvi_ml_m2", True) > 100 > med("NOR", "lv_edvi_ml_m2", True)
    # HCM: heavier, thicker walls, normal EF (spacing-known patients for mass/mm; the ratio for all)
    assert med("HCM", "lv_massi_g_m2", True) > 1.5 * med("NOR", "lv_massi_g_m2", True)
    assert med("HCM", "max_wall_thickness_mm", True) > 15 > med("NOR", "max_wall_thickness_mm", True)
    assert med("HCM", "lv_mass_edv_ratio_g_ml") > med("NOR", "lv_mass_edv_ratio_g_ml")
    assert med("HCM", "lv_ef_pct") > 55
    # MINF: low EF
    assert med("MINF", "lv_ef_pct") < 40
    # RV: no spacing known, so spacing-invariant quantities
    assert med("RV", "rv_lv_edv_ratio") > med("NOR", "rv_lv_edv_ratio")
    assert med("RV", "rv_ef_pct") < med("NOR", "rv_ef_pct")


@pytest.mark.real_data
def test_acdc_cropped_cine_with_two_segmented_frames(acdc_results):
    rows, study = acdc_results
    result = measure_cine(study.cine)
    assert result.n_frames_segmented == 2 and result.lv_curve is None
    assert any("curves skipped" in note for note in result.notes)
    assert (result.ed_index, result.es_index) == (study.cine.ed_index, study.cine.es_index)
    # the crop drops the first slice (and apical ones), so fewer voxels than the full frames
    full = next(r for r in rows if r["subject_id"] == study.subject_id)
    assert 0 < result.lv_edv_voxels <= full["lv_edv_voxels"]
    assert result.lv_ef_pct == pytest.approx(full["lv_ef_pct"], abs=5.0)
