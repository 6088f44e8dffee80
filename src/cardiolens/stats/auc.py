"""ROC-AUC with 95% CIs (DeLong or stratified bootstrap), the paired DeLong test and multiclass AUC.

Conventions: ``y_true`` is boolean or 0/1 (1 = positive); a higher ``score``
means "more likely positive" (the direction is never flipped automatically,
unlike pROC's ``direction="auto"``). Tied scores count one half (midranks).

Methods (METHODS.md §5):

* AUC value: :func:`sklearn.metrics.roc_auc_score`, equal to the Mann–Whitney
  ``U / (n1 * n0)``.
* DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837, doi:10.2307/2531595:
  placement values ``V10_i`` (share of negatives scored below positive ``i``,
  ties 1/2) and ``V01_j`` (share of positives scored above negative ``j``);
  ``var(AUC) = S10/m + S01/n`` with ``S10``, ``S01`` the sample (co)variances
  (ddof 1) of the placements over the ``m`` positives and ``n`` negatives.
  Computed with the fast midrank algorithm of Sun & Xu, IEEE Signal Process.
  Lett. 2014;21:1389, doi:10.1109/LSP.2014.2337313. CI = AUC ± z·√var with
  z = Φ⁻¹(0.975), clipped to [0, 1].
* Paired DeLong test (as pROC ``roc.test(method="delong", paired=TRUE)``):
  ``z = (θa − θb) / √(L S Lᵀ)``, ``L = [1, −1]``, two-sided p = 2·(1 − Φ(|z|)).
* Bootstrap: B = 2000 resamples within each class, percentile CI
  (:mod:`cardiolens.stats.bootstrap`), AUCs computed by midranks, vectorised.
* Multiclass: one-vs-rest AUC per class; ``macro`` = unweighted mean over
  classes, ``weighted`` = mean weighted by class prevalence (scikit-learn's
  ``roc_auc_score(multi_class="ovr", average=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from cardiolens.errors import UsageError
from cardiolens.stats import bootstrap
from cardiolens.stats.estimate import Estimate

Z_95: Final[float] = float(norm.ppf(0.975))


def check_binary_outcome(y_true: ArrayLike, name: str = "y_true") -> np.ndarray:
    """``y_true`` as a 1-D boolean array; raises UsageError unless it is boolean or 0/1."""
    values = np.asarray(y_true)
    if values.ndim != 1:
        raise UsageError(f"{name} must be a 1-D array (one outcome per subject), got shape {values.shape}")
    if values.size == 0:
        raise UsageError(f"{name} is empty (0 subjects)")
    if values.dtype == bool:
        return values
    if not np.issubdtype(values.dtype, np.number):
        raise UsageError(f"{name} must be boolean or 0/1, got values of type {values.dtype}")
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        raise UsageError(f"{name} must be boolean or 0/1, got {np.unique(values[bad])[:5].tolist()} (first bad values)")
    return values.astype(bool)


def check_scores(score: ArrayLike, n: int, name: str = "score") -> np.ndarray:
    """``score`` as a finite 1-D float array of length ``n``; raises UsageError otherwise."""
    try:
        values = np.asarray(score, dtype=float)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{name} must be numeric: {error}") from None
    if values.ndim != 1 or values.shape[0] != n:
        raise UsageError(f"{name} must be a 1-D array with one value per subject ({n}), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise UsageError(
            f"{name} holds {int((~np.isfinite(values)).sum())} NaN/Inf values; remove or impute them first"
        )
    return values


def _require_both_classes(y: np.ndarray, name: str = "y_true") -> None:
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        only = "positive" if positives else "negative"
        raise UsageError(
            f"ROC-AUC is undefined: {name} holds only one class ({y.size} {only} subjects, no "
            f"{'negative' if positives else 'positive'} ones)"
        )


def _binary_inputs(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_outcome(y_true)
    s = check_scores(score, y.size)
    _require_both_classes(y)
    return y, s


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """ROC-AUC (scikit-learn's ``roc_auc_score``) after validating the input."""
    y, s = _binary_inputs(y_true, score)
    return float(roc_auc_score(y, s))


def roc_auc_rowwise(y_true: ArrayLike, score: ArrayLike) -> np.ndarray:
    """AUC of each row of ``(b, n)`` arrays, by midranks (Mann–Whitney); NaN for a one-class row.

    The vectorised kernel of the bootstrap: ``AUC = (R1 − n1(n1+1)/2) / (n1·n0)``
    with ``R1`` the midrank sum of the positives in that row.
    """
    y = np.atleast_2d(np.asarray(y_true, dtype=bool))
    s = np.atleast_2d(np.asarray(score, dtype=float))
    ranks = rankdata(s, axis=1)  # "average" method: midranks, so ties count 1/2
    n1 = y.sum(axis=1).astype(float)
    n0 = y.shape[1] - n1
    rank_sum = np.where(y, ranks, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


@dataclass(frozen=True)
class DeLongComponents:
    """DeLong placement values and covariance for ``k`` models scored on the same subjects.

    Attributes:
        auc: AUC of each model, shape ``(k,)``.
        placements_positive: ``V10``, shape ``(k, m)`` over the ``m`` positives.
        placements_negative: ``V01``, shape ``(k, n)`` over the ``n`` negatives.
        covariance: ``S = S10/m + S01/n``, shape ``(k, k)``; NaN when a class has
            fewer than 2 subjects (the sample covariance needs two).
    """

    auc: np.ndarray
    placements_positive: np.ndarray
    placements_negative: np.ndarray
    covariance: np.ndarray


def delong_components(y_true: ArrayLike, scores: ArrayLike) -> DeLongComponents:
    """Placement values and DeLong covariance by the fast midrank algorithm (Sun & Xu 2014).

    Args:
        y_true: outcome per subject, boolean or 0/1.
        scores: shape ``(n_subjects,)`` for one model or ``(k, n_subjects)`` for ``k`` models.
    """
    y = check_binary_outcome(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    for row in s:
        check_scores(row, y.size)
    _require_both_classes(y)
    positives, negatives = s[:, y], s[:, ~y]
    m, n = positives.shape[1], negatives.shape[1]
    rank_pos = rankdata(positives, axis=1)
    rank_neg = rankdata(negatives, axis=1)
    rank_all = rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    # Midrank in the pooled sample minus midrank among its own class = how many of the
    # other class lie below (ties counting 1/2): Sun & Xu 2014, eqs. 11-13.
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    auc = v10.mean(axis=1)
    k = s.shape[0]
    if m < 2 or n < 2:
        covariance = np.full((k, k), np.nan)
    else:
        covariance = np.atleast_2d(np.cov(v10, ddof=1)) / m + np.atleast_2d(np.cov(v01, ddof=1)) / n
    return DeLongComponents(auc, v10, v01, covariance)


def delong_variance(y_true: ArrayLike, score: ArrayLike) -> float:
    """DeLong variance of one model's AUC (NaN when a class has fewer than 2 subjects)."""
    return float(delong_components(y_true, score).covariance[0, 0])


def _delong_estimate(value: float, variance: float, n: int) -> Estimate:
    if not math.isfinite(variance):
        return Estimate(value, None, None, "DeLong (CI undefined: fewer than 2 subjects in a class)", n)
    half_width = Z_95 * math.sqrt(max(variance, 0.0))
    return Estimate(value, max(0.0, value - half_width), min(1.0, value + half_width), "DeLong", n)


def roc_auc_ci(
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    method: Literal["delong", "bootstrap"] = "delong",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """ROC-AUC with a 95% CI: DeLong (default) or stratified bootstrap percentile.

    Args:
        y_true: outcome per subject, boolean or 0/1; both classes must occur.
        score: model output per subject, higher = more likely positive.
        method: ``"delong"`` (DeLong 1988, Sun & Xu 2014) or ``"bootstrap"``
            (``n_resamples`` resamples within each class, percentile 2.5/97.5).
        n_resamples, seed: bootstrap settings (ignored for DeLong).

    Returns:
        Estimate with value = AUC (scikit-learn), the CI clipped to [0, 1] and n = subjects.
    """
    y, s = _binary_inputs(y_true, score)
    value = float(roc_auc_score(y, s))
    if method == "delong":
        return _delong_estimate(value, float(delong_components(y, s).covariance[0, 0]), y.size)
    if method == "bootstrap":
        replicates = bootstrap.bootstrap_replicates(
            roc_auc_rowwise, y, s, strata=y, n_resamples=n_resamples, seed=seed, vectorized=True
        )
        return bootstrap.estimate_from_replicates(value, replicates, n=y.size, n_resamples=n_resamples, stratified=True)
    raise UsageError(f"unknown AUC CI method {method!r}; use 'delong' or 'bootstrap'")


@dataclass(frozen=True)
class DeLongResult:
    """Paired DeLong comparison of two models' AUCs on the same subjects.

    Attributes:
        auc_a, auc_b: each model's AUC with its DeLong 95% CI.
        difference: ``auc_a − auc_b`` with the 95% CI ``diff ± z·√(L S Lᵀ)`` (clipped to [−1, 1]).
        z: the test statistic; 0 when the two score vectors give identical placements.
        p_value: two-sided p-value of H0: equal AUCs.
        n_positive, n_negative: subjects per class.
    """

    auc_a: Estimate
    auc_b: Estimate
    difference: Estimate
    z: float
    p_value: float
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: Estimates as ``{"value", "ci"}``; NaN becomes None."""

        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "auc_a": self.auc_a.to_metric(),
            "auc_b": self.auc_b.to_metric(),
            "auc_difference": self.difference.to_metric(),
            "z": clean(self.z),
            "p_value": clean(self.p_value),
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "method": "paired DeLong test",
        }


def delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> DeLongResult:
    """Paired DeLong test of two models scored on the same subjects (pROC ``roc.test``, method "delong").

    Args:
        y_true: outcome per subject, boolean or 0/1; both classes must occur.
        score_a, score_b: the two models' scores for the same subjects, in the same order.
    """
    y = check_binary_outcome(y_true)
    a = check_scores(score_a, y.size, "score_a")
    b = check_scores(score_b, y.size, "score_b")
    _require_both_classes(y)
    parts = delong_components(y, np.stack([a, b]))
    cov = parts.covariance
    n = y.size
    auc_a = float(roc_auc_score(y, a))
    auc_b = float(roc_auc_score(y, b))
    diff = auc_a - auc_b
    var_diff = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    if not math.isfinite(var_diff):
        z = p = math.nan
        difference = Estimate(diff, None, None, "paired DeLong (CI undefined: fewer than 2 subjects in a class)", n)
    else:
        sd = math.sqrt(max(var_diff, 0.0))
        # Identical placements give 0/0: no evidence of a difference (z = 0, p = 1).
        # Zero variance with a non-zero difference can only come from exact degeneracy: z = ±inf.
        if sd > 0.0:
            z = diff / sd
        else:
            z = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        p = float(2.0 * norm.sf(abs(z)))
        difference = Estimate(diff, max(-1.0, diff - Z_95 * sd), min(1.0, diff + Z_95 * sd), "paired DeLong", n)
    return DeLongResult(
        auc_a=_delong_estimate(auc_a, float(cov[0, 0]), n),
        auc_b=_delong_estimate(auc_b, float(cov[1, 1]), n),
        difference=difference,
        z=float(z),
        p_value=float(p),
        n_positive=int(y.sum()),
        n_negative=int((~y).sum()),
    )


def paired_auc_difference_bootstrap(
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """``AUC_a − AUC_b`` with a paired stratified-bootstrap percentile 95% CI (same resamples for both)."""
    y = check_binary_outcome(y_true)
    a = check_scores(score_a, y.size, "score_a")
    b = check_scores(score_b, y.size, "score_b")
    _require_both_classes(y)
    return bootstrap.paired_bootstrap_difference(
        roc_auc_rowwise, (y, a), (y, b), strata=y, n_resamples=n_resamples, seed=seed, vectorized=True
    )


def _class_codes(y_true_labels: ArrayLike, class_names: Sequence[Any]) -> np.ndarray:
    labels = np.asarray(y_true_labels)
    if labels.ndim != 1 or labels.size == 0:
        raise UsageError(f"y_true_labels must be a non-empty 1-D array, got shape {labels.shape}")
    lookup = {name: code for code, name in enumerate(class_names)}
    try:
        return np.array([lookup[label] for label in labels.tolist()], dtype=np.intp)
    except (KeyError, TypeError):
        pass
    # Not class names: accept integer class indices 0..K-1.
    if np.issubdtype(labels.dtype, np.integer) and labels.min() >= 0 and labels.max() < len(class_names):
        return labels.astype(np.intp)
    unknown = sorted({str(v) for v in labels.tolist() if v not in lookup})[:5]
    raise UsageError(
        f"y_true_labels must be class names from {list(class_names)} or indices 0..{len(class_names) - 1}; "
        f"unknown labels {unknown}"
    )


def _multiclass_auc_rowwise(codes: np.ndarray, probabilities: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class OvR AUCs, macro and weighted mean for each resample: shape ``(b, K + 2)``."""
    codes = np.atleast_2d(codes)
    probabilities = probabilities.reshape(codes.shape + (n_classes,))
    per_class = np.stack([roc_auc_rowwise(codes == k, probabilities[..., k]) for k in range(n_classes)], axis=1)
    prevalence = np.stack([(codes == k).sum(axis=1) for k in range(n_classes)], axis=1) / codes.shape[1]
    macro = per_class.mean(axis=1)
    weighted = (per_class * prevalence).sum(axis=1)
    return np.column_stack([per_class, macro, weighted])


def multiclass_auc(
    y_true_labels: ArrayLike,
    probabilities: ArrayLike,
    class_names: Sequence[Any],
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Estimate]:
    """One-vs-rest ROC-AUC per class plus macro and prevalence-weighted averages, with bootstrap 95% CIs.

    Values follow scikit-learn (``roc_auc_score(multi_class="ovr", average="macro"|"weighted")``;
    per class: the binary AUC of column ``k`` for class ``k`` versus the rest).
    CIs: ``n_resamples`` resamples stratified by the true class, percentile
    2.5/97.5; every class and both averages use the same resamples.

    Args:
        y_true_labels: true class per subject, as a name from ``class_names`` or an index 0..K−1.
        probabilities: shape ``(n_subjects, K)``, column ``k`` scoring ``class_names[k]``
            (rows need not sum to 1: each column is ranked on its own).
        class_names: the K ≥ 2 class names, in column order; every class must occur in ``y_true_labels``.

    Returns:
        ``{str(class_name): Estimate, ..., "macro": Estimate, "weighted": Estimate}``.
    """
    names = [str(c) for c in class_names]
    if len(names) < 2:
        raise UsageError(f"multiclass AUC needs at least 2 classes, got {names}")
    if len(set(names)) != len(names):
        raise UsageError(f"class_names must be distinct, got {names}")
    clash = {"macro", "weighted"} & set(names)
    if clash:
        raise UsageError(f"class name(s) {sorted(clash)} clash with the averaged results' keys; rename them")
    codes = _class_codes(y_true_labels, list(class_names))
    n_classes = len(names)
    try:
        probs = np.asarray(probabilities, dtype=float)
    except (TypeError, ValueError) as error:
        raise UsageError(f"probabilities must be numeric: {error}") from None
    if probs.shape != (codes.size, n_classes):
        raise UsageError(
            f"probabilities must have shape (n_subjects, n_classes) = ({codes.size}, {n_classes}), got {probs.shape}"
        )
    if not np.isfinite(probs).all():
        raise UsageError(f"probabilities hold {int((~np.isfinite(probs)).sum())} NaN/Inf values")
    counts = np.bincount(codes, minlength=n_classes)
    absent = [names[k] for k in range(n_classes) if counts[k] == 0]
    if absent:
        raise UsageError(
            f"one-vs-rest AUC is undefined for class(es) {absent}: no subject of that class in y_true_labels"
        )

    per_class = np.array([roc_auc_score(codes == k, probs[:, k]) for k in range(n_classes)])
    values = np.concatenate([per_class, [per_class.mean(), np.average(per_class, weights=counts)]])
    replicates = bootstrap.bootstrap_replicates(
        lambda c, p: _multiclass_auc_rowwise(c, p, n_classes),
        codes,
        probs,
        strata=codes,
        n_resamples=n_resamples,
        seed=seed,
        vectorized=True,
    )
    # Stratified by class, so every resample holds every class and no AUC is undefined.
    low, high, _ = bootstrap.percentile_ci(replicates)
    method = bootstrap.method_label(n_resamples, stratified=True)
    keys = names + ["macro", "weighted"]
    return {
        key: Estimate(float(values[i]), float(low[i]), float(high[i]), method, int(codes.size))
        for i, key in enumerate(keys)
    }
