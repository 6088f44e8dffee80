"""Evaluate ``scar-pattern``: slice- and case-level metrics with 95% CIs, feature maps against the scar mask.

Slice level (every slice, the unit the network sees): ``accuracy`` (Wilson
CI), macro ``precision``, ``recall`` and ``f1`` (bootstrap percentile CIs,
resamples stratified by the true class), ``macro_auc`` and one-vs-rest AUC per
class (bootstrap), confusion matrix. Case level: slice probabilities
aggregated per subject (:func:`~cardiolens.systems.scar_pattern.model.aggregate_cases`),
``case_accuracy`` (Wilson) and ``case_auc`` (two classes: DeLong CI of the
positive class; more: bootstrap macro one-vs-rest). Bootstrap CIs resample
slices as if independent; the case-level metrics are the patient-level ones.

Feature maps: ``scar_pointing_game`` (Wilson CI) and
``scar_top_fraction_iou`` (bootstrap CI) of Grad-CAM on the slices with a
manual scar mask, and the same for the deepest activation map
(``activation_pointing_game``, ``activation_top_fraction_iou``).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.io.atomic import write_text_atomic
from cardiolens.stats.auc import roc_auc_ci
from cardiolens.stats.bootstrap import bootstrap_ci
from cardiolens.stats.classification import classification_metrics
from cardiolens.stats.diagnostic import proportion
from cardiolens.stats.estimate import Estimate
from cardiolens.systems.evaluation import (
    metrics_document,
    metrics_table,
    write_evaluation,
)
from cardiolens.systems.model_dir import refuse_trained_subjects
from cardiolens.systems.scar_pattern.data import SliceSet, load_slice_set
from cardiolens.systems.scar_pattern.feature_maps import (
    SCORED_ACTIVATION,
    scar_maps,
    score_alignment,
)
from cardiolens.systems.scar_pattern.model import SYSTEM, ScarPredictor, aggregate_cases


def _macro(y: np.ndarray, predicted: np.ndarray, k: int, of: str) -> float:
    # macro precision ("predicted" side) or recall ("true" side) over the classes that occur on that side
    values = []
    for j in range(k):
        denominator = np.sum(predicted == j) if of == "precision" else np.sum(y == j)
        if denominator:
            values.append(np.sum((predicted == j) & (y == j)) / denominator)
    return float(np.mean(values)) if values else float("nan")


def slice_metrics(labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...], n_resamples: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(flat metrics, details with per-class values and the confusion matrix) of slice probabilities (N, K)."""
    k = len(class_names)
    y = np.asarray(labels, dtype=int)
    predicted = np.asarray(probabilities).argmax(axis=1)
    details = classification_metrics([class_names[i] for i in y], probabilities, class_names, n_resamples=n_resamples, seed=seed)
    metrics: dict[str, Any] = {
        "accuracy": details["accuracy"],
        "balanced_accuracy": details["balanced_accuracy"],
        "precision": bootstrap_ci(lambda a, b: _macro(a, b, k, "precision"), y, predicted, strata=y, n_resamples=n_resamples, seed=seed),
        "recall": bootstrap_ci(lambda a, b: _macro(a, b, k, "recall"), y, predicted, strata=y, n_resamples=n_resamples, seed=seed),
        "f1": details["macro_f1"],
        "macro_auc": details["macro_auc"],
    }
    for name, values in details["per_class"].items():
        metrics[f"auc_{name}"] = values["auc"]
    return metrics, details


def case_metrics(case_labels: np.ndarray, case_probabilities: np.ndarray, class_names: tuple[str, ...], n_resamples: int, seed: int) -> dict[str, Any]:
    """``case_accuracy``, ``case_auc`` (and macro precision/recall) of aggregated case probabilities (n_cases, K)."""
    y = np.asarray(case_labels, dtype=int)
    predicted = case_probabilities.argmax(axis=1)
    k = len(class_names)
    out: dict[str, Any] = {"case_accuracy": proportion(int(np.sum(predicted == y)), len(y))}
    if len(set(y.tolist())) < k:
        out["case_auc"] = None  # a class absent from the cases: no AUC
    elif k == 2:
        out["case_auc"] = roc_auc_ci(y == 1, case_probabilities[:, 1])
    else:
        details = classification_metrics([class_names[i] for i in y], case_probabilities, class_names, n_resamples=n_resamples, seed=seed)
        out["case_auc"] = details["macro_auc"]
    out["case_precision"] = bootstrap_ci(lambda a, b: _macro(a, b, k, "precision"), y, predicted, strata=y, n_resamples=n_resamples, seed=seed)
    out["case_recall"] = bootstrap_ci(lambda a, b: _macro(a, b, k, "recall"), y, predicted, strata=y, n_resamples=n_resamples, seed=seed)
    return out


def alignment_metrics(alignment: dict[str, Any] | None) -> dict[str, Estimate | None]:
    """The metrics.json entries of :func:`~cardiolens.systems.scar_pattern.feature_maps.scar_alignment` (None without scar masks)."""
    cam = alignment["grad_cam"] if alignment else None
    act = alignment[f"activation_{SCORED_ACTIVATION}"] if alignment else None
    return {
        "scar_pointing_game": cam["pointing_game"] if cam else None,
        "scar_top_fraction_iou": cam["top_fraction_iou"] if cam else None,
        "activation_pointing_game": act["pointing_game"] if act else None,
        "activation_top_fraction_iou": act["top_fraction_iou"] if act else None,
    }


def alignment_summary(alignment: dict[str, Any], top_fraction: float) -> dict[str, Any]:
    """The JSON-able counts of an alignment result (slices scored and pointing-game hits per map)."""
    summary: dict[str, Any] = {"top_fraction": top_fraction, "slices": alignment["names"]}
    for key in ("grad_cam", f"activation_{SCORED_ACTIVATION}"):
        summary[key] = {"n": alignment[key]["n"], "pointing_hits": alignment[key]["pointing_hits"]}
    return summary


def predict_slices(predictor: ScarPredictor, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities (N, K), Monte-Carlo SD (N, K) or None): the MC mean when ``mc_samples`` > 0."""
    if predictor.config.mc_samples > 0:
        draws = predictor.mc_probabilities(images)
        return draws.mean(axis=0), draws.std(axis=0)
    return predictor.probabilities(images), None


def metrics_from_predictions(slices: SliceSet, probabilities: np.ndarray, aggregation: str, config: Any,
                             alignment: dict[str, Any] | None) -> dict[str, Any]:
    """Every metric of slice probabilities (N, K) on ``slices``: ``metrics`` (flat), ``details``, ``cases`` table."""
    metrics, details = slice_metrics(slices.labels, probabilities, slices.class_names, config.bootstrap_resamples, config.seed)
    case_ids, case_probabilities = aggregate_cases(probabilities, slices.subject_ids, aggregation)
    case_labels = np.array([slices.case_labels[c] for c in case_ids])
    metrics.update(case_metrics(case_labels, case_probabilities, slices.class_names, config.bootstrap_resamples, config.seed))
    metrics.update(alignment_metrics(alignment))
    names = slices.class_names
    cases = pd.DataFrame({"subject_id": case_ids, "true_class": [names[i] for i in case_labels],
                          "predicted_class": [names[i] for i in case_probabilities.argmax(axis=1)],
                          "n_slices": [slices.subject_ids.count(c) for c in case_ids]})
    for j, name in enumerate(names):
        cases[f"p_{name}"] = case_probabilities[:, j]
    return {"metrics": metrics, "details": details, "cases": cases, "case_probabilities": case_probabilities, "case_labels": case_labels}


def slice_table(slices: SliceSet, probabilities: np.ndarray, sd: np.ndarray | None = None) -> pd.DataFrame:
    """One row per slice: subject, slice index, true and predicted class, probabilities (and MC SDs)."""
    names = slices.class_names
    table = pd.DataFrame({"subject_id": slices.subject_ids, "slice_index": slices.slice_index,
                          "true_class": [names[i] for i in slices.labels],
                          "predicted_class": [names[i] for i in probabilities.argmax(axis=1)]})
    for j, name in enumerate(names):
        table[f"p_{name}"] = probabilities[:, j]
        if sd is not None:
            table[f"sd_{name}"] = sd[:, j]
    return table


def evaluate_slices(predictor: ScarPredictor, slices: SliceSet) -> dict[str, Any]:
    """Predict ``slices`` and compute every metric: ``metrics``, ``details``, ``cases`` and ``slices`` tables, ``alignment``."""
    probabilities, sd = predict_slices(predictor, slices.images)
    alignment = score_alignment(scar_maps(predictor.network, slices), predictor.config)
    result = metrics_from_predictions(slices, probabilities, predictor.aggregation, predictor.config, alignment)
    return {**result, "slices": slice_table(slices, probabilities, sd), "alignment": alignment, "probabilities": probabilities}


def overlay_figure(alignment: dict[str, Any], n: int = 6) -> bytes:
    """PNG: up to ``n`` scar slices with their Grad-CAM (colour) and the manual scar outline (white)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = list(range(min(n, len(alignment["names"]))))
    fig, axes = plt.subplots(1, len(picks), figsize=(2.2 * len(picks), 2.4), squeeze=False)
    for ax, p in zip(axes[0], picks):
        ax.imshow(alignment["images"][p], cmap="gray")
        ax.imshow(alignment["cams"][p], cmap="jet", alpha=0.4, vmin=0, vmax=1)
        ax.contour(alignment["masks"][p], levels=[0.5], colors="white", linewidths=0.8)
        hit = alignment["grad_cam"]["per_slice_hit"][p]
        ax.set_title(f"{alignment['names'][p]} {'hit' if hit else 'miss'}", fontsize=7)
        ax.axis("off")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _report(result: dict[str, Any], slices: SliceSet, predictor: ScarPredictor) -> Any:
    from cardiolens.report.html import HtmlReport

    report = HtmlReport(f"scar-pattern evaluation ({predictor.config.backbone})", simulated=slices.simulated)
    report.paragraph(f"{len(slices.case_labels)} subjects, {len(slices.labels)} slices, channels {', '.join(slices.channels)}; "
                     f"classes {', '.join(slices.class_names)}; case aggregation: {predictor.aggregation}; "
                     f"backbone weights: {predictor.weights_origin().get('source', 'unknown')}.")
    report.heading("Metrics (95% CIs)")
    report.table(metrics_table(result["metrics"]))
    report.heading("Slice confusion matrix (rows true, columns predicted)")
    matrix = result["details"]["confusion_matrix"]
    report.table(pd.DataFrame(matrix["rows_true_columns_predicted"], index=matrix["classes"], columns=matrix["classes"]))
    if result["alignment"] is not None:
        report.heading("Grad-CAM against the manual scar mask")
        report.figure(overlay_figure(result["alignment"]), "Grad-CAM of the true class (colour) and the manual scar outline (white); "
                      "hit = the map's maximum lies in the scar (pointing game).")
    report.heading("Cases")
    report.table(result["cases"])
    return report


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    """Write ``metrics.json``, ``predictions.csv`` (one row per case), ``slice_predictions.csv`` and ``report.html``.

    Raises:
        UsageError: ``data`` holds subjects the model was trained on.
    """
    predictor = ScarPredictor.load(model_dir)
    config = dataclasses.replace(predictor.config, channels=predictor.channels)
    slices, bad = load_slice_set(data, config)
    refuse_trained_subjects(predictor.card, slices.case_labels, data)
    result = evaluate_slices(predictor, slices)
    model = {"path": str(model_dir), "backbone": config.backbone, "weights": predictor.weights_origin(),
             "class_names": list(predictor.class_names), "channels": list(predictor.channels), "case_aggregation": predictor.aggregation}
    extra: dict[str, Any] = {
        "simulated": slices.simulated,
        "confusion_matrix": result["details"]["confusion_matrix"],
        "n_slices": len(slices.labels),
        "bad_cases": [vars(b) for b in bad],
    }
    if result["alignment"] is not None:
        extra["alignment"] = alignment_summary(result["alignment"], config.cam_top_fraction)
    document = metrics_document(SYSTEM, data, slices.layout, len(slices.case_labels), model, result["metrics"], extra)
    folder = write_evaluation(out, document, result["cases"], _report(result, slices, predictor))
    write_text_atomic(folder / "slice_predictions.csv", result["slices"].to_csv(index=False))
    return folder
