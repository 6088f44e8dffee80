"""Evaluate an ``lge`` model against the manual masks of a cohort it was not trained on.

Per case: Dice of myocardium (2+3+4), scar (3+4), MVO (4) and LV cavity (1);
HD95 of myocardium and scar; scar volume, MVO volume and %LGE measured on the
predicted and on the manual mask by the same code
(:mod:`cardiolens.systems.lge.quantification`).

Summary (``metrics.json``, 95 % CIs):

- Dice and HD95: means over cases, bootstrap CIs. ``dice_scar`` and
  ``hd95_scar`` are over cases whose manual mask has scar (a scar-free case
  has no scar overlap to score); ``dice_scar_all_cases`` also counts the
  scar-free ones (1 when the prediction is empty too, else 0), as the
  EMIDEC challenge did. ``dice_mvo`` is over cases with MVO.
- HD95 is in mm (3-D) when every case has a known spacing; otherwise in
  pixels, in-plane (the surface distances of each slice, pooled), because
  without a slice spacing a 3-D distance has no meaning.
- Pearson r (Fisher CI) and Bland-Altman (bias, limits of agreement) of
  %LGE and of scar volume (mL when every spacing is known, else voxels).
- The >15 % burden flag: accuracy, sensitivity, specificity (Wilson CIs).
- Normal vs MI per case: the case is called MI when its predicted mask
  keeps scar; accuracy, sensitivity, specificity, and the AUC of the
  predicted %LGE (DeLong CI). Truth: the manual mask holds scar.
- A breakdown by centre or vendor when the cohort records one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import Cohort
from cardiolens.data.labels import LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError
from cardiolens.io.layouts import scan
from cardiolens.report.html import HtmlReport
from cardiolens.stats.agreement import bland_altman, pearson
from cardiolens.stats.auc import roc_auc_ci
from cardiolens.stats.diagnostic import diagnostic_metrics
from cardiolens.stats.overlap import dice, hd95, surface_distances
from cardiolens.systems.evaluation import mean_ci, metrics_document, metrics_table, write_evaluation
from cardiolens.systems.lge.data import load_volume
from cardiolens.systems.lge.model import MYOCARDIUM_LABELS, SCAR_LABELS
from cardiolens.systems.lge.pipeline import LGEPipeline, load_pipeline
from cardiolens.systems.lge.quantification import quantification_row
from cardiolens.systems.model_dir import refuse_trained_subjects

SYSTEM = "lge"
STRUCTURES: dict[str, tuple[int, ...]] = {
    "myocardium": MYOCARDIUM_LABELS,
    "scar": SCAR_LABELS,
    "mvo": (LGE_LABELS["mvo"],),
    "cavity": (LGE_LABELS["lv_cavity"],),
}
#: Keys every metrics.json holds (null where a cohort leaves them undefined).
REQUIRED_METRICS: tuple[str, ...] = ("dice_myocardium", "dice_scar", "hd95_myocardium", "pct_lge_pearson_r", "pct_lge_bias",
                                     "burden_over_15pct_accuracy", "case_mi_auc")
#: Attributes that name a site or scanner, for the breakdown.
GROUP_ATTRIBUTES: tuple[str, ...] = ("centre", "center", "site", "vendor", "manufacturer")


def hd95_in_plane_px(pred: np.ndarray, truth: np.ndarray) -> float:
    """HD95 in pixels from 2-D surface distances of every slice, pooled (NaN both empty, inf one empty)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() and not truth.any():
        return math.nan
    if not pred.any() or not truth.any():
        return math.inf
    distances = []
    for z in range(pred.shape[0]):
        if pred[z].any() and truth[z].any():
            distances.extend(surface_distances(pred[z], truth[z], 1.0))
        elif pred[z].any() or truth[z].any():  # a structure drawn on a slice the other misses
            return math.inf
    return float(np.percentile(np.concatenate(distances), 95))


def score_case(predicted: np.ndarray, volume: CMRVolume, spacing_3d: bool) -> dict[str, Any]:
    """Overlap and quantification of one case's predicted mask against its manual mask."""
    truth = np.asarray(volume.labels)
    row: dict[str, Any] = {"subject_id": volume.subject_id, "spacing_known": volume.spacing_known, "truth_has_scar": bool(np.isin(truth, SCAR_LABELS).any()),
                           "truth_has_mvo": bool((truth == LGE_LABELS["mvo"]).any())}
    for name, labels in STRUCTURES.items():
        p, t = np.isin(predicted, labels), np.isin(truth, labels)
        row[f"dice_{name}"] = dice(p, t)
        if name in ("myocardium", "scar"):
            row[f"hd95_{name}"] = hd95(p, t, volume.spacing_mm) if spacing_3d else hd95_in_plane_px(p, t)
    for side, labels in (("predicted", predicted), ("reference", truth)):
        quantified = quantification_row(volume, labels, segments=False)
        for key in ("pct_lge", "scar_voxels", "mvo_voxels", "myocardium_voxels", "scar_volume_ml", "mvo_volume_ml",
                    "burden_over_15pct", "mi_predicted"):
            row[f"{key}_{side}"] = quantified[key]
    return row


def _finite_share(values: pd.Series) -> float:
    x = pd.to_numeric(values, errors="coerce").to_numpy(float)
    x = x[~np.isnan(x)]
    return float(np.isfinite(x).mean()) if len(x) else math.nan


def _agreement(rows: pd.DataFrame, key: str, unit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pairs = rows[[f"{key}_predicted", f"{key}_reference"]].apply(pd.to_numeric, errors="coerce").dropna()
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if len(pairs) >= 3 and pairs.iloc[:, 0].nunique() > 1 and pairs.iloc[:, 1].nunique() > 1:
        metrics["pearson_r"] = pearson(pairs.iloc[:, 0], pairs.iloc[:, 1])
    if len(pairs) >= 3:
        ba = bland_altman(pairs.iloc[:, 0], pairs.iloc[:, 1], unit=unit)
        metrics.update(bias=ba.bias, loa_low=ba.loa_low, loa_high=ba.loa_high)
        details = ba.to_dict()
    return metrics, details


def _diagnostic(truth: pd.Series, called: pd.Series, stem: str) -> dict[str, Any]:
    y, c = truth.astype(bool).to_numpy(), called.astype(bool).to_numpy()
    if len(y) == 0:
        return {}
    result = diagnostic_metrics(y, c)
    metrics: dict[str, Any] = {f"{stem}_accuracy": result.accuracy}
    if y.any():
        metrics[f"{stem}_sensitivity"] = result.sensitivity
    if (~y).any():
        metrics[f"{stem}_specificity"] = result.specificity
    return metrics


def summarise(rows: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics for metrics.json, Bland-Altman details) from :func:`score_case` rows."""
    scarred = rows[rows["truth_has_scar"]]
    metrics: dict[str, Any] = {
        "dice_myocardium": mean_ci(rows["dice_myocardium"]),
        "dice_scar": mean_ci(scarred["dice_scar"]),
        "dice_scar_all_cases": mean_ci(rows["dice_scar"]),
        "dice_mvo": mean_ci(rows.loc[rows["truth_has_mvo"], "dice_mvo"]),
        "dice_cavity": mean_ci(rows["dice_cavity"]),
        "hd95_myocardium": mean_ci(rows["hd95_myocardium"]),
        "hd95_scar": mean_ci(scarred["hd95_scar"]),
        "hd95_scar_finite_fraction": _finite_share(scarred["hd95_scar"]),
    }
    details: dict[str, Any] = {}
    volume_key, volume_unit = ("scar_volume_ml", "ml") if rows["spacing_known"].all() else ("scar_voxels", "voxels")
    for key, unit, stem in (("pct_lge", "pct", "pct_lge"), (volume_key, volume_unit, "scar_volume")):
        agreement, details[stem] = _agreement(rows, key, unit)
        metrics.update({f"{stem}_{name}": value for name, value in agreement.items()})
    metrics.update(_diagnostic(rows["burden_over_15pct_reference"], rows["burden_over_15pct_predicted"], "burden_over_15pct"))
    metrics.update(_diagnostic(rows["truth_has_scar"], rows["mi_predicted_predicted"], "case_mi"))
    truth = rows["truth_has_scar"].astype(bool)
    both_classes = truth.any() and (~truth).any()
    metrics["case_mi_auc"] = roc_auc_ci(truth.to_numpy(), rows["pct_lge_predicted"].to_numpy(float)) if both_classes else None
    for key in REQUIRED_METRICS:  # always present; null where undefined (e.g. no normal case)
        metrics.setdefault(key, None)
    return metrics, details


def breakdown(rows: pd.DataFrame, attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean Dice of myocardium and scar per centre/vendor value, for each grouping attribute the cohort records."""
    out: dict[str, Any] = {}
    for key in GROUP_ATTRIBUTES:
        groups = rows["subject_id"].map(lambda sid, k=key: attributes.get(sid, {}).get(k))
        if groups.isna().all():
            continue
        table = {}
        for value, part in rows.groupby(groups.fillna("unknown")):
            scar = part.loc[part["truth_has_scar"], "dice_scar"]
            table[str(value)] = {"n": len(part), "dice_myocardium": float(part["dice_myocardium"].mean()),
                                 "dice_scar": float(scar.mean()) if len(scar) else None}
        out[key] = table
    return out


def score_cohort(pipeline: LGEPipeline, cohort: Cohort, subject_ids: Sequence[str]) -> tuple[pd.DataFrame, list[dict[str, str]], dict[str, np.ndarray]]:
    """(rows, bad cases, predicted masks) of ``subject_ids``; a bad case is recorded and the rest go on."""
    volumes: dict[str, CMRVolume] = {}
    bad: list[dict[str, str]] = []
    for sid in subject_ids:
        try:
            volume = pipeline.prepare(load_volume(cohort, sid))
            if volume.labels is None:
                raise DataError(volume.source, "no manual mask to evaluate against")
            volumes[sid] = volume
        except DataError as exc:
            bad.append({"subject_id": sid, "error": str(exc)})
    spacing_3d = bool(volumes) and all(v.spacing_known for v in volumes.values())  # else HD95 in in-plane pixels
    rows, masks = [], {}
    for sid, volume in volumes.items():
        try:
            masks[sid] = pipeline.segment(volume)
            rows.append({**score_case(masks[sid], volume, spacing_3d), "label": cohort[sid].label})
        except DataError as exc:
            bad.append({"subject_id": sid, "error": str(exc)})
    return pd.DataFrame(rows), bad, masks


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path, *, backend: str = "onnx") -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and ``report.html`` for ``data`` into ``out``."""
    pipeline = load_pipeline(model_dir, backend)
    cohort = scan(data)
    refuse_trained_subjects(pipeline.card, cohort.subject_ids, data)
    rows, bad, _ = score_cohort(pipeline, cohort, cohort.subject_ids)
    bad = [{"subject_id": b.subject_id, "error": f"{b.path}: {b.problem}"} for b in cohort.bad_cases] + bad
    if rows.empty:
        raise DataError(cohort.root, "no case could be evaluated: " + "; ".join(b["error"] for b in bad[:3]))
    metrics, agreement = summarise(rows)
    simulated = bool(getattr(cohort, "simulated", False))
    hd95_unit = "mm (3-D)" if rows["spacing_known"].all() else "px (in-plane, per slice, pooled)"
    document = metrics_document(
        SYSTEM, data, cohort.layout, len(rows), {"path": str(model_dir), "variant": pipeline.config.variant, "config": pipeline.card.config},
        metrics,
        extra={"units": {"hd95": hd95_unit, "scar_volume": "mL" if rows["spacing_known"].all() else "voxels", "pct_lge": "%"},
               "bland_altman": agreement, "breakdown": breakdown(rows, {r.subject_id: r.attributes for r in cohort.records}),
               "n_bad_cases": len(bad), "simulated_data": simulated,
               "myocardium_from_study_labels": pipeline.uses_study_labels,
               "notes": [("Dice/HD95: mean over cases, 95% CI by bootstrap over cases; dice_scar and hd95_scar over cases with "
                          "manual scar; dice_scar_all_cases counts scar-free cases as 1 (empty prediction) or 0"),
                         "case MI: predicted mask keeps scar (islands < min_scar_voxels removed); AUC of predicted %LGE, DeLong CI",
                         ">15% flag: %LGE >= 15 on each mask (Chan 2014)"]},
    )
    report = HtmlReport(f"lge evaluation ({pipeline.config.variant}) on {cohort.layout}", simulated)
    report.paragraph(f"{len(rows)} cases evaluated, {len(bad)} bad cases. HD95 unit: {hd95_unit}.")
    if pipeline.uses_study_labels:
        report.paragraph("Threshold variant inside the manual myocardium: the myocardium scores are those of the manual mask itself.")
    report.table(metrics_table(metrics))
    return write_evaluation(out, document, pd.concat([rows, pd.DataFrame(bad)], ignore_index=True), report)
