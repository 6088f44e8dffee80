"""ROC-AUC: DeLong variance from its definition, CIs, coverage, paired test and multiclass AUC."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import kstest, mannwhitneyu, norm
from sklearn.metrics import roc_auc_score

from cardiolens.errors import UsageError
from cardiolens.stats.auc import (
    delong_components,
    delong_test,
    delong_variance,
    multiclass_auc,
    paired_auc_difference_bootstrap,
    roc_auc,
    roc_auc_ci,
    roc_auc_rowwise,
)


def _binormal(rng: np.random.Generator, n_pos: int, n_neg: int, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Negatives ~ N(0, 1), positives ~ N(d, 1): true AUC = Φ(d / √2)."""
    y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    score = np.r_[rng.normal(d, 1.0, n_pos), rng.normal(0.0, 1.0, n_neg)]
    return y, score


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _delong_by_definition(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong 1988 straight from the placement-value definition (METHODS.md §5), by double loops."""
    k = scores.shape[0]
    pos_idx, neg_idx = np.flatnonzero(y), np.flatnonzero(~y)
    m, n = pos_idx.size, neg_idx.size
    v10 = np.array([[np.mean([_psi(s[i], s[j]) for j in neg_idx]) for i in pos_idx] for s in scores])
    v01 = np.array([[np.mean([_psi(s[i], s[j]) for i in pos_idx]) for j in neg_idx] for s in scores])
    aucs = v10.mean(axis=1)
    s10 = np.empty((k, k))
    s01 = np.empty((k, k))
    for r in range(k):
        for c in range(k):
            s10[r, c] = np.sum((v10[r] - aucs[r]) * (v10[c] - aucs[c])) / (m - 1)
            s01[r, c] = np.sum((v01[r] - aucs[r]) * (v01[c] - aucs[c])) / (n - 1)
    return aucs, s10 / m + s01 / n


def test_fast_delong_equals_the_placement_value_definition_with_ties() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
    score_a = np.array([0.9, 0.8, 0.4, 0.4, 0.4, 0.3, 0.1, 0.8, 0.2, 0.6, 0.5])
    score_b = np.array([3.0, 1.0, 2.0, 2.0, 1.0, 0.0, 2.0, 1.0, 0.0, 4.0, 1.0])
    scores = np.stack([score_a, score_b])
    expected_auc, expected_cov = _delong_by_definition(y, scores)
    parts = delong_components(y, scores)
    assert np.allclose(parts.auc, expected_auc, atol=1e-12)
    assert np.allclose(parts.covariance, expected_cov, atol=1e-12)
    assert delong_variance(y, score_a) == pytest.approx(expected_cov[0, 0], abs=1e-12)
    # Hand check of one entry: the first positive (0.9) beats all 6 negatives.
    assert parts.placements_positive[0, 0] == 1.0


def test_auc_equals_mann_whitney_u_over_n1_n0() -> None:
    rng = np.random.default_rng(11)
    y, score = _binormal(rng, 37, 53, 0.8)
    score = np.round(score, 1)  # create ties
    u = mannwhitneyu(score[y], score[~y]).statistic
    expected = u / (y.sum() * (~y).sum())
    assert roc_auc(y, score) == pytest.approx(expected, abs=1e-12)
    assert roc_auc_rowwise(y, score)[0] == pytest.approx(expected, abs=1e-12)
    assert delong_components(y, score).auc[0] == pytest.approx(expected, abs=1e-12)


def test_rowwise_auc_matches_sklearn_per_row() -> None:
    rng = np.random.default_rng(5)
    labels = rng.random((20, 40)) < 0.4
    scores = np.round(rng.normal(size=(20, 40)) + labels, 1)
    expected = [roc_auc_score(labels[i], scores[i]) for i in range(20)]
    assert np.allclose(roc_auc_rowwise(labels, scores), expected)
    # A row with one class only has no AUC.
    assert math.isnan(roc_auc_rowwise(np.zeros((1, 5), bool), np.arange(5.0))[0])


def test_delong_and_bootstrap_cis_agree_on_a_few_hundred_subjects() -> None:
    rng = np.random.default_rng(2024)
    y, score = _binormal(rng, 120, 180, 1.0)
    delong = roc_auc_ci(y, score, method="delong")
    boot = roc_auc_ci(y, score, method="bootstrap", n_resamples=2000, seed=0)
    assert delong.value == boot.value == pytest.approx(roc_auc_score(y, score))
    assert delong.method == "DeLong"
    assert boot.method == "bootstrap percentile, 2000 stratified resamples"
    assert delong.ci_low == pytest.approx(boot.ci_low, abs=0.015)
    assert delong.ci_high == pytest.approx(boot.ci_high, abs=0.015)
    assert delong.n == boot.n == 300
    # Same seed, same CI.
    assert roc_auc_ci(y, score, method="bootstrap", seed=0) == boot


def test_delong_ci_covers_the_true_binormal_auc_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    d = 1.0
    true_auc = norm.cdf(d / math.sqrt(2.0))
    covered = 0
    for _ in range(200):
        y, score = _binormal(rng, 50, 70, d)
        estimate = roc_auc_ci(y, score)
        covered += estimate.ci_low <= true_auc <= estimate.ci_high
    assert 0.90 <= covered / 200 <= 0.99


def test_paired_delong_on_identical_scores_gives_z0_p1() -> None:
    rng = np.random.default_rng(3)
    y, score = _binormal(rng, 30, 30, 1.0)
    result = delong_test(y, score, score.copy())
    assert result.z == 0.0
    assert result.p_value == 1.0
    assert result.difference.value == 0.0
    assert result.auc_a == result.auc_b
    assert (result.n_positive, result.n_negative) == (30, 30)


def test_paired_delong_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(99)
    p_values = []
    for _ in range(200):
        n_pos, n_neg = 60, 80
        y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
        shared = rng.normal(size=y.size)  # correlation 0.5 between the two models' noise
        score_a = 1.0 * y + (shared + rng.normal(size=y.size)) / math.sqrt(2.0)
        score_b = 1.0 * y + (shared + rng.normal(size=y.size)) / math.sqrt(2.0)
        p_values.append(delong_test(y, score_a, score_b).p_value)
    p_values = np.array(p_values)
    assert kstest(p_values, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(p_values < 0.05) <= 0.10


def test_paired_delong_detects_a_better_model_and_matches_paired_bootstrap() -> None:
    rng = np.random.default_rng(8)
    y = rng.random(300) < 0.4
    latent = rng.normal(size=300)
    good = 1.5 * y + latent + 0.3 * rng.normal(size=300)
    weak = 0.6 * y + latent + 0.3 * rng.normal(size=300)
    result = delong_test(y, good, weak)
    assert result.auc_a.value == pytest.approx(roc_auc_score(y, good))
    assert result.difference.value == pytest.approx(result.auc_a.value - result.auc_b.value)
    assert result.z > 3 and result.p_value < 0.01
    assert result.p_value == pytest.approx(2 * norm.sf(result.z))
    boot = paired_auc_difference_bootstrap(y, good, weak, n_resamples=2000, seed=1)
    assert boot.value == pytest.approx(result.difference.value)
    assert boot.ci_low == pytest.approx(result.difference.ci_low, abs=0.02)
    assert boot.ci_high == pytest.approx(result.difference.ci_high, abs=0.02)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["auc_difference"]["value"] == pytest.approx(result.difference.value)


def test_perfect_separation_gives_auc_one_with_a_degenerate_ci() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    estimate = roc_auc_ci(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert estimate.value == 1.0
    assert estimate.ci == (1.0, 1.0)


def test_single_positive_leaves_the_delong_ci_undefined() -> None:
    estimate = roc_auc_ci([1, 0, 0, 0], [0.9, 0.1, 0.95, 0.3])
    assert estimate.value == pytest.approx(2 / 3)
    assert estimate.ci is None
    assert "undefined" in estimate.method


@pytest.mark.parametrize(
    ("y", "score", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "only one class"),
        ([0, 0], [0.1, 0.2], "only one class"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "boolean or 0/1"),
        (["a", "b"], [0.1, 0.2], "boolean or 0/1"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN/Inf"),
        ([0, 1, 1], [0.1, 0.2], "one value per subject"),
        ([], [], "empty"),
    ],
)
def test_degenerate_binary_input_raises_usage_error(y, score, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        roc_auc_ci(y, score)


def test_unknown_ci_method_is_rejected() -> None:
    with pytest.raises(UsageError, match="unknown AUC CI method"):
        roc_auc_ci([0, 1], [0.1, 0.9], method="hanley")  # type: ignore[arg-type]


def _three_class_data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), labels] += 1.2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_multiclass_auc_matches_sklearn_ovr_conventions() -> None:
    labels, probabilities = _three_class_data()
    names = ["dcm", "hcm", "normal"]
    result = multiclass_auc(labels, probabilities, names, n_resamples=500, seed=0)
    assert list(result) == names + ["macro", "weighted"]
    for k, name in enumerate(names):
        assert result[name].value == pytest.approx(roc_auc_score(labels == k, probabilities[:, k]))
    assert result["macro"].value == pytest.approx(
        roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    )
    assert result["weighted"].value == pytest.approx(
        roc_auc_score(labels, probabilities, multi_class="ovr", average="weighted")
    )
    for estimate in result.values():
        assert estimate.ci_low < estimate.value < estimate.ci_high
        assert estimate.n == labels.size
        assert estimate.method == "bootstrap percentile, 500 stratified resamples"
    # Names instead of indices give the same answer.
    by_name = multiclass_auc(np.array(names)[labels], probabilities, names, n_resamples=500, seed=0)
    assert by_name == result


def test_multiclass_macro_ci_matches_a_per_resample_recomputation() -> None:
    labels, probabilities = _three_class_data(n=60, seed=1)
    result = multiclass_auc(labels, probabilities, ["a", "b", "c"], n_resamples=200, seed=3)
    from cardiolens.stats.bootstrap import bootstrap_indices

    macro = [
        roc_auc_score(labels[row], probabilities[row], multi_class="ovr", average="macro")
        for row in bootstrap_indices(labels.size, strata=labels, n_resamples=200, seed=3)
    ]
    low, high = np.percentile(macro, [2.5, 97.5])
    assert result["macro"].ci == pytest.approx((low, high))


def test_multiclass_auc_rejects_bad_input() -> None:
    labels, probabilities = _three_class_data(n=30)
    with pytest.raises(UsageError, match="no subject of that class"):
        multiclass_auc(np.where(labels == 2, 0, labels), probabilities, ["a", "b", "c"])
    with pytest.raises(UsageError, match="shape"):
        multiclass_auc(labels, probabilities[:, :2], ["a", "b", "c"])
    with pytest.raises(UsageError, match="unknown labels"):
        multiclass_auc(["x"] * 30, probabilities, ["a", "b", "c"])
    with pytest.raises(UsageError, match="clash"):
        multiclass_auc(labels, probabilities, ["a", "macro", "c"])
    with pytest.raises(UsageError, match="at least 2 classes"):
        multiclass_auc(np.zeros(30, int), probabilities[:, :1], ["a"])


def test_published_reference_hanley_mcneil_1982():
    """Hanley & McNeil, Radiology 1982;143:29-36, Table I: 5-point ratings of 109 CT images.

    Published: area 0.893 with standard error 0.032 (their closed-form SE). The
    DeLong SE rests on the same U-statistic and must be close to it; both the
    DeLong and the stratified-bootstrap CIs must cover the published area.
    """
    normal_counts, abnormal_counts = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    ratings = np.arange(1, 6)
    y = np.r_[np.zeros(58), np.ones(51)]
    score = np.r_[np.repeat(ratings, normal_counts), np.repeat(ratings, abnormal_counts)]
    delong = roc_auc_ci(y, score, method="delong")
    assert round(delong.value, 3) == 0.893
    assert abs(np.sqrt(delong_variance(y, score)) - 0.032) < 0.003
    boot = roc_auc_ci(y, score, method="bootstrap", seed=1)
    for est in (delong, boot):
        assert est.ci_low < 0.893 < est.ci_high
