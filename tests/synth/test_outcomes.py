"""Simulated outcomes: columns, censoring, determinism and the direction/size of hazard ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiolens.errors import UsageError
from cardiolens.synth.outcomes import (
    HR_PER_SD_MASS,
    LV_MASS_REFERENCE_G,
    OUTCOMES,
    simulate_outcomes,
)


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(130.0, 35.0, n).clip(60, 350), rng.uniform(40.0, 80.0, n), rng.choice(["M", "F"], n)


def _incidence_rate_ratio(frame: pd.DataFrame, outcome: str, exposed: np.ndarray) -> float:
    """Events per person-day in the exposed group over the same in the unexposed group."""
    events, time = frame[f"{outcome}_event"].to_numpy(), frame[f"{outcome}_time_days"].to_numpy()
    return (events[exposed].sum() / time[exposed].sum()) / (events[~exposed].sum() / time[~exposed].sum())


def test_columns_types_and_attrs() -> None:
    mass, age, sex = _cohort(50, 0)
    frame = simulate_outcomes(np.random.default_rng(1), mass, age, sex)
    assert list(frame.columns) == [f"{o}_{c}" for o in OUTCOMES for c in ("time_days", "event")]
    assert len(frame) == 50
    for outcome in OUTCOMES:
        assert frame[f"{outcome}_event"].dtype == bool
        assert frame[f"{outcome}_time_days"].dtype == float
    assert frame.attrs["simulated"] is True
    assert frame.attrs["true_hazard_ratios"]["hf"]["lv_mass_per_35g"] == HR_PER_SD_MASS["hf"]


def test_same_seed_same_table() -> None:
    mass, age, sex = _cohort(200, 2)
    a = simulate_outcomes(np.random.default_rng(3), mass, age, sex)
    b = simulate_outcomes(np.random.default_rng(3), mass, age, sex)
    c = simulate_outcomes(np.random.default_rng(4), mass, age, sex)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_times_positive_and_censored_at_follow_up() -> None:
    mass, age, sex = _cohort(5000, 5)
    frame = simulate_outcomes(np.random.default_rng(6), mass, age, sex, follow_up_days=1000.0)
    for outcome in OUTCOMES:
        time, event = frame[f"{outcome}_time_days"], frame[f"{outcome}_event"]
        assert (time > 0).all() and (time <= 1000.0).all()
        assert 0 < event.mean() < 0.5
        # Most event-free subjects reach the end of follow-up; drop-outs are censored earlier.
        censored = time[~event]
        assert (censored == 1000.0).mean() > 0.9 and (censored < 1000.0).any()
        assert (time[event] < 1000.0).all()


def test_higher_mass_means_more_events() -> None:
    n = 20000
    rng = np.random.default_rng(7)
    age, sex = rng.uniform(40, 80, n), rng.choice(["M", "F"], n)
    low = simulate_outcomes(np.random.default_rng(8), np.full(n, 100.0), age, sex)
    high = simulate_outcomes(np.random.default_rng(8), np.full(n, 220.0), age, sex)
    for outcome in OUTCOMES:
        assert high[f"{outcome}_event"].mean() > low[f"{outcome}_event"].mean()


def test_realised_hazard_ratio_matches_the_documented_one() -> None:
    # Two groups one reference SD of mass apart, same age and sex: the incidence-rate
    # ratio estimates the true HR (events are rare enough for the Weibull shape not to matter).
    n = 40000
    mean_g, sd_g = LV_MASS_REFERENCE_G
    exposed = np.arange(n) % 2 == 1
    mass = np.where(exposed, mean_g + sd_g, mean_g)
    frame = simulate_outcomes(np.random.default_rng(9), mass, np.full(n, 60.0), np.full(n, "F"))
    ratios = {o: _incidence_rate_ratio(frame, o, exposed) for o in OUTCOMES}
    for outcome in OUTCOMES:
        assert ratios[outcome] > 1.0
        assert np.log(ratios[outcome]) == pytest.approx(np.log(HR_PER_SD_MASS[outcome]), abs=0.15)
    assert ratios["hf"] > ratios["mi"]  # HF is the outcome most tied to LV mass


def test_overridden_hazard_ratio_and_other_covariates() -> None:
    n = 40000
    exposed = np.arange(n) % 2 == 1
    mass = np.where(exposed, 200.0, 100.0)
    frame = simulate_outcomes(
        np.random.default_rng(10), mass, np.full(n, 60.0), np.full(n, "M"), hr_per_sd_mass={"hf": 1.0}
    )
    assert _incidence_rate_ratio(frame, "hf", exposed) == pytest.approx(1.0, abs=0.15)
    assert _incidence_rate_ratio(frame, "af", exposed) > 1.3
    age = np.where(exposed, 75.0, 55.0)
    older = simulate_outcomes(np.random.default_rng(11), np.full(n, 130.0), age, np.full(n, "F"))
    assert _incidence_rate_ratio(older, "af", exposed) > 2.0  # HR 1.9 per decade, two decades
    sex = np.where(exposed, "M", "F")
    by_sex = simulate_outcomes(np.random.default_rng(12), np.full(n, 130.0), np.full(n, 60.0), sex)
    assert _incidence_rate_ratio(by_sex, "mi", exposed) > 1.5  # HR 2.0 for men


def test_single_subject_and_subset_of_outcomes() -> None:
    frame = simulate_outcomes(np.random.default_rng(13), 150.0, 60.0, "M", outcomes=("hf",))
    assert frame.shape == (1, 2) and list(frame.columns) == ["hf_time_days", "hf_event"]


def test_bad_arguments_raise_usage_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError, match="outcomes"):
        simulate_outcomes(rng, [150.0], [60.0], ["M"], outcomes=("stroke",))
    with pytest.raises(UsageError, match="length"):
        simulate_outcomes(rng, [150.0, 160.0], [60.0], ["M"])
    with pytest.raises(UsageError, match="sex"):
        simulate_outcomes(rng, [150.0], [60.0], ["unknown"])
    with pytest.raises(UsageError, match="hr_per_sd_mass"):
        simulate_outcomes(rng, [150.0], [60.0], ["M"], outcomes=("af",), hr_per_sd_mass={"hf": 2.0})
    with pytest.raises(UsageError, match="follow_up_days"):
        simulate_outcomes(rng, [150.0], [60.0], ["M"], follow_up_days=0.0)
