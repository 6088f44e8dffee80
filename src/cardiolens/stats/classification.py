"""Multiclass classification metrics with 95% CIs, and paired comparison of two classifiers.

- accuracy, per-class precision and recall: Wilson score intervals;
- balanced accuracy (mean per-class recall) and macro F1: bootstrap
  percentile CIs, resamples stratified by the true class;
- one-vs-rest AUC per class and macro: :func:`cardiolens.stats.auc.multiclass_auc`;
- comparison: paired DeLong test per class (one-vs-rest) and a paired
  bootstrap CI of the macro-AUC difference (same resamples for both models).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cardiolens.errors import UsageError
from cardiolens.stats.auc import delong_test, multiclass_auc, roc_auc_score
from cardiolens.stats.bootstrap import bootstrap_ci, paired_bootstrap_difference
from cardiolens.stats.diagnostic import proportion
from cardiolens.stats.estimate import Estimate


def _codes(y_true: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    names = [str(c) for c in class_names]
    unknown = sorted({str(y) for y in y_true} - set(names))
    if unknown:
        raise UsageError(f"true labels {unknown} are not among the class names {names}")
    return np.array([names.index(str(y)) for y in y_true])


def _balanced_accuracy(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    recalls = [np.mean(predicted[y == k] == k) for k in range(n_classes) if np.any(y == k)]
    return float(np.mean(recalls))


def _macro_f1(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    scores = []
    for k in range(n_classes):
        tp = np.sum((predicted == k) & (y == k))
        denominator = np.sum(predicted == k) + np.sum(y == k)
        scores.append(2.0 * tp / denominator if denominator else np.nan)
    return float(np.nanmean(scores))


def classification_metrics(
    y_true: Sequence[Any], probabilities: np.ndarray, class_names: Sequence[str], *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Metrics of predicted class probabilities (n, K), columns in ``class_names`` order; the call is the arg-max.

    Returns:
        ``{"accuracy", "balanced_accuracy", "macro_f1", "macro_auc": Estimate,
        "per_class": {name: {"precision", "recall", "auc": Estimate}},
        "confusion_matrix": {"classes": [...], "rows_true_columns_predicted": [[...]]}}``.
        AUCs are None when a class is absent from ``y_true``.
    """
    names = [str(c) for c in class_names]
    y = _codes(y_true, names)
    proba = np.asarray(probabilities, dtype=float)
    if proba.shape != (len(y), len(names)):
        raise UsageError(f"probabilities must have shape ({len(y)}, {len(names)}), got {proba.shape}")
    predicted = proba.argmax(axis=1)
    k = len(names)
    out: dict[str, Any] = {
        "accuracy": proportion(int(np.sum(predicted == y)), len(y)),
        "balanced_accuracy": bootstrap_ci(lambda a, b: _balanced_accuracy(a, b, k), y, predicted, strata=y, n_resamples=n_resamples, seed=seed),
        "macro_f1": bootstrap_ci(lambda a, b: _macro_f1(a, b, k), y, predicted, strata=y, n_resamples=n_resamples, seed=seed),
    }
    present = [j for j in range(k) if np.any(y == j)]
    aucs: dict[str, Estimate] = {}
    if len(present) == k:
        aucs = multiclass_auc(y, proba, names, n_resamples=n_resamples, seed=seed)
    out["macro_auc"] = aucs.get("macro")
    out["per_class"] = {
        name: {
            "precision": proportion(int(np.sum((predicted == j) & (y == j))), int(np.sum(predicted == j))) if np.any(predicted == j) else None,
            "recall": proportion(int(np.sum((predicted == j) & (y == j))), int(np.sum(y == j))) if np.any(y == j) else None,
            "auc": aucs.get(name),
        }
        for j, name in enumerate(names)
    }
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (y, predicted), 1)
    out["confusion_matrix"] = {"classes": names, "rows_true_columns_predicted": matrix.tolist()}
    return out


def _macro_auc(y: np.ndarray, proba: np.ndarray) -> float:
    classes = np.unique(y)
    if len(classes) < proba.shape[1]:
        return float("nan")
    return float(np.mean([roc_auc_score(y == j, proba[:, j]) for j in range(proba.shape[1])]))


def compare_classifiers(
    y_true: Sequence[Any], proba_a: np.ndarray, proba_b: np.ndarray, class_names: Sequence[str], *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Model a vs model b on the same subjects: per-class paired DeLong p-values and the macro-AUC difference (a - b) with a paired bootstrap CI."""
    names = [str(c) for c in class_names]
    y = _codes(y_true, names)
    a, b = np.asarray(proba_a, float), np.asarray(proba_b, float)
    per_class = {}
    for j, name in enumerate(names):
        positive = y == j
        if positive.all() or not positive.any():
            per_class[name] = None
            continue
        test = delong_test(positive, a[:, j], b[:, j])
        per_class[name] = {"auc_a": test.auc_a.value, "auc_b": test.auc_b.value, "p_value": float(test.p_value)}
    difference = paired_bootstrap_difference(_macro_auc, (y, a), (y, b), strata=y, n_resamples=n_resamples, seed=seed)
    return {"delong_per_class": per_class, "macro_auc_difference": difference}
