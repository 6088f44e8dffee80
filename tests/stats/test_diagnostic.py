"""Diagnostic accuracy: Wilson intervals, confusion-matrix measures and the threshold at a target specificity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import balanced_accuracy_score

from cardiolens.errors import UsageError
from cardiolens.stats.diagnostic import (
    diagnostic_metrics,
    diagnostic_metrics_at_threshold,
    proportion,
    sensitivity_at_specificity,
    threshold_at_specificity,
    wilson_interval,
)


def test_wilson_hand_computed_example() -> None:
    # 8/10: centre (0.8 + 1.96²/20) / (1 + 1.96²/10) = 0.7167, half-width 0.2266.
    low, high = wilson_interval(8, 10)
    assert round(low, 3) == 0.490
    assert round(high, 3) == 0.943


@pytest.mark.parametrize(("successes", "total"), [(0, 5), (5, 5), (1, 1), (3, 17), (45, 50), (120, 400)])
def test_wilson_matches_scipy_binomtest(successes: int, total: int) -> None:
    reference = binomtest(successes, total).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(successes, total)
    assert low == pytest.approx(reference.low, abs=1e-9)
    assert high == pytest.approx(reference.high, abs=1e-9)


def test_proportion_with_empty_denominator_is_undefined_not_zero() -> None:
    estimate = proportion(0, 0)
    assert math.isnan(estimate.value)
    assert estimate.ci is None
    assert estimate.to_metric() == {"value": None, "ci": None}
    with pytest.raises(UsageError, match="successes <= total"):
        wilson_interval(6, 5)


def test_confusion_measures_from_boolean_predictions() -> None:
    # 10 positives (7 detected), 20 negatives (16 correctly negative).
    y = np.r_[np.ones(10, bool), np.zeros(20, bool)]
    predicted = np.r_[np.ones(7, bool), np.zeros(3, bool), np.ones(4, bool), np.zeros(16, bool)]
    metrics = diagnostic_metrics(y, predicted, n_resamples=500, seed=0)
    assert (metrics.true_positives, metrics.false_negatives) == (7, 3)
    assert (metrics.false_positives, metrics.true_negatives) == (4, 16)
    assert metrics.sensitivity.value == pytest.approx(0.7)
    assert metrics.specificity.value == pytest.approx(0.8)
    assert metrics.ppv.value == pytest.approx(7 / 11)
    assert metrics.npv.value == pytest.approx(16 / 19)
    assert metrics.accuracy.value == pytest.approx(23 / 30)
    assert metrics.sensitivity.ci == pytest.approx(wilson_interval(7, 10))
    assert metrics.ppv.n == 11
    assert metrics.balanced_accuracy.value == pytest.approx(balanced_accuracy_score(y, predicted))
    assert metrics.balanced_accuracy.ci_low < 0.75 < metrics.balanced_accuracy.ci_high
    assert "stratified" in metrics.balanced_accuracy.method
    assert metrics.threshold is None
    payload = json.loads(json.dumps(metrics.to_dict()))
    assert payload["specificity"]["value"] == pytest.approx(0.8)


def test_threshold_rule_is_score_at_or_above_threshold() -> None:
    y = [1, 1, 0, 0, 1, 0]
    score = [0.9, 0.5, 0.5, 0.2, 0.3, 0.1]
    metrics = diagnostic_metrics_at_threshold(y, score, 0.5, n_resamples=100)
    # Calls: 0.9 and both 0.5s positive.
    assert (metrics.true_positives, metrics.false_positives, metrics.false_negatives) == (2, 1, 1)
    assert metrics.threshold == 0.5


def test_no_positive_calls_leaves_ppv_undefined() -> None:
    metrics = diagnostic_metrics([1, 0, 0, 1], [0, 0, 0, 0], n_resamples=100)
    assert math.isnan(metrics.ppv.value) and metrics.ppv.ci is None
    assert metrics.to_dict()["ppv"] == {"value": None, "ci": None}
    assert metrics.sensitivity.value == 0.0
    assert metrics.specificity.value == 1.0


def test_healthy_only_cohort_gives_specificity_and_no_sensitivity() -> None:
    metrics = diagnostic_metrics([0, 0, 0, 0], [0, 1, 0, 0], n_resamples=100)
    assert metrics.specificity.value == pytest.approx(0.75)
    assert math.isnan(metrics.sensitivity.value)
    assert metrics.balanced_accuracy.ci is None


def test_threshold_at_specificity_hand_example() -> None:
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.35, 0.5, 0.6, 0.7, 0.9])
    # Specificity 0.8 needs 4 of 5 negatives strictly below the threshold: the lowest score above 0.4 is 0.5.
    assert threshold_at_specificity(y, score, 0.8) == 0.5
    metrics = sensitivity_at_specificity(y, score, 0.8, n_resamples=100)
    assert metrics.specificity.value == pytest.approx(0.8)
    assert metrics.sensitivity.value == pytest.approx(0.8)
    # 100% specificity: above the highest negative (0.8).
    assert threshold_at_specificity(y, score, 1.0) == 0.9
    # 0% specificity: everybody positive.
    assert threshold_at_specificity(y, score, 0.0) == 0.1
    # 0.9 of 10 negatives is exactly 9, despite 0.9 * 10 = 9.000000000000002 in floating point.
    y10 = np.r_[np.zeros(10, int), np.ones(2, int)]
    score10 = np.r_[np.arange(10.0), 20.0, 30.0]
    assert threshold_at_specificity(y10, score10, 0.9) == 9.0


def test_threshold_above_every_score_is_infinite() -> None:
    assert threshold_at_specificity([0, 1, 0], [0.9, 0.5, 0.1], 1.0) == math.inf


def test_threshold_at_specificity_is_the_most_sensitive_choice() -> None:
    rng = np.random.default_rng(4)
    y = rng.random(200) < 0.3
    score = np.round(rng.normal(size=200) + y, 1)  # many ties
    for target in (0.5, 0.8, 0.9, 0.95):
        threshold = threshold_at_specificity(y, score, target)
        specificity = np.mean(score[~y] < threshold)
        assert specificity >= target
        lower = score[score < threshold]
        if lower.size:  # the next lower observed threshold misses the target
            assert np.mean(score[~y] < lower.max()) < target


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: threshold_at_specificity([1, 1], [0.1, 0.2], 0.9), "no negative"),
        (lambda: threshold_at_specificity([0, 1], [0.1, 0.2], 1.5), r"\[0, 1\]"),
        (lambda: diagnostic_metrics([0, 1, 1], [0, 1]), "subjects"),
        (lambda: diagnostic_metrics([0, 1], [0, 2]), "y_pred must be boolean"),
        (lambda: diagnostic_metrics_at_threshold([0, 1], [0.1, 0.2], math.nan), "NaN"),
    ],
)
def test_bad_input_raises_usage_error(call, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call()
