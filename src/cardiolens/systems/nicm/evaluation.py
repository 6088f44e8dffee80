"""``evaluate nicm`` on a cohort the model was not trained on (external validation).

Every study is segmented by the model's own ``cine-seg`` copy, turned into
features and classified. ``metrics.json`` holds accuracy, balanced
accuracy, macro F1 and macro one-vs-rest AUC with 95% CIs, per-class
precision/recall/AUC and the confusion matrix (:mod:`cardiolens.stats.classification`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.errors import DataError
from cardiolens.report.html import HtmlReport
from cardiolens.stats.classification import classification_metrics
from cardiolens.systems.cine_seg.model import load_segmenter
from cardiolens.systems.evaluation import metrics_document, metrics_table, write_evaluation
from cardiolens.systems.model_dir import refuse_trained_subjects
from cardiolens.systems.nicm.pipeline import cohort_features, labelled_records, subject_label
from cardiolens.systems.nicm.training import SEG_DIR, SYSTEM, load_model, open_cohort


def flat_metrics(result: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """metrics.json entries (name -> Estimate) from :func:`classification_metrics` output."""
    metrics = {f"{prefix}{k}": result[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")}
    for name, values in result["per_class"].items():
        for key, value in values.items():
            metrics[f"{prefix}{key}_{name}"] = value
    return metrics


def probability_table(subject_ids: list[str], labels: list[str], proba: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"subject_id": subject_ids, "label": labels, "predicted": [class_names[i] for i in proba.argmax(axis=1)]})
    for j, name in enumerate(class_names):
        table[f"p_{name}"] = proba[:, j]
    return table


def evaluate(model_dir: str | Path, data: str | Path, out: str | Path) -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and ``report.html`` for ``data`` into ``out``."""
    card, fitted = load_model(model_dir)
    cohort = open_cohort(data)
    records = labelled_records(cohort, fitted.config)
    refuse_trained_subjects(card, [r.subject_id for r in records], data)
    unknown = sorted({str(subject_label(r, fitted.config)) for r in records} - set(card.class_names))
    if unknown:
        raise DataError(cohort.root, f"labels {unknown} are not classes of this model ({card.class_names})")
    ids = [r.subject_id for r in records]
    features, bad = cohort_features(cohort, ids, load_segmenter(Path(model_dir) / SEG_DIR), fitted.config,
                                    radiomics=fitted.config.variant == "radiomics_svm")
    usable = [s for s in ids if s in features]
    if not usable:
        raise DataError(cohort.root, "no study could be segmented and measured: " + "; ".join(b["error"] for b in bad[:3]))
    labels = [str(subject_label(cohort[s], fitted.config)) for s in usable]
    proba = fitted.predict_proba([features[s] for s in usable])
    result = classification_metrics(labels, proba, card.class_names)
    simulated = bool(getattr(cohort, "simulated", False))
    document = metrics_document(
        SYSTEM, data, cohort.layout, len(usable), {"path": str(model_dir), "variant": fitted.config.variant, "class_names": card.class_names},
        flat_metrics(result),
        extra={"confusion_matrix": result["confusion_matrix"], "bad_cases": bad, "simulated_data": simulated},
    )
    table = pd.concat([probability_table(usable, labels, proba, card.class_names), pd.DataFrame(bad)], ignore_index=True)
    report = HtmlReport(f"nicm ({fitted.config.variant}) evaluation on {cohort.layout}", simulated)
    report.paragraph(f"{len(usable)} subjects classified, {len(bad)} bad cases; trained on {card.data.get('path')}.")
    report.table(metrics_table(flat_metrics(result)))
    matrix = pd.DataFrame(result["confusion_matrix"]["rows_true_columns_predicted"], index=card.class_names, columns=card.class_names)
    report.heading("Confusion matrix (rows true, columns predicted)")
    report.table(matrix.reset_index(names="true"))
    return write_evaluation(out, document, table, report)
