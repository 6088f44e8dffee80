"""Evaluate ``cine-seg`` against the reference ED/ES masks of a cohort it was not trained on.

Per subject and phase: Dice of LV cavity, LV myocardium and RV cavity, and
HD95 in mm where the spacing is known. Per subject: LV/RV EF and (spacing
known) LV mass measured on the predicted and on the reference masks with
:func:`cardiolens.measure.cine.measure_cine`, compared by Bland–Altman.
Dice and HD95 are means over subjects (ED and ES averaged first) with
bootstrap 95% CIs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import Cohort
from cardiolens.errors import DataError
from cardiolens.io.layouts import scan
from cardiolens.measure.cine import measure_cine
from cardiolens.report.html import HtmlReport
from cardiolens.stats.agreement import bland_altman
from cardiolens.stats.overlap import dice, hd95
from cardiolens.systems.cine_seg.data import reference_cine
from cardiolens.systems.cine_seg.model import STRUCTURES, SliceSegmenter, load_segmenter
from cardiolens.systems.evaluation import mean_ci, metrics_document, metrics_table, write_evaluation
from cardiolens.systems.model_dir import read_card, refuse_trained_subjects, require_system

SYSTEM = "cine-seg"


def score_subject(segmenter: SliceSegmenter, cohort: Cohort, subject_id: str) -> dict[str, Any]:
    """Dice/HD95 per structure and phase, and EF/mass from predicted vs reference masks, for one subject."""
    cine = reference_cine(cohort, subject_id)
    row: dict[str, Any] = {"subject_id": subject_id, "label": cohort[subject_id].label, "spacing_known": cine.spacing_known}
    predicted: dict[int, np.ndarray] = {}
    for phase, index in (("ed", cine.ed_index), ("es", cine.es_index)):
        assert index is not None
        truth = cine.segmentations[index]
        predicted[index] = pred = segmenter.segment_volume(cine.image[index])
        for name, label in STRUCTURES.items():
            row[f"dice_{name}_{phase}"] = dice(pred == label, truth == label)
            if cine.spacing_known:
                row[f"hd95_{name}_{phase}_mm"] = hd95(pred == label, truth == label, cine.spacing_mm)
    for name in STRUCTURES:
        row[f"dice_{name}"] = (row[f"dice_{name}_ed"] + row[f"dice_{name}_es"]) / 2
        if cine.spacing_known:
            row[f"hd95_{name}_mm"] = (row[f"hd95_{name}_ed_mm"] + row[f"hd95_{name}_es_mm"]) / 2
    reference = measure_cine(cine, segmentations={i: cine.segmentations[i] for i in predicted}).to_dict()
    prediction = measure_cine(cine, segmentations=predicted).to_dict()
    for key in ("lv_ef_pct", "rv_ef_pct", "lv_mass_g", "lv_edv_ml"):
        row[f"{key}_reference"], row[f"{key}_predicted"] = reference.get(key), prediction.get(key)
    return row


def summarise(rows: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics for metrics.json, Bland–Altman details) from :func:`score_subject` rows."""
    metrics: dict[str, Any] = {}
    for name in STRUCTURES:
        metrics[f"dice_{name}"] = mean_ci(rows[f"dice_{name}"])
        for phase in ("ed", "es"):
            metrics[f"dice_{name}_{phase}"] = mean_ci(rows[f"dice_{name}_{phase}"])
        if f"hd95_{name}_mm" in rows:
            metrics[f"hd95_{name}_mm"] = mean_ci(rows[f"hd95_{name}_mm"])
    agreement: dict[str, Any] = {}
    for key, unit in (("lv_ef_pct", "pct"), ("rv_ef_pct", "pct"), ("lv_mass_g", "g"), ("lv_edv_ml", "ml")):
        pairs = rows[[f"{key}_predicted", f"{key}_reference"]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(pairs) >= 3:
            ba = bland_altman(pairs.iloc[:, 0], pairs.iloc[:, 1], unit=unit)
            agreement[key] = ba.to_dict()
            stem = key.rsplit("_", 1)[0]
            metrics[f"{stem}_bias_{unit}"], metrics[f"{stem}_loa_low_{unit}"], metrics[f"{stem}_loa_high_{unit}"] = ba.bias, ba.loa_low, ba.loa_high
    return metrics, agreement


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path, *, backend: str = "onnx") -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and ``report.html`` for ``data`` into ``out``."""
    card = read_card(model_dir)
    require_system(card, SYSTEM, model_dir)
    cohort = scan(data)
    refuse_trained_subjects(card, cohort.subject_ids, data)
    segmenter = load_segmenter(model_dir, backend)
    rows, bad = [], [{"subject_id": b.subject_id, "error": f"{b.path}: {b.problem}"} for b in cohort.bad_cases]
    for sid in cohort.subject_ids:
        try:
            rows.append(score_subject(segmenter, cohort, sid))
        except DataError as exc:  # report the bad case, go on with the others
            bad.append({"subject_id": sid, "error": str(exc)})
    table = pd.DataFrame(rows + bad)
    if not rows:
        raise DataError(cohort.root, "no subject could be evaluated: " + "; ".join(b["error"] for b in bad[:3]))
    metrics, agreement = summarise(pd.DataFrame(rows))
    simulated = bool(getattr(cohort, "simulated", False))
    document = metrics_document(
        SYSTEM, data, cohort.layout, len(rows), {"path": str(model_dir), "config": card.config}, metrics,
        extra={"bland_altman": agreement, "n_bad_cases": len(bad), "simulated_data": simulated,
               "notes": ["Dice/HD95: mean over subjects of the ED/ES average; 95% CI by bootstrap over subjects",
                         "HD95 and LV mass only for subjects with known spacing"]},
    )
    report = HtmlReport(f"cine-seg evaluation on {cohort.layout}", simulated)
    report.paragraph(f"{len(rows)} subjects evaluated, {len(bad)} bad cases.")
    report.table(metrics_table(metrics))
    return write_evaluation(out, document, table, report)
