"""Patient-level stratified k-fold cross-validation of ``cine-seg`` + every ``nicm`` variant on one cohort.

Per fold: a ``cine-seg`` model is trained on the training patients only and
segments every frame of all patients; features come from those masks; each
variant is fitted on the training patients and predicts the held-out ones.
So every out-of-fold prediction (and every held-out Dice) comes from models
that never saw that patient. Fold models and feature caches stay in
``OUT/folds/k/`` so an interrupted run resumes.

``OUT/metrics.json``: per variant the classification metrics, the fused
model against each other variant (paired DeLong per class, paired bootstrap
of the macro-AUC difference), and the held-out ``cine-seg`` Dice and EF/mass
agreement. ``OUT/predictions.csv``: out-of-fold probabilities per variant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import patient_kfold
from cardiolens.errors import DataError, UsageError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.report.html import HtmlReport
from cardiolens.stats.classification import classification_metrics, compare_classifiers
from cardiolens.systems.cine_seg.config import CineSegConfig
from cardiolens.systems.cine_seg.evaluation import score_subject, summarise
from cardiolens.systems.cine_seg.model import load_segmenter
from cardiolens.systems.cine_seg.training import SPLIT_FILE as SEG_SPLIT_FILE
from cardiolens.systems.cine_seg.training import train as train_cine_seg
from cardiolens.systems.evaluation import metric_entry, metrics_document, metrics_table
from cardiolens.systems.nicm.config import VARIANTS, NicmConfig
from cardiolens.systems.nicm.evaluation import flat_metrics, probability_table
from cardiolens.systems.nicm.fitting import fit_variant
from cardiolens.systems.nicm.pipeline import cohort_features, labelled_records, subject_label
from cardiolens.systems.nicm.training import SYSTEM, open_cohort

REFERENCE_VARIANT = "fused"


def cross_validate(
    data: str | Path,
    out: str | Path,
    config: NicmConfig | None = None,
    variants: Sequence[str] = VARIANTS,
    seg_config: CineSegConfig | None = None,
) -> Path:
    """Run the k-fold evaluation (``config.folds`` folds, ``config.seed``) and write ``OUT/metrics.json``."""
    config = config or NicmConfig()
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise UsageError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    seg_config = seg_config or CineSegConfig(epochs=config.seg_epochs, seed=config.seed, num_threads=config.num_threads, accelerator=config.accelerator)
    cohort = open_cohort(data)
    records = labelled_records(cohort, config)
    labels = {r.subject_id: str(subject_label(r, config)) for r in records}
    class_names = config.class_names or sorted(set(labels.values()))
    records = [replace(r, label=labels[r.subject_id]) for r in records]
    folds = patient_kfold(records, n_splits=config.folds, seed=config.seed, stratify=True)
    out_dir = Path(out)
    oof: dict[str, dict[str, np.ndarray]] = {v: {} for v in variants}
    seg_rows: list[dict[str, Any]] = []
    bad: dict[str, dict[str, str]] = {}
    timings: dict[str, float | None] = {}
    for k, fold in enumerate(folds):
        fold_dir = out_dir / "folds" / str(k)
        seg_dir = fold_dir / "seg"
        if not (seg_dir / "model.json").is_file():
            train_cine_seg(cohort, seg_dir, seg_config, subject_ids=list(fold.train))
        # From the model directory, so a resumed run still reports how long the fold model took (None if it predates train_s).
        timings[f"fold{k}_cine_seg_train_s"] = json.loads((seg_dir / SEG_SPLIT_FILE).read_text()).get("train_s")
        segmenter = load_segmenter(seg_dir)
        for sid in fold.test:
            try:
                seg_rows.append({**score_subject(segmenter, cohort, sid), "fold": k})
            except DataError as exc:
                bad[sid] = {"subject_id": sid, "error": str(exc)}
        start = time.perf_counter()
        cache = fold_dir / f"features_f{config.n_frames}_p{config.n_phases}_c{config.crop_px}_s{config.crop_scale:g}"
        features, fold_bad = cohort_features(cohort, [r.subject_id for r in records], segmenter, config, cache_dir=cache,
                                             radiomics="radiomics_svm" in variants)
        timings[f"fold{k}_features_s"] = time.perf_counter() - start
        bad.update({b["subject_id"]: b for b in fold_bad})
        train_ids = [s for s in fold.train if s in features]
        test_ids = [s for s in fold.test if s in features]
        for variant in variants:
            start = time.perf_counter()
            fitted = fit_variant(features, labels, train_ids, replace(config, variant=variant), class_names)
            proba = fitted.predict_proba([features[s] for s in test_ids])
            oof[variant].update(dict(zip(test_ids, proba)))
            timings[f"fold{k}_{variant}_s"] = time.perf_counter() - start
    ids = sorted(set.intersection(*(set(v) for v in oof.values())))
    y = [labels[s] for s in ids]
    results = {v: classification_metrics(y, np.stack([oof[v][s] for s in ids]), class_names) for v in variants}
    metrics: dict[str, Any] = {}
    for variant in variants:
        metrics.update(flat_metrics(results[variant], prefix="" if variant == REFERENCE_VARIANT else f"{variant}_"))
    comparisons = {}
    if REFERENCE_VARIANT in variants:
        reference = np.stack([oof[REFERENCE_VARIANT][s] for s in ids])
        for variant in variants:
            if variant != REFERENCE_VARIANT:
                comparison = compare_classifiers(y, reference, np.stack([oof[variant][s] for s in ids]), class_names)
                comparisons[variant] = {"delong_per_class": comparison["delong_per_class"],
                                        "macro_auc_difference": comparison["macro_auc_difference"].to_metric()}
    seg_metrics, agreement = summarise(pd.DataFrame(seg_rows)) if seg_rows else ({}, {})
    metrics.update(seg_metrics)
    simulated = bool(getattr(cohort, "simulated", False))
    document = metrics_document(
        SYSTEM, data, cohort.layout, len(ids), {"evaluation": f"{config.folds}-fold patient-level stratified cross-validation",
                                               "variants": list(variants), "class_names": class_names, "config": config.to_dict(),
                                               "cine_seg_config": seg_config.to_dict()},
        metrics,
        extra={"variants": {v: {"confusion_matrix": results[v]["confusion_matrix"],
                                **{k: metric_entry(m) for k, m in flat_metrics(results[v]).items()}} for v in variants},
               "comparisons_vs_fused": comparisons, "cine_seg_bland_altman": agreement, "bad_cases": list(bad.values()),
               "timings_s": timings, "folds": [{"train": list(f.train), "test": list(f.test)} for f in folds], "simulated_data": simulated},
    )
    table = pd.concat([probability_table(ids, y, np.stack([oof[v][s] for s in ids]), class_names).assign(variant=v) for v in variants])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "metrics.json", json.dumps(document, indent=1, default=str))
    write_text_atomic(out_dir / "predictions.csv", table.to_csv(index=False))
    report = HtmlReport(f"nicm {config.folds}-fold cross-validation on {cohort.layout}", simulated)
    summary = pd.DataFrame([{"variant": v, **{k: metric_entry(results[v][k])["value"] for k in ("accuracy", "balanced_accuracy", "macro_auc")},
                             "macro_auc_diff_vs_fused": comparisons.get(v, {}).get("macro_auc_difference", {}).get("value")} for v in variants])
    report.table(summary)
    report.heading("cine-seg on held-out folds")
    report.table(metrics_table(seg_metrics))
    report.write(out_dir / "report.html")
    return out_dir
