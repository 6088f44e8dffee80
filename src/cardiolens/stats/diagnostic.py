"""Diagnostic accuracy at a threshold: sensitivity, specificity, PPV, NPV, accuracy with Wilson 95% CIs.

Methods:

* Proportions with the Wilson score interval (Wilson, JASA 1927;22:209,
  doi:10.1080/01621459.1927.10502953; recommended by Brown, Cai & DasGupta,
  Stat. Sci. 2001;16:101): for ``x`` successes of ``n`` and ``z = Φ⁻¹(0.975)``,
  ``(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``.
* Balanced accuracy ``(sensitivity + specificity) / 2`` (Brodersen et al.,
  ICPR 2010) with a stratified bootstrap percentile CI (no closed-form
  Wilson interval exists for it); METHODS.md §5.
* A subject is called positive when ``score >= threshold``.
* :func:`threshold_at_specificity` picks the lowest observed score threshold
  whose specificity reaches the target, i.e. the highest sensitivity at that
  specificity ("sensitivity at matched specificity", e.g. a model against an
  ECG voltage rule at the rule's specificity).

A proportion with a zero denominator (e.g. PPV with no positive calls) is
reported as NaN with no CI, never silently as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cardiolens.errors import UsageError
from cardiolens.stats import bootstrap
from cardiolens.stats.auc import Z_95, check_binary_outcome, check_scores
from cardiolens.stats.estimate import Estimate


def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    """Wilson score 95% interval of ``successes / total`` (Wilson 1927); needs ``total >= 1``."""
    if int(successes) != successes or int(total) != total:
        raise UsageError(f"successes and total must be whole numbers, got {successes} and {total}")
    if total < 1 or not 0 <= successes <= total:
        raise UsageError(f"Wilson interval needs 0 <= successes <= total and total >= 1, got {successes}/{total}")
    p = successes / total
    z2 = Z_95 * Z_95
    denominator = 1.0 + z2 / total
    centre = (p + z2 / (2.0 * total)) / denominator
    half_width = Z_95 * math.sqrt(p * (1.0 - p) / total + z2 / (4.0 * total * total)) / denominator
    # Clamp rounding error so x = 0 and x = n give exactly 0 and 1.
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def proportion(successes: int, total: int) -> Estimate:
    """``successes / total`` with its Wilson 95% CI; NaN value and no CI when ``total`` is 0."""
    if total == 0:
        return Estimate(math.nan, None, None, "Wilson (undefined: empty denominator)", 0)
    low, high = wilson_interval(successes, total)
    return Estimate(successes / total, low, high, "Wilson", int(total))


@dataclass(frozen=True)
class DiagnosticMetrics:
    """Confusion counts and accuracy measures of binary calls against the truth.

    Attributes:
        true_positives, false_positives, true_negatives, false_negatives: counts.
        sensitivity, specificity, ppv, npv, accuracy: Estimates with Wilson 95% CIs
            (``n`` = the denominator of each proportion).
        balanced_accuracy: (sensitivity + specificity)/2, bootstrap 95% CI.
        threshold: the score threshold used (``score >= threshold`` is positive),
            or None when computed from boolean predictions.
    """

    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    accuracy: Estimate
    balanced_accuracy: Estimate
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: each measure as ``{"value", "ci"}`` (fractions 0–1), counts as ints."""
        return {
            "sensitivity": self.sensitivity.to_metric(),
            "specificity": self.specificity.to_metric(),
            "ppv": self.ppv.to_metric(),
            "npv": self.npv.to_metric(),
            "accuracy": self.accuracy.to_metric(),
            "balanced_accuracy": self.balanced_accuracy.to_metric(),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "true_negatives": self.true_negatives,
            "false_negatives": self.false_negatives,
            "threshold": self.threshold,
        }


def _balanced_accuracy_rowwise(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each resample row; NaN where a class is absent."""
    y = np.atleast_2d(y)
    predicted = np.atleast_2d(predicted)
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = (y & predicted).sum(axis=1) / positives
        specificity = (~y & ~predicted).sum(axis=1) / negatives
    return (sensitivity + specificity) / 2.0


def diagnostic_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> DiagnosticMetrics:
    """Sensitivity, specificity, PPV, NPV, accuracy (Wilson CIs) and balanced accuracy of boolean calls.

    Args:
        y_true: truth per subject, boolean or 0/1.
        y_pred: call per subject, boolean or 0/1 (1 = called positive).
        n_resamples, seed: stratified bootstrap for the balanced-accuracy CI.
    """
    y = check_binary_outcome(y_true)
    predicted = check_binary_outcome(y_pred, "y_pred")
    if predicted.size != y.size:
        raise UsageError(f"y_pred has {predicted.size} subjects but y_true has {y.size}")
    tp = int((y & predicted).sum())
    fp = int((~y & predicted).sum())
    tn = int((~y & ~predicted).sum())
    fn = int((y & ~predicted).sum())
    balanced = bootstrap.bootstrap_ci(
        _balanced_accuracy_rowwise, y, predicted, strata=y, n_resamples=n_resamples, seed=seed, vectorized=True
    )
    return DiagnosticMetrics(
        true_positives=tp,
        false_positives=fp,
        true_negatives=tn,
        false_negatives=fn,
        sensitivity=proportion(tp, tp + fn),
        specificity=proportion(tn, tn + fp),
        ppv=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        accuracy=proportion(tp + tn, y.size),
        balanced_accuracy=balanced,
    )


def diagnostic_metrics_at_threshold(
    y_true: ArrayLike,
    score: ArrayLike,
    threshold: float,
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> DiagnosticMetrics:
    """:func:`diagnostic_metrics` of the calls ``score >= threshold``; the threshold is recorded."""
    y = check_binary_outcome(y_true)
    s = check_scores(score, y.size)
    if math.isnan(threshold):
        raise UsageError("threshold is NaN")
    metrics = diagnostic_metrics(y, s >= threshold, n_resamples=n_resamples, seed=seed)
    return replace(metrics, threshold=float(threshold))


def threshold_at_specificity(y_true: ArrayLike, score: ArrayLike, target_specificity: float) -> float:
    """The lowest threshold with specificity ≥ ``target_specificity`` (rule: ``score >= threshold``).

    The threshold is an observed score (as in scikit-learn's ``roc_curve``)
    or ``+inf`` when only calling nobody positive reaches the target; among
    thresholds meeting the target it gives the highest sensitivity.

    Args:
        y_true: truth per subject, boolean or 0/1; at least one negative.
        score: model output per subject, higher = more likely positive.
        target_specificity: the specificity to reach, in [0, 1].
    """
    y = check_binary_outcome(y_true)
    s = check_scores(score, y.size)
    if not 0.0 <= target_specificity <= 1.0:
        raise UsageError(f"target_specificity must lie in [0, 1], got {target_specificity}")
    negatives = np.sort(s[~y])
    if negatives.size == 0:
        raise UsageError("specificity is undefined: y_true holds no negative subject")
    # Specificity at threshold t = #(negatives < t) / n0; we need at least k negatives below t.
    # The small tolerance stops 0.9 * 10 = 9.000000000000002 from demanding 10.
    k = math.ceil(target_specificity * negatives.size - 1e-9)
    if k <= 0:
        return float(s.min())
    above = s[s > negatives[k - 1]]
    return float(above.min()) if above.size else math.inf


def sensitivity_at_specificity(
    y_true: ArrayLike,
    score: ArrayLike,
    target_specificity: float,
    *,
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> DiagnosticMetrics:
    """Diagnostic metrics at :func:`threshold_at_specificity` (the threshold is chosen on these data).

    Note the CIs do not include the uncertainty of choosing the threshold on
    the same subjects; fix the threshold on separate data when that matters.
    """
    threshold = threshold_at_specificity(y_true, score, target_specificity)
    return diagnostic_metrics_at_threshold(y_true, score, threshold, n_resamples=n_resamples, seed=seed)
