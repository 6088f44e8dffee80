"""Simulated 12-lead ECG: determinism, lead identities, amplitudes and the LV-mass relation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardiolens.data import ECG12, STANDARD_LEADS
from cardiolens.errors import UsageError
from cardiolens.synth.ecg import normalise_sex, simulate_ecg


def _ecg(seed: int = 0, **kwargs: object) -> ECG12:
    params: dict = {"lv_mass_g": 150.0, "sex": "M", "age_years": 55.0}
    params.update(kwargs)
    return simulate_ecg(np.random.default_rng(seed), **params)


def _limb_identity_errors(ecg: ECG12) -> list[float]:
    lead_i, lead_ii = ecg.lead("I").astype(float), ecg.lead("II").astype(float)
    return [
        float(np.abs(ecg.lead("III") - (lead_ii - lead_i)).max()),
        float(np.abs(ecg.lead("aVR") - (-(lead_i + lead_ii) / 2)).max()),
        float(np.abs(ecg.lead("aVL") - (lead_i - lead_ii / 2)).max()),
        float(np.abs(ecg.lead("aVF") - (lead_ii - lead_i / 2)).max()),
    ]


def test_same_seed_same_ecg_and_different_seed_differs() -> None:
    a, b, c = _ecg(1), _ecg(1), _ecg(2)
    np.testing.assert_array_equal(a.signal_mv, b.signal_mv)
    assert a.metadata == b.metadata
    assert not np.allclose(a.signal_mv, c.signal_mv)


def test_shape_rate_and_metadata() -> None:
    ecg = _ecg(3, subject_id="S1", fs_hz=250.0, duration_s=8.0)
    assert ecg.signal_mv.shape == (2000, 12)
    assert ecg.fs_hz == 250.0
    assert ecg.lead_names == STANDARD_LEADS
    assert ecg.subject_id == "S1"
    meta = ecg.metadata
    assert meta["simulated"] is True
    assert (meta["lv_mass_g"], meta["sex"], meta["age_years"]) == (150.0, "M", 55.0)
    assert 50.0 <= meta["heart_rate_bpm"] <= 100.0
    truth = meta["truth"]
    for lead in ("V1", "V3", "V5", "V6", "aVL"):
        assert truth["r_amplitude_mv"][lead] >= 0 and truth["s_amplitude_mv"][lead] >= 0
    assert 70.0 <= truth["qrs_duration_ms"] <= 140.0
    json.dumps(meta)  # plain types, so writers can store it


def test_einthoven_goldberger_identities_hold_on_the_clean_signal() -> None:
    clean = _ecg(4, noise=False)
    assert max(_limb_identity_errors(clean)) < 1e-5
    # Noise is added per electrode, so a real recorder's identities survive it too.
    noisy = _ecg(4)
    assert max(_limb_identity_errors(noisy)) < 1e-5


def test_noise_is_realistic_and_clean_version_matches() -> None:
    clean, noisy = _ecg(5, noise=False), _ecg(5)
    residual = noisy.signal_mv - clean.signal_mv
    assert 0.003 < float(residual.std()) < 0.3  # mV: wander + mains + EMG, smaller than the QRS
    assert float(np.abs(residual).max()) < 1.5


def test_amplitudes_are_those_of_a_real_ecg() -> None:
    ecg = _ecg(6, noise=False)
    precordial = np.ptp(ecg.signal_mv, axis=0)[6:]
    assert np.all((precordial > 0.5) & (precordial < 5.0))  # mV
    truth = ecg.metadata["truth"]
    r, s = truth["r_amplitude_mv"], truth["s_amplitude_mv"]
    # Normal R-wave progression: small r and deep S in V1, tall R in V5/V6.
    assert r["V1"] < r["V5"] and s["V1"] > s["V6"]
    assert truth["sokolow_lyon_mv"] == pytest.approx(s["V1"] + max(r["V5"], r["V6"]), abs=1e-3)
    assert truth["cornell_voltage_mv"] == pytest.approx(r["aVL"] + s["V3"], abs=1e-3)

    rng = np.random.default_rng(60)
    truths = [
        simulate_ecg(rng, lv_mass_g=140.0, sex=sex, age_years=55.0, noise=False, duration_s=2.0).metadata["truth"]
        for sex in ["M", "F"] * 20
    ]
    median_sv1 = np.median([t["s_amplitude_mv"]["V1"] for t in truths])
    median_rv56 = np.median([max(t["r_amplitude_mv"]["V5"], t["r_amplitude_mv"]["V6"]) for t in truths])
    median_ravl = np.median([t["r_amplitude_mv"]["aVL"] for t in truths])
    assert 0.6 < median_sv1 < 1.8 and 0.7 < median_rv56 < 2.0 and 0.1 < median_ravl < 0.9


def test_truth_matches_the_clean_signal_beat_by_beat() -> None:
    ecg = _ecg(7, noise=False, heart_rate_bpm=60.0)
    truth = ecg.metadata["truth"]
    onsets = ecg.metadata["qrs_onsets_s"]
    assert 8 <= len(onsets) <= 12  # 60 bpm over 10 s
    width = int(truth["qrs_duration_ms"] / 1000 * ecg.fs_hz)
    v5 = ecg.lead("V5")
    for onset in onsets:
        start = int(round(onset * ecg.fs_hz))
        if start + width >= ecg.n_samples:
            continue
        measured = float(v5[start : start + width].max() - v5[start])
        # Beats vary by +-3 % with respiration around the template truth.
        assert measured == pytest.approx(truth["r_amplitude_mv"]["V5"], rel=0.06)


def test_sokolow_lyon_follows_lv_mass_imperfectly() -> None:
    rng = np.random.default_rng(2024)
    n = 100
    mass = rng.uniform(80.0, 300.0, n)
    sex = rng.choice(["M", "F"], n)
    age = rng.uniform(30.0, 80.0, n)
    sokolow = np.array(
        [
            simulate_ecg(rng, lv_mass_g=m, sex=s, age_years=a, noise=False, duration_s=2.0).metadata["truth"][
                "sokolow_lyon_mv"
            ]
            for m, s, a in zip(mass, sex, age)
        ]
    )
    r = float(np.corrcoef(mass, sokolow)[0, 1])
    # Measured 0.67 over 300 subjects; the model keeps voltage an imperfect marker of mass.
    assert 0.45 < r < 0.9


def test_women_have_lower_voltage_at_equal_mass() -> None:
    def mean_voltage(sex: str, seed: int) -> float:
        rng = np.random.default_rng(seed)
        return float(
            np.mean(
                [
                    simulate_ecg(rng, lv_mass_g=160.0, sex=sex, age_years=55.0, noise=False, duration_s=2.0).metadata[
                        "truth"
                    ]["sokolow_lyon_mv"]
                    for _ in range(60)
                ]
            )
        )

    men, women = mean_voltage("M", 10), mean_voltage("F", 11)
    assert women < 0.95 * men


def test_qrs_duration_rises_with_mass() -> None:
    def mean_qrs(mass: float) -> float:
        rng = np.random.default_rng(12)
        return float(
            np.mean(
                [
                    simulate_ecg(rng, lv_mass_g=mass, sex="M", age_years=55.0, noise=False, duration_s=2.0).metadata[
                        "truth"
                    ]["qrs_duration_ms"]
                    for _ in range(30)
                ]
            )
        )

    assert mean_qrs(280.0) > mean_qrs(100.0) + 4.0


def test_bad_arguments_raise_usage_errors() -> None:
    with pytest.raises(UsageError, match="sex"):
        _ecg(sex="X")
    with pytest.raises(UsageError, match="lv_mass_g"):
        _ecg(lv_mass_g=-5.0)
    with pytest.raises(UsageError, match="heart_rate_bpm"):
        _ecg(heart_rate_bpm=500.0)
    with pytest.raises(UsageError, match="Generator"):
        simulate_ecg(0, lv_mass_g=150.0, sex="M", age_years=50.0)  # type: ignore[arg-type]


def test_normalise_sex_accepts_common_spellings() -> None:
    assert [normalise_sex(s) for s in ("m", "Male", " F ", "female")] == ["M", "M", "F", "F"]
