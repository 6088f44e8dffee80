"""Calibration: logistic recalibration slope/intercept, Brier score and reliability table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from cardiolens.errors import UsageError
from cardiolens.stats.calibration import (
    brier_score,
    calibration_slope_intercept,
    fit_logistic,
    reliability_table,
)
from cardiolens.stats.diagnostic import wilson_interval


def _calibrated(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from the predicted probabilities themselves: perfectly calibrated in truth."""
    rng = np.random.default_rng(seed)
    probability = expit(rng.normal(-0.5, 1.5, size=n))
    return rng.random(n) < probability, probability


def test_perfectly_calibrated_probabilities_give_slope_one_intercept_zero() -> None:
    y, p = _calibrated()
    fit = calibration_slope_intercept(y, p)
    assert fit.slope.value == pytest.approx(1.0, abs=0.1)
    assert fit.intercept.value == pytest.approx(0.0, abs=0.1)
    assert fit.slope.ci_low < 1.0 < fit.slope.ci_high
    assert fit.intercept.ci_low < 0.0 < fit.intercept.ci_high
    assert fit.n == y.size
    payload = json.loads(json.dumps(fit.to_dict()))
    assert payload["calibration_slope"]["value"] == pytest.approx(fit.slope.value)


def test_miscalibration_moves_slope_and_intercept_the_expected_way() -> None:
    y, p = _calibrated()
    base = calibration_slope_intercept(y, p)
    squashed = calibration_slope_intercept(y, expit(0.5 * logit(p)))  # too modest
    extreme = calibration_slope_intercept(y, expit(2.0 * logit(p)))  # too extreme
    overestimated = calibration_slope_intercept(y, expit(logit(p) + 1.0))
    # Scaling the logit by c divides the fitted slope by c exactly.
    assert squashed.slope.value == pytest.approx(2.0 * base.slope.value, rel=1e-6)
    assert extreme.slope.value == pytest.approx(0.5 * base.slope.value, rel=1e-6)
    assert squashed.slope.value > 1.5
    # Shifting the logit by +1 shifts calibration-in-the-large by exactly -1 (the offset absorbs it).
    assert overestimated.intercept.value == pytest.approx(base.intercept.value - 1.0, abs=1e-6)
    assert overestimated.slope.value == pytest.approx(base.slope.value, rel=1e-6)


def test_calibration_in_the_large_closed_form_for_constant_predictions() -> None:
    # With every p = c the offset model has the closed form a = logit(mean y) - logit(c).
    y = np.r_[np.ones(30, bool), np.zeros(70, bool)]
    fit = calibration_slope_intercept(y, np.full(100, 0.2))
    assert fit.intercept.value == pytest.approx(logit(0.3) - logit(0.2), abs=1e-9)
    # Wald SE of a logit proportion: 1 / sqrt(n p (1 - p)).
    se = 1.0 / math.sqrt(100 * 0.3 * 0.7)
    assert fit.intercept.ci_high - fit.intercept.ci_low == pytest.approx(2 * 1.959964 * se, rel=1e-5)
    assert math.isnan(fit.slope.value) and fit.slope.ci is None
    assert "all predictions equal" in fit.slope.method


def test_newton_fit_matches_direct_likelihood_maximisation() -> None:
    y, p = _calibrated(n=600, seed=3)
    lp = logit(p)
    design = np.column_stack([np.ones_like(lp), lp])

    def negative_log_likelihood(coef: np.ndarray) -> float:
        eta = design @ coef
        return -float(np.sum(np.where(y, log_expit(eta), log_expit(-eta))))

    reference = minimize(negative_log_likelihood, np.zeros(2), method="BFGS", options={"gtol": 1e-9})
    coef, covariance, converged = fit_logistic(design, y)
    assert converged
    assert coef == pytest.approx(reference.x, abs=1e-5)
    # The covariance is the inverse of the numerical Hessian of the negative log-likelihood.
    h = 1e-4
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hessian[i, j] = (
                negative_log_likelihood(coef + ei + ej)
                - negative_log_likelihood(coef + ei - ej)
                - negative_log_likelihood(coef - ei + ej)
                + negative_log_likelihood(coef - ei - ej)
            ) / (4 * h * h)
    assert covariance == pytest.approx(np.linalg.inv(hessian), rel=1e-3)
    fit = calibration_slope_intercept(y, p)
    assert fit.slope.value == pytest.approx(reference.x[1], abs=1e-5)
    assert fit.slope_model_intercept == pytest.approx(reference.x[0], abs=1e-5)


def test_perfect_separation_leaves_the_slope_undefined() -> None:
    fit = calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
    assert math.isnan(fit.slope.value) and fit.slope.ci is None
    assert "separated" in fit.slope.method
    assert math.isfinite(fit.intercept.value)
    assert fit.to_dict()["calibration_slope"] == {"value": None, "ci": None}


def test_probabilities_of_exactly_zero_and_one_are_accepted() -> None:
    fit = calibration_slope_intercept([0, 1, 0, 1, 1, 0], [0.0, 1.0, 0.3, 0.2, 0.8, 0.6])
    assert math.isfinite(fit.slope.value) and math.isfinite(fit.intercept.value)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.2, 1.3], r"\[0, 1\]"),
        ([0, 1], [-2.0, 3.0], "not logits"),
        ([1, 1], [0.2, 0.3], "only one class"),
        ([0, 1], [0.2, np.nan], "NaN/Inf"),
    ],
)
def test_bad_calibration_input_raises_usage_error(y, p, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        calibration_slope_intercept(y, p)


def test_brier_score_analytic_values_and_bootstrap_ci() -> None:
    assert brier_score([0, 1, 1, 0], [0.5] * 4, n_resamples=50).value == 0.25
    assert brier_score([0, 1, 1, 0], [0, 1, 1, 0], n_resamples=50).value == 0.0
    # Hand example: (0.1² + 0.3² + 0.4² + 0.2²) / 4 = 0.075.
    assert brier_score([0, 1, 1, 0], [0.1, 0.7, 0.6, 0.2], n_resamples=50).value == pytest.approx(0.075)
    y, p = _calibrated(n=500, seed=9)
    estimate = brier_score(y, p, n_resamples=2000, seed=0)
    assert estimate.value == pytest.approx(brier_score_loss(y, p))
    assert estimate.ci_low < estimate.value < estimate.ci_high
    assert estimate.ci_high - estimate.ci_low < 0.06
    assert estimate.method == "bootstrap percentile, 2000 stratified resamples"
    # One-class data still has a Brier score (plain resampling).
    assert brier_score([1, 1, 1], [0.9, 0.8, 0.7], n_resamples=50).value == pytest.approx((0.01 + 0.04 + 0.09) / 3)


def test_reliability_table_hand_example() -> None:
    y = [0, 0, 1, 1, 1, 0, 1]
    p = [0.05, 0.15, 0.45, 0.55, 0.95, 0.5, 1.0]
    table = reliability_table(y, p, n_bins=2)
    low_bin, high_bin = table.bins
    assert (low_bin.low, low_bin.high, low_bin.n) == (0.0, 0.5, 3)
    assert low_bin.mean_predicted == pytest.approx((0.05 + 0.15 + 0.45) / 3)
    assert low_bin.observed_fraction.value == pytest.approx(1 / 3)
    assert low_bin.observed_fraction.ci == pytest.approx(wilson_interval(1, 3))
    # 0.5 opens the upper bin, and p = 1.0 falls in the closed top bin.
    assert high_bin.n == 4
    assert high_bin.observed_fraction.value == pytest.approx(3 / 4)


def test_uniform_bins_keep_empty_bins_and_match_sklearn_where_filled() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.0, 0.6, size=300)  # nothing above 0.6: the top bins stay empty
    y = rng.random(300) < p
    table = reliability_table(y, p, n_bins=10)
    assert len(table.bins) == 10
    assert [b.n for b in table.bins[6:]] == [0, 0, 0, 0]
    assert table.to_dict()["bins"][9]["mean_predicted"] is None
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = [b for b in table.bins if b.n]
    assert [b.observed_fraction.value for b in filled] == pytest.approx(list(observed))
    assert [b.mean_predicted for b in filled] == pytest.approx(list(predicted))
    assert sum(b.n for b in table.bins) == table.n == 300


def test_quantile_bins_hold_equal_counts() -> None:
    y, p = _calibrated(n=1000, seed=5)
    table = reliability_table(y, p, n_bins=5, strategy="quantile")
    assert [b.n for b in table.bins] == [200] * 5
    assert all(abs(b.observed_fraction.value - b.mean_predicted) < 0.08 for b in table.bins)
    with pytest.raises(UsageError, match="unknown reliability strategy"):
        reliability_table(y, p, strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="n_bins"):
        reliability_table(y, p, n_bins=0)
