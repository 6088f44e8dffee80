"""Cross-validate ``scar-pattern`` backbones on the same patient-level folds, with paired comparisons.

Folds: ``config.folds`` >= 2 gives :func:`~cardiolens.data.cohort.patient_kfold`
(stratified on the case class); ``folds`` = 1 one
:func:`~cardiolens.data.cohort.patient_train_test_split` of
``config.test_fraction`` (80/20 by default). Inside each training part a
patient-level validation split steers early stopping. Variants: the
configured backbone (the reference) and every ``config.compare`` entry, each
trained from the same folds and seeds.

Out-of-fold slice probabilities of each variant give the metrics of
:mod:`~cardiolens.systems.scar_pattern.evaluation`, and the feature maps of
each fold's network on its test slices with scar give the alignment
metrics. Each variant is compared with the reference on the cases: paired
DeLong per class (one-vs-rest) and a paired bootstrap CI of the macro-AUC
difference (:func:`~cardiolens.stats.classification.compare_classifiers`).

Outputs (``out``): ``metrics.json`` (the reference's metrics under
``metrics``, every variant under ``variants``, the comparisons, fold sizes
and training times), ``predictions.csv`` (out-of-fold case probabilities of
every variant), ``slice_predictions.csv`` and ``report.html``. Fold models are
not kept (only the numbers): ``train`` writes a model to keep.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import (
    Split,
    can_stratify,
    patient_kfold,
    patient_train_test_split,
)
from cardiolens.io.atomic import write_text_atomic
from cardiolens.stats.classification import compare_classifiers
from cardiolens.systems.evaluation import (
    metric_entry,
    metrics_document,
    metrics_table,
    write_evaluation,
)
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.data import SliceSet, load_slice_set
from cardiolens.systems.scar_pattern.evaluation import (
    alignment_summary,
    metrics_from_predictions,
    overlay_figure,
    slice_table,
)
from cardiolens.systems.scar_pattern.feature_maps import (
    merge_maps,
    scar_maps,
    score_alignment,
)
from cardiolens.systems.scar_pattern.model import (
    SYSTEM,
    case_aggregation,
    network_probabilities,
)
from cardiolens.systems.scar_pattern.training import (
    fit_network,
    split_subjects,
    subject_records,
)


def variant_config(config: ScarPatternConfig, variant: str) -> ScarPatternConfig:
    """The config of a variant name ``backbone`` or ``backbone:scratch`` (random initial weights)."""
    name, _, mode = variant.partition(":")
    pretrained = config.pretrained if mode == "" else mode == "pretrained"
    weights = config.weights if name == config.backbone and pretrained else None
    return dataclasses.replace(config, backbone=name, pretrained=pretrained, weights=weights, compare=())


def variant_names(config: ScarPatternConfig) -> list[str]:
    """The reference (the configured backbone, ``:scratch`` when not pretrained) then the ``compare`` entries, without repeats."""
    reference = config.backbone if config.pretrained else f"{config.backbone}:scratch"
    return list(dict.fromkeys([reference, *config.compare]))


def make_splits(slices: SliceSet, config: ScarPatternConfig) -> tuple[list[Split], str]:
    """The patient-level test splits and a description of how they were made."""
    records = subject_records(slices)
    if config.folds >= 2:
        return patient_kfold(records, config.folds, seed=config.seed), f"patient_kfold(n_splits={config.folds}, seed={config.seed}, stratified)"
    stratify = can_stratify(records, config.test_fraction)
    split = patient_train_test_split(records, config.test_fraction, seed=config.seed, stratify=stratify)
    return [split], f"patient_train_test_split(test_fraction={config.test_fraction}, seed={config.seed}, stratify={stratify})"


def run_variant(slices: SliceSet, splits: list[Split], config: ScarPatternConfig, source: str) -> dict[str, Any]:
    """Train and test one variant on every split: out-of-fold probabilities (NaN for slices never tested), maps, timings."""
    probabilities = np.full((len(slices.labels), len(slices.class_names)), np.nan)
    subject_of_slice = np.asarray(slices.subject_ids)
    maps, folds = [], []
    for k, split in enumerate(splits):
        train_part = slices.subset(split.train)
        train_ids, val_ids, _ = split_subjects(train_part, config, f"{source} fold {k}")
        network, summary = fit_network(train_part.subset(train_ids), train_part.subset(val_ids), config, None)
        test = slices.subset(split.test)
        probabilities[np.isin(subject_of_slice, split.test)] = network_probabilities(network, test.images)
        maps.append(scar_maps(network, test))
        folds.append({"fold": k, "n_train_subjects": len(train_ids), "n_val_subjects": len(val_ids), "n_test_subjects": len(split.test),
                      "seconds": summary["train_seconds"], "phases": summary["phases"], "weights": summary["weights"]})
    return {"probabilities": probabilities, "maps": merge_maps(maps), "folds": folds}


def crossval(data: str | Path, out: str | Path, config: ScarPatternConfig | None = None) -> Path:
    """Cross-validate the configured backbone and the ``compare`` variants; writes the outputs listed above into ``out``."""
    config = config or ScarPatternConfig()
    slices, bad = load_slice_set(data, config)
    splits, split_method = make_splits(slices, config)
    tested_ids = sorted({sid for split in splits for sid in split.test})
    tested_rows = np.isin(np.asarray(slices.subject_ids), tested_ids)  # a hold-out split tests only its test side
    tested = slices.subset(tested_ids)
    aggregation = case_aggregation(config, slices.layout, len(slices.class_names))
    results: dict[str, dict[str, Any]] = {}
    for variant in variant_names(config):
        run = run_variant(slices, splits, variant_config(config, variant), str(data))
        run["probabilities"] = run["probabilities"][tested_rows]
        run["alignment"] = score_alignment(run["maps"], config)
        run.update(metrics_from_predictions(tested, run["probabilities"], aggregation, config, run["alignment"]))
        results[variant] = run
    return _write(out, data, tested, bad, config, split_method, splits, aggregation, results)


def _comparisons(slices: SliceSet, results: dict[str, dict[str, Any]], config: ScarPatternConfig) -> dict[str, Any]:
    names = list(results)
    reference = results[names[0]]
    labels = [slices.class_names[i] for i in reference["case_labels"]]
    comparisons = {}
    for name in names[1:]:
        c = compare_classifiers(labels, reference["case_probabilities"], results[name]["case_probabilities"], slices.class_names,
                                n_resamples=config.bootstrap_resamples, seed=config.seed)
        comparisons[f"{names[0]} vs {name}"] = {"delong_per_class": c["delong_per_class"],
                                                "macro_auc_difference": c["macro_auc_difference"].to_metric()}
    return comparisons


def _write(out: str | Path, data: str | Path, slices: SliceSet, bad: list[Any], config: ScarPatternConfig, split_method: str,
           splits: list[Split], aggregation: str, results: dict[str, dict[str, Any]]) -> Path:
    from cardiolens.report.html import HtmlReport

    names = list(results)
    reference = results[names[0]]
    comparisons = _comparisons(slices, results, config)
    extra = {
        "simulated": slices.simulated,
        "n_slices": len(slices.labels),
        "split": {"method": split_method, "n_splits": len(splits), "test_subjects_per_split": [len(s.test) for s in splits]},
        "case_aggregation": aggregation,
        "variants": {name: {key: metric_entry(value) for key, value in r["metrics"].items()} for name, r in results.items()},
        "confusion_matrices": {name: r["details"]["confusion_matrix"] for name, r in results.items()},
        "comparisons": comparisons,
        "folds": {name: r["folds"] for name, r in results.items()},
        "alignment": {name: alignment_summary(r["alignment"], config.cam_top_fraction) for name, r in results.items() if r["alignment"]},
        "bad_cases": [vars(b) for b in bad],
    }
    model = {"reference": names[0], "variants": names, "config": config.to_dict()}
    document = metrics_document(SYSTEM, data, slices.layout, len(slices.case_labels), model, reference["metrics"], extra)
    cases = pd.concat([r["cases"].assign(variant=name) for name, r in results.items()], ignore_index=True)
    report = HtmlReport(f"scar-pattern cross-validation ({len(splits)} split(s))", simulated=slices.simulated)
    report.paragraph(f"{len(slices.case_labels)} tested subjects, {len(slices.labels)} slices; {split_method}; case aggregation {aggregation}.")
    keys = ["accuracy", "precision", "recall", "macro_auc", "case_accuracy", "case_auc", "scar_pointing_game", "scar_top_fraction_iou"]
    table = pd.DataFrame([{"variant": name, **{k: metric_entry(r["metrics"].get(k))["value"] for k in keys},
                           "train_s_per_fold": float(np.mean([f["seconds"] for f in r["folds"]]))} for name, r in results.items()])
    report.heading("Variants (out-of-fold)")
    report.table(table)
    if comparisons:
        report.heading(f"Paired comparisons with {names[0]} (cases)")
        report.table(pd.DataFrame([{"comparison": k, "macro_auc_difference": v["macro_auc_difference"]["value"],
                                    **{f"delong_p_{c}": (d or {}).get("p_value") for c, d in v["delong_per_class"].items()}}
                                   for k, v in comparisons.items()]))
    report.heading(f"Reference {names[0]}: metrics (95% CIs)")
    report.table(metrics_table(reference["metrics"]))
    if reference["alignment"] is not None:
        report.figure(overlay_figure(reference["alignment"]), "Grad-CAM of the true class (colour) and the manual scar outline (white).")
    folder = write_evaluation(out, document, cases, report)
    slices_out = pd.concat([slice_table(slices, r["probabilities"]).assign(variant=name) for name, r in results.items()], ignore_index=True)
    write_text_atomic(Path(folder) / "slice_predictions.csv", slices_out.to_csv(index=False))
    return folder
