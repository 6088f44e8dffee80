"""Survival statistics: known hazard ratios, C-index direction, KM against the empirical curve, log-rank, PH check."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cardiolens.errors import MalformedTableError, UsageError
from cardiolens.stats.estimate import Estimate
from cardiolens.stats.survival import (
    CoxResult,
    concordance,
    fit_cox,
    kaplan_meier,
    plot_kaplan_meier,
)
from cardiolens.synth.outcomes import simulate_outcomes


@pytest.fixture(scope="module")
def hf_cohort() -> pd.DataFrame:
    """3000 simulated subjects with heart-failure outcomes from a known Cox model."""
    rng = np.random.default_rng(11)
    n = 3000
    mass_g = rng.normal(130.0, 35.0, n).clip(60, 350)
    age = rng.uniform(40.0, 80.0, n)
    sex = rng.choice(["M", "F"], n)
    outcomes = simulate_outcomes(np.random.default_rng(12), mass_g, age, sex, outcomes=("hf",))
    frame = pd.DataFrame({
        "time": outcomes["hf_time_days"],
        "event": outcomes["hf_event"],
        "lv_mass_g": mass_g,
        "mass_per_35g": mass_g / 35.0,
        "age_per_10y": age / 10.0,
        "male": (sex == "M").astype(int),
    })
    frame.attrs["truth"] = outcomes.attrs["true_hazard_ratios"]["hf"]
    return frame


def test_cox_hazard_ratio_cis_cover_the_truth(hf_cohort: pd.DataFrame) -> None:
    truth = hf_cohort.attrs["truth"]  # {"lv_mass_per_35g": 1.8, "age_per_10y": 1.8, "male": 1.4}
    result = fit_cox(hf_cohort, ["mass_per_35g", "age_per_10y", "male"], n_resamples=50)
    assert isinstance(result, CoxResult)
    assert result.n == 3000 and result.n_events == int(hf_cohort["event"].sum()) > 100
    for column, key in (("mass_per_35g", "lv_mass_per_35g"), ("age_per_10y", "age_per_10y"), ("male", "male")):
        hr = result.hazard_ratios[column]
        assert isinstance(hr, Estimate)
        assert hr.ci_low <= truth[key] <= hr.ci_high, (column, hr, truth[key])
        assert hr.ci_low > 1.0  # every true effect raises the hazard: the direction must be right
        assert result.p_values[column] < 0.05
    # Binary covariates get no per-SD HR by default; continuous ones do.
    assert set(result.hazard_ratios_per_sd) == {"mass_per_35g", "age_per_10y"}
    assert 0.6 < result.c_index.value < 0.9 and result.c_index.ci is not None
    assert result.proportional_hazards_ok
    json.dumps(result.to_dict(), allow_nan=False)


def test_per_sd_hazard_ratio_equals_a_fit_on_the_standardised_covariate(hf_cohort: pd.DataFrame) -> None:
    raw = fit_cox(hf_cohort, ["lv_mass_g", "age_per_10y", "male"], n_resamples=0)
    sd = hf_cohort["lv_mass_g"].std(ddof=1)
    standardised = hf_cohort.assign(lv_mass_sd=(hf_cohort["lv_mass_g"] - hf_cohort["lv_mass_g"].mean()) / sd)
    refit = fit_cox(standardised, ["lv_mass_sd", "age_per_10y", "male"], per_sd=[], n_resamples=0)
    per_sd = raw.hazard_ratios_per_sd["lv_mass_g"]
    assert raw.covariate_sd["lv_mass_g"] == pytest.approx(sd)
    assert per_sd.value == pytest.approx(raw.hazard_ratios["lv_mass_g"].value ** sd, rel=1e-9)
    assert per_sd.value == pytest.approx(refit.hazard_ratios["lv_mass_sd"].value, rel=1e-4)
    assert per_sd.ci == pytest.approx(refit.hazard_ratios["lv_mass_sd"].ci, rel=1e-4)
    # The simulation's truth is 1.8 per 35 g, hence 1.8 ** (SD / 35 g) per sample SD.
    assert per_sd.ci_low <= 1.8 ** (sd / 35.0) <= per_sd.ci_high
    assert raw.c_index.ci is None  # n_resamples=0 asks for no CI


def test_c_index_direction_perfect_and_negated_scores() -> None:
    rng = np.random.default_rng(0)
    time = rng.exponential(100.0, 60)
    frame = pd.DataFrame({"time": time, "event": np.ones(60, bool), "risk": -time, "protective": time})
    # Risk = higher means shorter survival: minus the time is a perfect risk score.
    perfect = concordance(frame, "risk", n_resamples=100)
    assert perfect.value == 1.0 and perfect.ci == (1.0, 1.0)
    assert concordance(frame, "protective", n_resamples=0).value == 0.0


def test_c_index_hand_computed_with_censoring_and_ties() -> None:
    # Comparable pairs (earlier time is an event): (1,2) (1,3) (1,4) (1,5) (2,3) (2,4) (2,5) (4,5) = 8.
    frame = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0, 5.0], "e": [1, 1, 0, 1, 0], "r": [5.0, 3.0, 4.0, 1.0, 2.0]})
    # Concordant: subject 1 with all 4, subject 2 with 4 and 5 -> 6 of 8.
    assert concordance(frame, "r", time="t", event="e", n_resamples=0).value == pytest.approx(6 / 8)
    tied = frame.assign(r=[5.0, 3.0, 4.0, 1.0, 1.0])  # pair (4,5) now tied: counts 1/2
    assert concordance(tied, "r", time="t", event="e", n_resamples=0).value == pytest.approx(6.5 / 8)


def test_c_index_bootstrap_is_seeded_and_brackets_the_value(hf_cohort: pd.DataFrame) -> None:
    small = hf_cohort.iloc[:400]
    first = concordance(small, "mass_per_35g", n_resamples=200, seed=5)
    again = concordance(small, "mass_per_35g", n_resamples=200, seed=5)
    assert first == again
    assert first.ci_low < first.value < first.ci_high
    assert "bootstrap" in first.method and first.n == 400


def test_kaplan_meier_without_censoring_is_the_empirical_survival_function() -> None:
    rng = np.random.default_rng(4)
    time = np.round(rng.exponential(30.0, 80))  # rounding creates tied times
    result = kaplan_meier(pd.DataFrame({"time": time, "event": np.ones(80, int)}))
    curve = result.curves["all"]
    expected = [(time > t).mean() for t in curve["time"]]
    assert curve["survival"].to_numpy() == pytest.approx(expected)
    assert curve["time"].iloc[0] == 0.0 and curve["survival"].iloc[0] == 1.0
    inside = curve["survival"].between(0, 1)
    assert ((curve["ci_low"] <= curve["survival"] + 1e-12) & (curve["survival"] <= curve["ci_high"] + 1e-12))[inside].all()
    assert result.median_survival["all"] == pytest.approx(np.min(curve["time"][curve["survival"] <= 0.5]))
    assert result.logrank_p is None and result.n == {"all": 80}


def test_log_rank_hand_computed_example() -> None:
    # Group A: events at 1, 3; group B: events at 2, 4. By hand, for group A:
    # O - E = 2 - (1/2 + 1/3 + 1/2) = 2/3; V = 1/4 + 2/9 + 1/4 = 13/18; chi2 = (2/3)^2 / V = 8/13.
    frame = pd.DataFrame({"time": [1.0, 3.0, 2.0, 4.0], "event": [1, 1, 1, 1], "arm": ["A", "A", "B", "B"]})
    result = kaplan_meier(frame, group="arm")
    assert result.logrank_statistic == pytest.approx(8 / 13)
    assert result.logrank_p == pytest.approx(stats.chi2.sf(8 / 13, 1))
    assert list(result.curves["A"]["survival"]) == pytest.approx([1.0, 0.5, 0.0])
    assert result.n_events == {"A": 2, "B": 2}


def test_log_rank_separates_groups_with_different_hazards(tmp_path) -> None:
    rng = np.random.default_rng(8)
    high_risk = np.repeat([0, 1], 150)
    time = rng.exponential(np.where(high_risk == 1, 50.0, 150.0))
    censor = rng.uniform(0, 200, 300)
    frame = pd.DataFrame({"time": np.minimum(time, censor), "event": time <= censor, "lvh": high_risk})
    result = kaplan_meier(frame, group="lvh")
    assert result.logrank_p < 1e-6
    assert result.median_survival["1"] < result.median_survival["0"]
    png = plot_kaplan_meier(result, tmp_path / "km" / "lvh.png", title="LVH")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["lvh.png"]  # no temporary file left behind
    json.dumps(result.to_dict(), allow_nan=False)


def test_schoenfeld_test_flags_a_time_varying_effect() -> None:
    rng = np.random.default_rng(21)
    n = 800
    exposed = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    # Unexposed: exponential (constant hazard); exposed: Weibull shape 3, so their hazard ratio rises with time.
    u = rng.standard_exponential(n) / np.exp(0.5 * z)  # z acts proportionally (HR e^0.5 per unit)
    time = np.where(exposed == 1, 10.0 * u ** (1 / 3), 10.0 * u)
    censor = rng.uniform(5, 40, n)
    frame = pd.DataFrame({"time": np.minimum(time, censor), "event": time <= censor, "exposed": exposed, "z": z})
    result = fit_cox(frame, ["exposed", "z"], n_resamples=0)
    assert result.ph_violated["exposed"] and result.ph_p_values["exposed"] < 1e-3
    assert not result.ph_violated["z"]
    assert not result.proportional_hazards_ok


def test_malformed_tables_raise_errors_naming_the_table() -> None:
    good = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "x": [0.1, 0.5, 0.2]})
    good.attrs["source"] = "/data/outcomes.csv"
    with pytest.raises(MalformedTableError, match=r"/data/outcomes.csv: missing column\(s\) 'risk'"):
        concordance(good, "risk")
    with pytest.raises(MalformedTableError, match="negative time"):
        kaplan_meier(good.assign(time=[1.0, -2.0, 3.0]))
    with pytest.raises(MalformedTableError, match="0/1 or True/False"):
        kaplan_meier(good.assign(event=[1, 2, 0]))
    with pytest.raises(MalformedTableError, match="0/1 or True/False"):
        kaplan_meier(good.assign(event=["dead", "alive", "dead"]))
    with pytest.raises(MalformedTableError, match="non-finite"):
        fit_cox(good.assign(x=[0.1, math.nan, 0.2]), ["x"], n_resamples=0)
    with pytest.raises(MalformedTableError, match="must be numeric"):
        fit_cox(good.assign(x=["M", "F", "M"]), ["x"], n_resamples=0)
    with pytest.raises(MalformedTableError, match="no events"):
        fit_cox(good.assign(event=[0, 0, 0]), ["x"], n_resamples=0)
    with pytest.raises(MalformedTableError, match="constant"):
        fit_cox(good.assign(x=1.0), ["x"], n_resamples=0)
    with pytest.raises(UsageError, match="DataFrame"):
        kaplan_meier({"time": [1.0], "event": [1]})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="per_sd"):
        fit_cox(good, ["x"], per_sd=["age"], n_resamples=0)


def test_cox_refuses_separated_data_instead_of_overflowing():
    """Every event in the exposed group only: no finite HR exists, the fit must say so."""
    rng = np.random.default_rng(0)
    n = 40
    exposed = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    frame = pd.DataFrame({
        "time": rng.uniform(1, 100, n),
        "event": exposed.astype(bool),
        "exposed": exposed,
    })
    with pytest.raises(MalformedTableError, match="unstable|converge"):
        fit_cox(frame, ["exposed"], time="time", event="event", n_resamples=0)
