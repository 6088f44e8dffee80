"""Multiclass metrics agree with scikit-learn and carry CIs; paired comparison behaves at its limits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score

from cardiolens.errors import UsageError
from cardiolens.stats.classification import classification_metrics, compare_classifiers

NAMES = ["DCM", "HCM", "NOR"]


def _cohort(seed: int = 0, n_per_class: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(NAMES, n_per_class)
    proba = rng.dirichlet([1, 1, 1], len(y))
    proba[np.arange(len(y)), np.repeat(np.arange(3), n_per_class)] += rng.uniform(0, 0.8, len(y))
    return y, proba / proba.sum(axis=1, keepdims=True)


def test_values_match_scikit_learn_and_cis_cover_them() -> None:
    y, proba = _cohort()
    result = classification_metrics(y, proba, NAMES, n_resamples=500)
    predicted = np.array(NAMES)[proba.argmax(axis=1)]
    assert result["accuracy"].value == pytest.approx(np.mean(predicted == y))
    assert result["balanced_accuracy"].value == pytest.approx(balanced_accuracy_score(y, predicted))
    assert result["macro_f1"].value == pytest.approx(f1_score(y, predicted, average="macro"))
    assert result["macro_auc"].value == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", labels=NAMES))
    np.testing.assert_array_equal(result["confusion_matrix"]["rows_true_columns_predicted"], confusion_matrix(y, predicted, labels=NAMES))
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc"):
        estimate = result[key]
        assert estimate.ci_low <= estimate.value <= estimate.ci_high
    hcm = result["per_class"]["HCM"]
    assert hcm["recall"].value == pytest.approx(np.mean(predicted[y == "HCM"] == "HCM"))
    assert hcm["precision"].value == pytest.approx(np.mean(y[predicted == "HCM"] == "HCM"))


def test_absent_class_gives_no_auc_and_unknown_labels_are_refused() -> None:
    y, proba = _cohort()
    keep = y != "NOR"
    result = classification_metrics(y[keep], proba[keep], NAMES, n_resamples=200)
    assert result["macro_auc"] is None and result["per_class"]["NOR"]["recall"] is None
    with pytest.raises(UsageError, match="not among the class names"):
        classification_metrics(["DCM", "XYZ"], np.full((2, 3), 1 / 3), NAMES)
    with pytest.raises(UsageError, match="shape"):
        classification_metrics(["DCM", "HCM"], np.full((2, 2), 0.5), NAMES)


def test_comparison_of_a_model_with_itself_shows_no_difference() -> None:
    y, proba = _cohort(1)
    same = compare_classifiers(y, proba, proba, NAMES, n_resamples=300)
    assert same["macro_auc_difference"].value == pytest.approx(0.0)
    assert all(entry["p_value"] == pytest.approx(1.0) for entry in same["delong_per_class"].values())


def test_comparison_detects_a_much_better_model() -> None:
    y, proba = _cohort(2, n_per_class=30)
    noise = np.random.default_rng(3).dirichlet([1, 1, 1], len(y))
    result = compare_classifiers(y, proba, noise, NAMES, n_resamples=500)
    assert result["macro_auc_difference"].ci_low > 0
    assert all(entry["p_value"] < 0.05 and entry["auc_a"] > entry["auc_b"] for entry in result["delong_per_class"].values())
