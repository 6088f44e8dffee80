"""Evaluate an ``echo2cmr`` model on held-out echo-CMR pairs: AUC per label, calibration, pairing.

What is computed:

* Probabilities: per video the mean logit of ``config.eval_clips`` evenly spaced
  clips (the predictor's ``video_logits``), through the sigmoid; per pair and view
  the mean probability of that view's videos; per pair (the study) the mean over
  its views.
* Discrimination per label (:data:`~cardiolens.systems.echo2cmr.config.LABELS`):
  ROC-AUC with a stratified bootstrap percentile 95% CI
  (:func:`cardiolens.stats.auc.roc_auc_ci`, ``config.bootstrap_resamples``
  resamples within each class) on the pairs whose label is known; the same per
  view (``auc_<label>_<view>``). Pairs are resampled as units: several pairs of
  one subject are treated as independent, which narrows the CI a little when
  subjects repeat. A label is "above chance" only when its CI lower bound exceeds
  0.5. A label with one class present has no AUC (value None, reason in
  ``metric_notes``), never a crash.
* Prevalence per label with a Wilson CI; calibration per label: Brier score
  (bootstrap CI), calibration slope and calibration-in-the-large intercept
  (logistic recalibration, Wald CIs) and a 10-bin reliability table
  (:mod:`cardiolens.stats.calibration`).

Outputs (``metrics.json``, ``predictions.csv``, ``report.html``) hold no subject
IDs and no dates: pairs are named by keyed pseudonyms, offsets in whole days.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.special import expit

from cardiolens.errors import UsageError
from cardiolens.report.html import HtmlReport
from cardiolens.stats.auc import roc_auc_ci
from cardiolens.stats.calibration import brier_score, calibration_slope_intercept, reliability_table
from cardiolens.stats.diagnostic import proportion
from cardiolens.stats.estimate import Estimate
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.evaluation import metrics_document, write_evaluation

SYSTEM: Final[str] = "echo2cmr"

#: Readable names of the labels for reports.
LABEL_TITLES: Final[Mapping[str, str]] = {
    "wma": "wall-motion abnormality",
    "lge": "LGE present",
    "t1": "abnormal native T1",
    "t2": "abnormal T2",
    "ecv": "abnormal ECV",
}
#: Reference study (1,453 patients with an echo within 30 days of CMR): AUC per label
#: and, where published, its 95% CI.
REFERENCE_AUC: Final[Mapping[str, tuple[float, tuple[float, float] | None]]] = {
    "wma": (0.873, (0.816, 0.922)),
    "lge": (0.699, None),
    "t1": (0.614, None),
    "t2": (0.553, None),
    "ecv": (0.564, None),
}
RELIABILITY_BINS: Final[int] = 10

Metrics = dict[str, Estimate | float | int | None]


# ----------------------------------------------------------------------------- probabilities


def video_probabilities(predictor: Any, dataset: Any) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per decoded video: ``pair_id``, ``view`` and a probability per label.

    Returns the table and, per pair, the predictor's note when a video's view
    has no trained network (the first trained view's network is used then).
    """
    rows: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    for pair_id in dataset.pairs["pair_id"]:
        for video in dataset.videos.get(pair_id, []):
            _, note = predictor.view_model_for(video.view)
            if note:
                notes[pair_id] = note
            logits = np.asarray(predictor.video_logits(video), dtype=np.float64).reshape(len(LABELS))
            rows.append({"pair_id": pair_id, "view": str(video.view), **dict(zip(LABELS, expit(logits), strict=True))})
    return pd.DataFrame(rows, columns=["pair_id", "view", *LABELS]), notes


def study_probabilities(videos: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per-view (mean over that view's videos) and per-study (mean over views) probabilities.

    Returns ``(study, per_view)``: ``study`` indexed by ``pair_id`` with one column
    per label; ``per_view[view]`` the same for the pairs that have that view.
    """
    if videos.empty:
        empty = pd.DataFrame(columns=list(LABELS), dtype=float)
        return empty, {}
    by_view = videos.groupby(["pair_id", "view"], sort=False)[list(LABELS)].mean()
    study = by_view.groupby(level="pair_id", sort=False).mean()
    per_view = {str(view): frame.droplevel("view") for view, frame in by_view.groupby(level="view", sort=True)}
    return study, per_view


# ----------------------------------------------------------------------------- metrics


def _known(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def one_class_reason(y: np.ndarray) -> str | None:
    """Why an AUC is undefined for labels ``y`` (0/1, no NaN), or None when both classes occur."""
    if y.size == 0:
        return "no pair with this label known"
    positives = int(y.sum())
    if positives == 0:
        return f"one class only: all {y.size} known pairs negative"
    if positives == y.size:
        return f"one class only: all {y.size} known pairs positive"
    return None


def label_auc(y_true: np.ndarray, probability: np.ndarray, config: Echo2CmrConfig) -> tuple[Estimate | None, str | None]:
    """ROC-AUC with its stratified bootstrap 95% CI, or ``(None, reason)`` when undefined.

    Pairs with an unknown label (NaN) or probability are dropped first.
    """
    y, p = _known(np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float))
    reason = one_class_reason(y)
    if reason is not None:
        return None, reason
    return roc_auc_ci(y.astype(int), p, method="bootstrap", n_resamples=config.bootstrap_resamples, seed=config.seed), None


def above_chance(estimate: Estimate | None) -> bool | None:
    """True when the 95% CI lower bound exceeds 0.5; None when there is no AUC or no CI."""
    if estimate is None or estimate.ci_low is None:
        return None
    return bool(estimate.ci_low > 0.5)


def discrimination_metrics(
    truth: pd.DataFrame, probabilities: pd.DataFrame, config: Echo2CmrConfig, suffix: str = ""
) -> tuple[Metrics, dict[str, str]]:
    """``auc_<label><suffix>`` per label, and the reasons of those left undefined.

    ``truth`` and ``probabilities`` are aligned on their index (pairs), one column per label.
    """
    metrics: Metrics = {}
    notes: dict[str, str] = {}
    common = truth.index.intersection(probabilities.index)
    for label in LABELS:
        name = f"auc_{label}{suffix}"
        estimate, reason = label_auc(
            truth.loc[common, label].to_numpy(float), probabilities.loc[common, label].to_numpy(float), config
        )
        metrics[name] = estimate
        if reason is not None:
            notes[name] = reason
    return metrics, notes


def calibration_metrics(
    truth: pd.DataFrame, probabilities: pd.DataFrame, config: Echo2CmrConfig
) -> tuple[Metrics, dict[str, str], dict[str, Any]]:
    """Prevalence, Brier score, calibration slope and intercept per label, and the reliability tables.

    Returns ``(metrics, notes, reliability)``; ``reliability[label]`` is the
    JSON form of :func:`~cardiolens.stats.calibration.reliability_table` (None
    when no pair has that label known).
    """
    metrics: Metrics = {}
    notes: dict[str, str] = {}
    reliability: dict[str, Any] = {}
    for label in LABELS:
        y, p = _known(truth[label].to_numpy(float), probabilities.reindex(truth.index)[label].to_numpy(float))
        metrics[f"n_{label}"] = int(y.size)
        metrics[f"prevalence_{label}"] = proportion(int(y.sum()), int(y.size))
        if y.size == 0:
            for name in (f"brier_{label}", f"calibration_slope_{label}", f"calibration_intercept_{label}"):
                metrics[name] = None
                notes[name] = "no pair with this label known"
            reliability[label] = None
            continue
        yi = y.astype(int)
        metrics[f"brier_{label}"] = brier_score(yi, p, n_resamples=config.bootstrap_resamples, seed=config.seed)
        reliability[label] = reliability_table(yi, p, n_bins=RELIABILITY_BINS).to_dict()
        reason = one_class_reason(y)
        if reason is not None:
            metrics[f"calibration_slope_{label}"] = None
            metrics[f"calibration_intercept_{label}"] = None
            notes[f"calibration_slope_{label}"] = notes[f"calibration_intercept_{label}"] = reason
            continue
        fit = calibration_slope_intercept(yi, p)
        metrics[f"calibration_slope_{label}"] = fit.slope
        metrics[f"calibration_intercept_{label}"] = fit.intercept
        for name, value in ((f"calibration_slope_{label}", fit.slope), (f"calibration_intercept_{label}", fit.intercept)):
            if not math.isfinite(value.value):
                notes[name] = value.method
    return metrics, notes, reliability


# ----------------------------------------------------------------------------- report text


def _format_auc(estimate: Estimate | None, spec: str = ".3f") -> str:
    """``0.812 (0.700–0.900)``; "n/a" without an estimate or with a NaN value."""
    if not isinstance(estimate, Estimate) or not math.isfinite(estimate.value):
        return "n/a"
    ci = estimate.ci
    return format(estimate.value, spec) + ("" if ci is None else f" ({format(ci[0], spec)}–{format(ci[1], spec)})")


def summary_table(metrics: Mapping[str, Any], notes: Mapping[str, str]) -> pd.DataFrame:
    """One row per label: n, positives, AUC with CI, above chance, reference AUC."""
    rows = []
    for label in LABELS:
        auc = metrics.get(f"auc_{label}")
        prevalence = metrics.get(f"prevalence_{label}")
        n = int(metrics.get(f"n_{label}") or 0)
        positives = round(prevalence.value * n) if isinstance(prevalence, Estimate) and n else 0
        verdict = above_chance(auc)
        reference, reference_ci = REFERENCE_AUC[label]
        rows.append({
            "label": f"{label} ({LABEL_TITLES[label]})",
            "n pairs": n,
            "positive": positives,
            "AUC (95% CI)": _format_auc(auc),
            "above chance": "n/a" if verdict is None else ("yes" if verdict else "no"),
            "reference AUC": _format_auc(Estimate(reference, *(reference_ci or (None, None)))),
            "note": notes.get(f"auc_{label}", ""),
        })
    return pd.DataFrame(rows)


def per_view_table(metrics: Mapping[str, Any], views: Sequence[str]) -> pd.DataFrame:
    """One row per view: AUC (95% CI) of each label on the pairs with that view."""
    rows = []
    for view in views:
        row: dict[str, Any] = {"view": view}
        for label in LABELS:
            estimate = metrics.get(f"auc_{label}_{view}")
            verdict = above_chance(estimate)
            row[label] = _format_auc(estimate) + (" *" if verdict else "")
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per label: prevalence, Brier score, calibration slope and intercept, each with its 95% CI."""
    rows = []
    for label in LABELS:
        row: dict[str, Any] = {"label": label, "n pairs": int(metrics.get(f"n_{label}") or 0)}
        for title, name in (("prevalence", "prevalence"), ("Brier", "brier"), ("slope (ideal 1)", "calibration_slope"),
                            ("intercept (ideal 0)", "calibration_intercept")):
            row[title] = _format_auc(metrics.get(f"{name}_{label}"), ".3g")
        rows.append(row)
    return pd.DataFrame(rows)


def chance_sentence(metrics: Mapping[str, Any]) -> str:
    """Which labels are above chance (CI lower bound > 0.5), which are not, which have no AUC."""
    above, not_above, undefined = [], [], []
    for label in LABELS:
        verdict = above_chance(metrics.get(f"auc_{label}"))
        (undefined if verdict is None else above if verdict else not_above).append(label.upper())
    parts = [
        "Above chance (95% CI lower bound > 0.5): " + (", ".join(above) if above else "none") + ".",
        "Not shown to be above chance: " + (", ".join(not_above) if not_above else "none") + ".",
    ]
    if undefined:
        parts.append("No AUC (one class only or no labelled pairs): " + ", ".join(undefined) + ".")
    return " ".join(parts)


def reference_sentence(metrics: Mapping[str, Any], simulated: bool) -> str:
    """Compare this evaluation's pattern with the reference study's."""
    reference = "; ".join(f"{label.upper()} {REFERENCE_AUC[label][0]:.3f}" for label in LABELS)
    here = "; ".join(f"{label.upper()} {_format_auc(metrics.get(f'auc_{label}'))}" for label in LABELS)
    estimable = {label: m.value for label in LABELS if isinstance(m := metrics.get(f"auc_{label}"), Estimate)}
    if "wma" in estimable and len(estimable) > 1:
        best = max(estimable, key=lambda label: estimable[label])
        pattern = (
            "As in the reference study, wall motion (the positive control) is discriminated best here."
            if best == "wma"
            else f"Unlike the reference study, {best.upper()} rather than wall motion is discriminated best here."
        )
    else:
        pattern = "The pattern across labels cannot be compared: too few labels have an AUC."
    text = (
        f"Reference study (1,453 patients with an echo within 30 days of CMR): AUC {reference} "
        "(WMA 95% CI 0.816–0.922): wall motion is visible on echo, tissue character mostly is not. "
        f"This evaluation: {here}. {pattern}"
    )
    if simulated:
        text += (
            " These are results on SIMULATED data and are not clinical performance: they show only whether the "
            "pipeline recovers what the simulator put into the echo clips."
        )
    return text


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows += _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return rows
    if isinstance(value, (list, tuple)):
        return [(prefix, ", ".join(str(v) for v in value))]
    return [(prefix, value)]


def pairing_table(stats: Mapping[str, Any]) -> pd.DataFrame:
    """The pairing statistics (counts and day differences only) as name/value rows."""
    return pd.DataFrame([{"statistic": k, "value": str(v)} for k, v in _flatten("", stats)], columns=["statistic", "value"])


# ----------------------------------------------------------------------------- figures


def _new_figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def roc_figure(truth: pd.DataFrame, probabilities: pd.DataFrame, metrics: Mapping[str, Any]) -> bytes:
    """PNG: one ROC panel per label (study-level probabilities); empty panels say why."""
    from sklearn.metrics import roc_curve

    fig = _new_figure(3.0 * len(LABELS), 3.3)
    axes = fig.subplots(1, len(LABELS), sharey=True)
    for ax, label in zip(np.atleast_1d(axes), LABELS, strict=True):
        y, p = _known(truth[label].to_numpy(float), probabilities.reindex(truth.index)[label].to_numpy(float))
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        reason = one_class_reason(y)
        if reason is None:
            fpr, tpr, _ = roc_curve(y.astype(int), p)
            ax.plot(fpr, tpr, color="tab:red" if label == "wma" else "tab:blue", lw=1.8)
            ax.set_title(f"{label.upper()}: AUC {_format_auc(metrics.get(f'auc_{label}'))}", fontsize=8)
        else:
            ax.text(0.5, 0.5, reason, ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
            ax.set_title(f"{label.upper()}: no AUC", fontsize=8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="1 - specificity")
        ax.set_aspect("equal")
    np.atleast_1d(axes)[0].set_ylabel("sensitivity")
    return _png(fig)


def reliability_figure(reliability: Mapping[str, Any]) -> bytes:
    """PNG: observed fraction against mean predicted probability per bin, one line per label."""
    fig = _new_figure(4.8, 4.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect calibration")
    for label in LABELS:
        table = reliability.get(label)
        if not table:
            continue
        bins = [b for b in table["bins"] if b["n"] > 0 and b["mean_predicted"] is not None]
        if bins:
            ax.plot([b["mean_predicted"] for b in bins], [b["observed_fraction"] for b in bins], marker="o", ms=3, lw=1.2,
                    label=f"{label.upper()} (n={table['n']})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", ylabel="observed fraction",
           title=f"Reliability ({RELIABILITY_BINS} equal-width bins; empty bins omitted)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


# ----------------------------------------------------------------------------- evaluate


def predictions_table(
    pairs: pd.DataFrame, study: pd.DataFrame, per_view: Mapping[str, pd.DataFrame], notes_by_pair: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per pair: pseudonyms, day offset, views, truth and probability per label (no IDs, no dates)."""
    base = pairs[["pair_id", "subject_key", "days_offset", "views", "n_videos"]].copy()
    indexed = pairs.set_index("pair_id")
    for label in LABELS:
        base[f"{label}_true"] = indexed.loc[base["pair_id"], label].to_numpy(float)
        base[f"{label}_probability"] = study.reindex(base["pair_id"])[label].to_numpy(float)
    if len(per_view) > 1:  # with one view the per-view columns repeat the study columns
        for view, frame in per_view.items():
            for label in LABELS:
                base[f"{label}_probability_{view}"] = frame.reindex(base["pair_id"])[label].to_numpy(float)
    if notes_by_pair:
        base["note"] = base["pair_id"].map(notes_by_pair).fillna("")
    return base


def _methods(metrics: Mapping[str, Any]) -> dict[str, str]:
    return {name: value.method for name, value in metrics.items() if isinstance(value, Estimate) and value.method}


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    """Evaluate an ``echo2cmr`` model on ``data`` and write ``metrics.json``, ``predictions.csv``, ``report.html``.

    Steps: load the model (its config and pseudonym key); load and pair the data
    with the model's config and key (bad videos become bad cases); refuse pairs of
    subjects the model was trained on; probabilities per video, view and study;
    AUC per label (stratified bootstrap CI) overall and per view, prevalence,
    calibration; the report with ROC curves, a reliability diagram, the pairing
    statistics and the comparison with the reference study.

    Args:
        model_dir: a model directory written by ``echo2cmr`` training.
        data: an echo-CMR table folder (``cmr.csv`` + ``echo.csv``) or a simulated cohort folder.
        out: output folder (created).

    Returns:
        ``out``.

    Raises:
        UsageError: a model of another system, evaluation subjects the model was
            trained on, or no usable pair in ``data``.
    """
    from cardiolens.systems.echo2cmr.data import load_paired_dataset
    from cardiolens.systems.echo2cmr.model import load_predictor
    from cardiolens.systems.echo2cmr.pairing import label_cutoffs
    from cardiolens.systems.model_dir import read_card, refuse_trained_subjects, require_system

    card = read_card(model_dir)
    require_system(card, SYSTEM, model_dir)
    predictor = load_predictor(model_dir)
    config: Echo2CmrConfig = predictor.config
    dataset = load_paired_dataset(data, config, predictor.id_key)
    pairs = dataset.pairs.reset_index(drop=True)
    refuse_trained_subjects(card, pairs["subject_key"].astype(str), data)
    if pairs.empty:
        raise UsageError(f"no usable echo-CMR pair in {data} (see its pairing statistics and bad cases)")

    videos, notes_by_pair = video_probabilities(predictor, dataset)
    predictor_notes = list(dict.fromkeys(notes_by_pair.values()))
    study, per_view = study_probabilities(videos)
    truth = pairs.set_index("pair_id")[list(LABELS)].astype(float)

    metrics: Metrics = {"n_pairs": len(pairs)}
    metric_notes: dict[str, str] = {}
    found, found_notes = discrimination_metrics(truth, study, config)
    metrics.update(found)
    metric_notes.update(found_notes)
    for view, frame in per_view.items():
        found, found_notes = discrimination_metrics(truth.loc[truth.index.intersection(frame.index)], frame, config, f"_{view}")
        metrics.update(found)
        metric_notes.update(found_notes)
    found, found_notes, reliability = calibration_metrics(truth, study, config)
    metrics.update(found)
    metric_notes.update(found_notes)

    simulated = bool(dataset.simulated)
    stats = dict(dataset.pairing.stats) if dataset.pairing is not None else {}
    bad_cases = [dataclasses.asdict(b) for b in dataset.bad_cases]
    report = _build_report(
        data, model_dir, dataset.layout, simulated, pairs, truth, study, per_view, metrics, metric_notes,
        reliability, stats, bad_cases, predictor_notes,
    )
    model_info = {
        "path": str(model_dir), "system": card.system, "created_utc": card.created_utc, "config": card.config,
        "views": list(predictor.views), "trained_on": card.data, "n_trained_subjects": len(card.trained_subject_ids),
        "simulated_training_data": card.simulated_training_data,
    }
    extra: dict[str, Any] = {
        "simulated": simulated,
        "labels": list(LABELS),
        "label_cutoffs": label_cutoffs(config),
        "n_pairs": len(pairs),
        "views": sorted(per_view),
        "above_chance": {label: above_chance(metrics.get(f"auc_{label}")) for label in LABELS},  # type: ignore[arg-type]
        "metric_methods": _methods(metrics),
        "metric_notes": metric_notes,
        "calibration": {"reliability": reliability},
        "pairing": stats,
        "n_bad_cases": len(bad_cases),
        "bad_cases": bad_cases,
        "notes": predictor_notes,
        "reference_study": {label: {"auc": auc, "ci": list(ci) if ci else None} for label, (auc, ci) in REFERENCE_AUC.items()},
    }
    document = metrics_document(SYSTEM, data, dataset.layout, int(pairs["subject_key"].nunique()), model_info, metrics, extra)
    table = predictions_table(pairs, study, per_view, notes_by_pair)
    return write_evaluation(out, document, table, report)


def _build_report(
    data: str | Path,
    model_dir: str | Path,
    layout: str,
    simulated: bool,
    pairs: pd.DataFrame,
    truth: pd.DataFrame,
    study: pd.DataFrame,
    per_view: Mapping[str, pd.DataFrame],
    metrics: Metrics,
    metric_notes: Mapping[str, str],
    reliability: Mapping[str, Any],
    stats: Mapping[str, Any],
    bad_cases: Sequence[Mapping[str, Any]],
    predictor_notes: Sequence[str],
) -> HtmlReport:
    report = HtmlReport(f"echo2cmr evaluation: {Path(data).name}", simulated=simulated)
    report.paragraph(
        f"Data {data} (layout {layout}{', SIMULATED' if simulated else ''}): {len(pairs)} echo-CMR pairs of "
        f"{pairs['subject_key'].nunique()} subjects, views {', '.join(sorted(per_view)) or 'none'}, "
        f"{len(bad_cases)} bad cases. Model {model_dir}."
    )
    report.heading("Discrimination per CMR label")
    report.paragraph(
        "Study probability = mean over the study's views of the mean probability of that view's videos (each video: "
        "mean logit over evenly spaced clips). AUC with stratified bootstrap percentile 95% CI; a label is above "
        "chance only when the CI lower bound exceeds 0.5."
    )
    report.table(summary_table(metrics, metric_notes))
    report.paragraph(chance_sentence(metrics))
    report.paragraph(reference_sentence(metrics, simulated))
    report.figure(roc_figure(truth, study, metrics), "ROC curves per label (study-level probabilities); dashed: chance.")
    if len(per_view) > 1:
        report.heading("Per view")
        report.paragraph("Per view: the mean probability of the pair's videos of that view, on the pairs that have it.")
        report.table(per_view_table(metrics, sorted(per_view)))
    report.heading("Calibration")
    report.paragraph(
        "Brier score with stratified bootstrap 95% CI; calibration slope and calibration-in-the-large intercept by "
        "logistic recalibration (Wald 95% CIs); prevalence with Wilson 95% CI."
    )
    report.table(calibration_table(metrics))
    report.figure(reliability_figure(reliability),
                  "Reliability diagram: observed fraction of positives against mean predicted probability.")
    report.heading("Pairing of echo and CMR studies")
    report.paragraph(
        "Each CMR study takes the closest echo study of the same subject within the window (greedy, closest first; "
        "each study used at most once). Counts and day differences only."
    )
    report.table(pairing_table(stats))
    for note in predictor_notes:
        report.paragraph(note)
    if bad_cases:
        report.heading("Bad cases")
        report.table(pd.DataFrame(list(bad_cases)))
    return report


__all__ = [
    "LABEL_TITLES",
    "REFERENCE_AUC",
    "above_chance",
    "calibration_metrics",
    "calibration_table",
    "chance_sentence",
    "discrimination_metrics",
    "evaluate",
    "label_auc",
    "pairing_table",
    "per_view_table",
    "predictions_table",
    "reference_sentence",
    "reliability_figure",
    "roc_figure",
    "study_probabilities",
    "summary_table",
    "video_probabilities",
]
