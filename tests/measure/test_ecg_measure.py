"""ECG measurements (R/S amplitudes, QRS duration) and the LVH voltage criteria.

Accuracy is checked against the simulator's noise-free truth (``metadata["truth"]``:
R/S per lead and QRS duration of the isolated template beat). Tolerances were
measured over 40 simulated ECGs per setting (500 and 250 Hz, with and without
noise): the largest R/S error was 0.055 mV and the largest QRS-duration error
7.8 ms, so the tests allow 0.1 mV (1 mm on standard ECG paper, the resolution of
a manual reading) and 12 ms. At 100 Hz the simulator samples its Gaussian QRS
lobes without an anti-alias filter (aliasing of the narrowest lobes), and errors
reached 0.14 mV / 31 ms; those tests use 0.2 mV / 35 ms.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from cardiolens.data.ecg import ECG12
from cardiolens.data.labels import STANDARD_LEADS
from cardiolens.errors import (
    DataError,
    LeadConfigurationError,
    MissingDataError,
    UsageError,
)
from cardiolens.measure.ecg import ECGMeasurements, measure_ecg
from cardiolens.measure.ecg_lvh import LVH_RULES, LVHCriteria, lvh_criteria
from cardiolens.synth.ecg import simulate_ecg

AMPLITUDE_TOL_MV = 0.1
QRS_TOL_MS = 12.0
# (seed, LV mass g, sex, age years): normal to heavily hypertrophied hearts, both sexes.
CASES = [(11, 110.0, "F", 45.0), (12, 170.0, "M", 60.0), (13, 240.0, "M", 70.0), (14, 300.0, "M", 55.0)]


def _simulate(case: tuple[int, float, str, float], *, noise: bool, fs_hz: float = 500.0) -> ECG12:
    seed, mass, sex, age = case
    return simulate_ecg(
        np.random.default_rng(seed),
        lv_mass_g=mass,
        sex=sex,
        age_years=age,
        noise=noise,
        fs_hz=fs_hz,
        subject_id=f"sim{seed}",
    )


@pytest.fixture(scope="module")
def measured() -> dict[tuple[int, bool, float], tuple[ECG12, ECGMeasurements]]:
    """Each case measured clean and noisy at 500 Hz, and noisy at 250 Hz (one run each)."""
    out = {}
    for case in CASES:
        for noise, fs in ((False, 500.0), (True, 500.0), (True, 250.0)):
            ecg = _simulate(case, noise=noise, fs_hz=fs)
            out[(case[0], noise, fs)] = (ecg, measure_ecg(ecg))
    return out


def _amplitude_errors(ecg: ECG12, m: ECGMeasurements) -> dict[str, float]:
    truth = ecg.metadata["truth"]
    errors = {f"R{lead}": m.r_amplitude_mv[lead] - truth["r_amplitude_mv"][lead] for lead in STANDARD_LEADS}
    # aVR is left out of S: its QRS is almost all negative, so "S after the maximum" flips with a
    # 0.01 mV terminal notch (R/S definition, not accuracy); aVR's S enters no LVH rule.
    errors.update(
        {f"S{lead}": m.s_amplitude_mv[lead] - truth["s_amplitude_mv"][lead] for lead in STANDARD_LEADS if lead != "aVR"}
    )
    return errors


# --- accuracy against simulated truth ------------------------------------------------------


@pytest.mark.parametrize("noise, fs_hz", [(False, 500.0), (True, 500.0), (True, 250.0)])
def test_amplitudes_and_qrs_match_truth(measured, noise: bool, fs_hz: float) -> None:
    for case in CASES:
        ecg, m = measured[(case[0], noise, fs_hz)]
        errors = _amplitude_errors(ecg, m)
        worst = max(errors, key=lambda k: abs(errors[k]))
        assert abs(errors[worst]) <= AMPLITUDE_TOL_MV, f"case {case}: {worst} off by {errors[worst]:.3f} mV"
        truth_qrs = ecg.metadata["truth"]["qrs_duration_ms"]
        assert m.qrs_duration_ms == pytest.approx(truth_qrs, abs=QRS_TOL_MS)
        assert m.delineation_ok and m.delineation_method == "spatial_velocity"
        assert m.noisy_leads == ()


def test_rule_voltages_match_truth(measured) -> None:
    for case in CASES:
        ecg, m = measured[(case[0], True, 500.0)]
        truth = ecg.metadata["truth"]
        criteria = lvh_criteria(m, m.sex)
        # Each voltage sums two amplitudes, so twice the single-amplitude tolerance.
        assert criteria.sokolow_lyon_mv == pytest.approx(truth["sokolow_lyon_mv"], abs=2 * AMPLITUDE_TOL_MV)
        assert criteria.cornell_voltage_mv == pytest.approx(truth["cornell_voltage_mv"], abs=2 * AMPLITUDE_TOL_MV)


def test_100_hz_record_within_looser_tolerance() -> None:
    ecg = _simulate(CASES[1], noise=True, fs_hz=100.0)
    m = measure_ecg(ecg)
    assert m.analysis_fs_hz == 500.0  # upsampled before alignment
    errors = _amplitude_errors(ecg, m)
    assert max(abs(e) for e in errors.values()) <= 0.2
    assert m.qrs_duration_ms == pytest.approx(ecg.metadata["truth"]["qrs_duration_ms"], abs=35.0)


def test_median_beats_and_time_axis(measured) -> None:
    ecg, m = measured[(12, True, 500.0)]
    assert m.median_beats_mv.shape == (12, m.time_ms.size)
    assert m.time_ms[0] == pytest.approx(-250.0) and m.time_ms[-1] == pytest.approx(400.0)
    assert np.all(np.diff(m.time_ms) == pytest.approx(2.0))  # 500 Hz
    assert m.qrs_onset_ms < 0 < m.qrs_offset_ms
    assert m.heart_rate_bpm == pytest.approx(ecg.metadata["heart_rate_bpm"], rel=0.1)
    assert m.n_beats >= 8
    # R in V5 from the median beat itself, against the baseline just before QRS onset.
    v5 = m.median_beats_mv[STANDARD_LEADS.index("V5")]
    baseline = np.median(v5[(m.time_ms >= m.qrs_onset_ms - 20) & (m.time_ms <= m.qrs_onset_ms)])
    in_qrs = (m.time_ms >= m.qrs_onset_ms) & (m.time_ms <= m.qrs_offset_ms)
    assert m.r_amplitude_mv["V5"] == pytest.approx(v5[in_qrs].max() - baseline)


def test_to_dict_is_json_with_unit_keys(measured) -> None:
    _, m = measured[(12, False, 500.0)]
    d = m.to_dict()
    json.dumps(d)
    for key in ("rv5_mv", "rv6_mv", "sv1_mv", "sv3_mv", "sv4_mv", "ravl_mv", "qrs_ms", "heart_rate_bpm"):
        assert key in d
    assert d["rv5_mv"] == pytest.approx(m.r_amplitude_mv["V5"], abs=1e-4)
    assert d["sv1_mv"] == pytest.approx(m.s_amplitude_mv["V1"], abs=1e-4)
    assert d["qrs_ms"] == pytest.approx(m.qrs_duration_ms, abs=0.01)
    assert len([k for k in d if k.startswith(("r", "s")) and k.endswith("_mv")]) == 24
    with_beats = m.to_dict(include_median_beats=True)
    json.dumps(with_beats)
    assert len(with_beats["median_beats_mv"]["V5"]) == len(with_beats["time_ms"]) == m.time_ms.size


def test_reordered_leads_give_the_same_measurement(measured) -> None:
    ecg, m = measured[(13, True, 500.0)]
    order = list(reversed(range(12)))
    shuffled = ECG12.from_leads(
        ecg.signal_mv[:, order], [STANDARD_LEADS[i].upper() for i in order], ecg.fs_hz, metadata=dict(ecg.metadata)
    )
    again = measure_ecg(shuffled)
    for lead in STANDARD_LEADS:
        assert again.r_amplitude_mv[lead] == pytest.approx(m.r_amplitude_mv[lead], abs=1e-6)
    assert again.qrs_duration_ms == pytest.approx(m.qrs_duration_ms)


def test_dwt_option_runs_and_reports_its_method() -> None:
    ecg = _simulate(CASES[1], noise=True)
    m = measure_ecg(ecg, qrs_method="dwt")
    assert m.delineation_method in {"dwt", "spatial_velocity"}
    assert m.delineation_ok == (m.delineation_method == "dwt")
    assert 40.0 <= m.qrs_duration_ms <= 220.0


# --- sex ----------------------------------------------------------------------------------------


def test_sex_from_argument_metadata_or_unknown(measured) -> None:
    ecg, _ = measured[(11, True, 500.0)]
    assert measure_ecg(ecg).sex == "F"  # from metadata
    assert measure_ecg(ecg, sex="male").sex == "M"  # the argument wins
    anonymous = ECG12(ecg.signal_mv, ecg.fs_hz, source="/data/anon.hea")
    assert measure_ecg(anonymous).sex is None
    with pytest.raises(UsageError, match="sex"):
        measure_ecg(anonymous, sex="X")


# --- bad input ---------------------------------------------------------------------------------


def test_wrong_lead_count_or_order_fails_in_the_container() -> None:
    signal = np.zeros((5000, 11))
    with pytest.raises(LeadConfigurationError, match="expected 12 leads"):
        ECG12(signal, 500.0, source="/data/eleven.hea")
    with pytest.raises(LeadConfigurationError, match="in that order"):
        ECG12(np.zeros((5000, 12)), 500.0, lead_names=tuple(reversed(STANDARD_LEADS)), source="/data/rev.hea")
    names = list(STANDARD_LEADS[:11]) + ["X"]
    with pytest.raises(LeadConfigurationError, match="missing lead"):
        ECG12.from_leads(np.zeros((5000, 12)), names, 500.0, source="/data/x.hea")


def test_flat_record_names_the_file() -> None:
    ecg = ECG12(np.zeros((5000, 12)), 500.0, source="/data/flat.hea", subject_id="p7")
    with pytest.raises(MissingDataError, match="no reliable R peaks") as info:
        measure_ecg(ecg)
    assert info.value.path == "/data/flat.hea"
    assert info.value.problem.startswith("ECG p7: ")


def test_noise_only_record_is_refused() -> None:
    noise = np.random.default_rng(3).normal(0.0, 0.2, (5000, 12))
    with pytest.raises(MissingDataError, match="no reliable R peaks") as info:
        measure_ecg(ECG12(noise, 500.0, source="/data/noise.hea"))
    assert "/data/noise.hea" in str(info.value)


def test_short_record_and_low_rate_are_refused() -> None:
    ecg = _simulate(CASES[0], noise=False)
    with pytest.raises(MissingDataError, match="too short"):
        measure_ecg(ECG12(ecg.signal_mv[:800], 500.0, source="/data/short.hea"))
    with pytest.raises(LeadConfigurationError, match="50 Hz"):
        measure_ecg(ECG12(ecg.signal_mv[::10], 50.0, source="/data/slow.hea"))
    with pytest.raises(UsageError):
        measure_ecg(ecg.signal_mv)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="qrs_method"):
        measure_ecg(ecg, qrs_method="guess")


@pytest.mark.parametrize("damage", ["flat", "noise"])
def test_one_bad_lead_is_flagged_and_spares_the_others(measured, damage: str) -> None:
    ecg, _ = measured[(12, False, 500.0)]
    signal = ecg.signal_mv.copy()
    v3 = STANDARD_LEADS.index("V3")
    signal[:, v3] = 0.0 if damage == "flat" else np.random.default_rng(1).normal(0.0, 0.5, signal.shape[0])
    m = measure_ecg(ECG12(signal, ecg.fs_hz, metadata=dict(ecg.metadata)))
    assert m.noisy_leads == ("V3",)
    truth = ecg.metadata["truth"]
    assert m.qrs_duration_ms == pytest.approx(truth["qrs_duration_ms"], abs=QRS_TOL_MS)
    for lead in ("V1", "V5", "aVL"):
        assert m.r_amplitude_mv[lead] == pytest.approx(truth["r_amplitude_mv"][lead], abs=AMPLITUDE_TOL_MV)
    criteria = lvh_criteria(m, "M")
    assert criteria.cornell_voltage is None and criteria.cornell_product is None  # read V3
    assert criteria.sokolow_lyon is not None and criteria.avl is not None
    assert any("V3" in note for note in criteria.notes)


def test_an_ectopic_beat_is_dropped(measured) -> None:
    ecg, clean = measured[(12, False, 500.0)]
    signal = ecg.signal_mv.copy()
    onset = int(ecg.metadata["qrs_onsets_s"][4] * ecg.fs_hz)
    beat = slice(onset - 50, onset + 150)
    signal[beat] = -2.0 * signal[beat]  # a wide, inverted, bigger complex
    m = measure_ecg(ECG12(signal, ecg.fs_hz, metadata=dict(ecg.metadata)))
    assert m.n_beats == clean.n_beats - 1
    assert any("dropped 1" in note for note in m.notes)
    for lead in ("V1", "V5", "aVL"):
        assert m.r_amplitude_mv[lead] == pytest.approx(clean.r_amplitude_mv[lead], abs=0.02)


# --- LVH rules on hand-made measurements ----------------------------------------------------


def _given(
    r: dict[str, float] | None = None, s: dict[str, float] | None = None, qrs_ms: float = 100.0
) -> ECGMeasurements:
    r_all = {lead: 0.0 for lead in STANDARD_LEADS} | (r or {})
    s_all = {lead: 0.0 for lead in STANDARD_LEADS} | (s or {})
    return ECGMeasurements.from_amplitudes(r_all, s_all, qrs_ms)


@pytest.mark.parametrize(
    "sv1, rv5, rv6, expected",
    [
        (1.5, 2.0, 1.0, True),  # exactly 3.5 mV: >= passes
        (1.2, 2.3, 0.0, True),  # 3.5 in decimal, 3.4999999999999996 in binary
        (1.5, 1.99, 1.0, False),
        (1.5, 1.0, 2.0, True),  # the larger of RV5 and RV6
    ],
)
def test_sokolow_lyon(sv1: float, rv5: float, rv6: float, expected: bool) -> None:
    criteria = lvh_criteria(_given({"V5": rv5, "V6": rv6}, {"V1": sv1}), None)
    assert criteria.sokolow_lyon is expected
    assert criteria.sokolow_lyon_mv == pytest.approx(sv1 + max(rv5, rv6))


@pytest.mark.parametrize(
    "ravl, sv3, sex, expected",
    [
        (1.0, 1.8, "M", False),  # exactly 2.8: strict >
        (1.0, 1.81, "M", True),
        (1.0, 1.0, "F", False),  # exactly 2.0
        (1.0, 1.01, "F", True),
        (1.0, 1.5, "F", True),  # 2.5 mV: LVH in a woman...
        (1.0, 1.5, "M", False),  # ...not in a man
    ],
)
def test_cornell_voltage(ravl: float, sv3: float, sex: str, expected: bool) -> None:
    criteria = lvh_criteria(_given({"aVL": ravl}, {"V3": sv3}), sex)
    assert criteria.cornell_voltage is expected
    assert criteria.cornell_voltage_mv == pytest.approx(ravl + sv3)


@pytest.mark.parametrize(
    "cornell_mv, qrs_ms, sex, add_mv, product, expected",
    [
        (2.0, 122.0, "M", 0.6, 244.0, False),  # exactly 244: strict >
        (2.0, 123.0, "M", 0.6, 246.0, True),
        (1.4, 122.0, "F", 0.6, 244.0, False),  # (1.4 + 0.6) x 122
        (1.4, 123.0, "F", 0.6, 246.0, True),
        (1.4, 111.0, "F", 0.8, 244.2, True),  # the 0.8 mV variant
        (1.4, 111.0, "F", 0.6, 222.0, False),
    ],
)
def test_cornell_product(
    cornell_mv: float, qrs_ms: float, sex: str, add_mv: float, product: float, expected: bool
) -> None:
    m = _given({"aVL": cornell_mv / 2}, {"V3": cornell_mv / 2}, qrs_ms=qrs_ms)
    criteria = lvh_criteria(m, sex, cornell_product_female_add_mv=add_mv)
    assert criteria.cornell_product_mv_ms == pytest.approx(product)
    assert criteria.cornell_product is expected


@pytest.mark.parametrize("ravl, expected", [(1.1, False), (1.11, True), (0.5, False)])
def test_avl_rule(ravl: float, expected: bool) -> None:
    criteria = lvh_criteria(_given({"aVL": ravl}), "F")
    assert criteria.avl is expected and criteria.ravl_mv == ravl


@pytest.mark.parametrize(
    "s, sex, voltage, expected",
    [
        ({"III": 1.8, "V4": 1.0}, "M", 2.8, True),  # deepest S anywhere + SV4, >= passes
        ({"III": 1.79, "V4": 1.0}, "M", 2.79, False),
        ({"V2": 1.3, "V4": 1.0}, "F", 2.3, True),
        ({"V2": 1.29, "V4": 1.0}, "F", 2.29, False),
        ({"V2": 1.0, "V4": 1.2}, "F", 2.4, True),  # deepest S is V4 itself: counted twice
    ],
)
def test_peguero_lo_presti(s: dict[str, float], sex: str, voltage: float, expected: bool) -> None:
    criteria = lvh_criteria(_given(s=s), sex)
    assert criteria.peguero_mv == pytest.approx(voltage)
    assert criteria.peguero is expected


def test_unknown_sex_gives_none_for_sex_specific_rules() -> None:
    m = _given({"aVL": 1.0, "V5": 1.0}, {"V3": 2.5, "V1": 1.0, "V4": 1.5}, qrs_ms=150.0)
    criteria = lvh_criteria(m, None)
    assert criteria.cornell_voltage is None and criteria.cornell_product is None and criteria.peguero is None
    assert criteria.cornell_product_mv_ms is None
    assert criteria.cornell_voltage_mv == pytest.approx(3.5)  # the voltage itself needs no sex
    assert criteria.sokolow_lyon is False and criteria.avl is False
    assert criteria.any_rule is None  # nothing positive, three rules unknown: no guess
    assert any("sex unknown" in note for note in criteria.notes)
    # The same voltages with sex known: Cornell is positive in both sexes.
    assert lvh_criteria(m, "M").any_rule is True and lvh_criteria(m, "F").cornell_voltage is True


def test_any_rule_is_the_or_of_enabled_rules() -> None:
    normal = _given({"aVL": 0.5, "V5": 1.5}, {"V1": 0.8, "V3": 0.5, "V4": 0.4})
    assert lvh_criteria(normal, "M").any_rule is False
    tall_avl = _given({"aVL": 1.2, "V5": 1.5}, {"V1": 0.8, "V3": 0.5, "V4": 0.4})
    assert lvh_criteria(tall_avl, "M").any_rule is True
    assert lvh_criteria(tall_avl, None).any_rule is True  # one True settles it even with sex unknown
    only_sokolow = lvh_criteria(tall_avl, "M", rules=("sokolow_lyon",))
    assert only_sokolow.any_rule is False and only_sokolow.avl is None
    assert only_sokolow.enabled_rules == ("sokolow_lyon",)


def test_criteria_to_dict_and_validation() -> None:
    criteria = lvh_criteria(_given({"aVL": 1.2}, {"V3": 1.0}, qrs_ms=110.0), "F")
    d = criteria.to_dict()
    json.dumps(d)
    for key in ("sokolow_lyon_mv", "cornell_voltage_mv", "cornell_product_mv_ms", "peguero_mv", "any_rule", *LVH_RULES):
        assert key in d
    assert d["cornell_product_mv_ms"] == pytest.approx((2.2 + 0.6) * 110.0)
    assert isinstance(criteria, LVHCriteria) and criteria.flags()["avl"] is True
    with pytest.raises(UsageError, match="unknown LVH rule"):
        lvh_criteria(_given(), "M", rules=("romhilt_estes",))
    with pytest.raises(UsageError, match="sex"):
        lvh_criteria(_given(), "unsure")
    with pytest.raises(UsageError):
        lvh_criteria(_given(), "F", cornell_product_female_add_mv=-0.6)


def test_from_amplitudes_validates() -> None:
    zeros = {lead: 0.0 for lead in STANDARD_LEADS}
    m = ECGMeasurements.from_amplitudes({**zeros, "AVL": 1.2}, zeros, 90.0, sex="f")
    assert m.r_amplitude_mv["aVL"] == 1.2 and m.sex == "F"
    with pytest.raises(UsageError, match="missing"):
        ECGMeasurements.from_amplitudes({"V5": 1.0}, zeros, 90.0)
    with pytest.raises(UsageError, match=">= 0"):
        ECGMeasurements.from_amplitudes({**zeros, "V5": -1.0}, zeros, 90.0)
    with pytest.raises(UsageError, match="qrs_duration_ms"):
        ECGMeasurements.from_amplitudes(zeros, zeros, math.nan)


def test_unreliable_lead_voids_the_rules_that_read_it() -> None:
    m = dataclasses.replace(_given({"V5": 3.0}, {"V1": 1.0, "II": 3.0, "V4": 0.5}), noisy_leads=("V1", "II"))
    criteria = lvh_criteria(m, "M")
    assert criteria.sokolow_lyon is None  # reads V1
    assert criteria.peguero_mv == pytest.approx(0.5 + 0.5)  # II's "S" is noise: not the deepest S
    assert criteria.avl is False
    assert criteria.any_rule is None  # the others are negative, but Sokolow-Lyon is unknown


# --- real data ----------------------------------------------------------------------------------


@pytest.mark.real_data
def test_ptbxl_records_measure_with_plausible_values(shared_data) -> None:
    from cardiolens.io.layouts import load, scan

    root = shared_data / "ptbxl"
    if not root.is_dir():
        pytest.skip(f"PTB-XL not found at {root}")
    cohort = scan(root, layout="ptbxl")
    normal = [r.subject_id for r in cohort.records if "NORM" in r.attributes["scp_codes"]][:4]
    lvh = [r.subject_id for r in cohort.records if r.label == "LVH"][:2]
    assert len(normal) == 4 and len(lvh) == 2
    for subject_id in normal + lvh:
        ecg = load(cohort, subject_id)
        try:
            m = measure_ecg(ecg)
        except DataError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{subject_id}: {exc}")
        assert 60.0 <= m.qrs_duration_ms <= 160.0, subject_id
        amplitudes = list(m.r_amplitude_mv.values()) + list(m.s_amplitude_mv.values())
        assert all(0.0 <= a <= 5.0 for a in amplitudes), subject_id
        assert max(m.r_amplitude_mv.values()) > 0.3  # a real QRS somewhere
        assert 30.0 <= m.heart_rate_bpm <= 200.0
        assert m.sex == ecg.metadata["sex"] and m.sex in {"M", "F"}
        criteria = lvh_criteria(m, m.sex)
        assert criteria.any_rule in {True, False}
