"""``crossval lge``: the reference variant and every ``compare`` entry on the same patient-level splits.

Per split, every network variant is trained on the training cases and
applied to the test cases; ``nsd``/``fwhm`` threshold inside the myocardium
of the split's first network variant (``nsd:manual`` inside the manual one).
Per variant, the out-of-fold case rows are summarised as in ``evaluate``.
Against the reference, per-case Dice of myocardium and of scar (cases with
manual scar) are compared by the Wilcoxon signed-rank test, with the mean
paired difference and its bootstrap 95 % CI. Network inference time per
slice is measured on the test cases with eager torch and with ONNX Runtime.
A rerun into the same folder reuses the fold networks it already trained with
the same training settings (test-time augmentation may differ).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.cohort import Cohort, Split, can_stratify, patient_kfold, patient_train_test_split
from cardiolens.errors import UsageError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.io.layouts import scan
from cardiolens.report.html import HtmlReport
from cardiolens.stats.bootstrap import paired_bootstrap_difference
from cardiolens.systems.evaluation import metric_entry, metrics_table
from cardiolens.systems.lge.config import INFERENCE_ONLY_SETTINGS, LGEConfig
from cardiolens.systems.lge.data import load_volume
from cardiolens.systems.lge.evaluation import score_cohort, summarise
from cardiolens.systems.lge.model import load_segmenter
from cardiolens.systems.lge.pipeline import LGEPipeline, load_pipeline
from cardiolens.systems.lge.training import SPLIT_FILE, train
from cardiolens.systems.model_dir import read_card

SYSTEM = "lge"
PAIRED_METRICS: tuple[str, ...] = ("dice_myocardium", "dice_scar")


def make_splits(cohort: Cohort, config: LGEConfig) -> tuple[list[Split], str]:
    """The patient-level test splits and how they were made."""
    records = cohort.records
    if config.folds >= 2:
        return patient_kfold(records, config.folds, seed=config.seed), f"patient_kfold(n_splits={config.folds}, seed={config.seed}, stratified)"
    stratify = can_stratify(records, config.test_fraction)
    split = patient_train_test_split(records, config.test_fraction, seed=config.seed, stratify=stratify)
    return [split], f"patient_train_test_split(test_fraction={config.test_fraction}, seed={config.seed}, stratify={stratify})"


def variant_entries(config: LGEConfig) -> list[str]:
    """The reference variant then the ``compare`` entries, without repeats; networks first, so thresholds can use them."""
    entries = list(dict.fromkeys([config.variant, *config.compare]))
    return sorted(entries, key=lambda e: (not LGEConfig(variant=e.partition(":")[0]).is_network, entries.index(e)))


def seconds_per_slice(model_dir: Path, cohort: Cohort, subject_ids: list[str], tta_transforms: int) -> dict[str, float]:
    """Mean segmentation time per slice (s) of the test stacks with each backend (one warm-up stack first)."""
    volumes = [load_volume(cohort, sid).image for sid in subject_ids]
    out = {}
    for backend in ("torch", "onnx"):
        segmenter = load_segmenter(model_dir, backend, tta_transforms)
        segmenter.segment(volumes[0])
        start = time.perf_counter()
        for image in volumes:
            segmenter.segment(image)
        out[f"{backend}_s_per_slice"] = (time.perf_counter() - start) / sum(len(v) for v in volumes)
    return out


def paired_comparison(reference: pd.DataFrame, other: pd.DataFrame) -> dict[str, Any]:
    """Wilcoxon signed-rank p and mean paired difference (other - reference, bootstrap CI) of per-case Dice."""
    from scipy.stats import wilcoxon

    merged = reference.merge(other, on="subject_id", suffixes=("_ref", "_other"))
    out: dict[str, Any] = {}
    for metric in PAIRED_METRICS:
        part = merged[merged["truth_has_scar_ref"]] if metric == "dice_scar" else merged
        a, b = part[f"{metric}_other"].to_numpy(float), part[f"{metric}_ref"].to_numpy(float)
        if len(a) < 2:
            continue
        p = float(wilcoxon(a, b).pvalue) if np.any(a != b) else 1.0
        difference = paired_bootstrap_difference(np.mean, (a,), (b,), n_resamples=2000, seed=0)
        out[metric] = {"n": len(a), "wilcoxon_p": p, "mean_difference": difference.to_metric()}
    return out


def _training_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in INFERENCE_ONLY_SETTINGS}


def finished_training(model_dir: Path, config: LGEConfig, train_ids: list[str]) -> dict[str, Any] | None:
    """The saved split of a network already trained in ``model_dir`` with this configuration on these subjects, else None.

    Lets an interrupted ``crossval`` resume without retraining the fold models it finished; settings that only
    change inference (:data:`~cardiolens.systems.lge.config.INFERENCE_ONLY_SETTINGS`) may differ.
    """
    if not (model_dir / SPLIT_FILE).is_file():
        return None
    card = read_card(model_dir)
    wanted = _training_settings(json.loads(json.dumps(config.to_dict())))
    same = _training_settings(card.config) == wanted and sorted(card.trained_subject_ids) == sorted(train_ids)
    return json.loads((model_dir / SPLIT_FILE).read_text()) if same else None


def _fold_pipeline(entry: str, fold_dir: Path, cohort: Cohort, split: Split, config: LGEConfig, first_network: Path | None) -> tuple[LGEPipeline, float | None]:
    name, _, option = entry.partition(":")
    variant_config = dataclasses.replace(config, variant=name, compare=())
    model_dir = fold_dir / entry.replace(":", "_")
    start = time.perf_counter()
    if variant_config.is_network:
        finished = finished_training(model_dir, variant_config, list(split.train))
        if finished is not None:
            return load_pipeline(model_dir, tta_transforms=config.tta_transforms), finished.get("train_seconds")
        train(cohort, model_dir, variant_config, subject_ids=list(split.train))
        return load_pipeline(model_dir), time.perf_counter() - start
    if option != "manual":
        if first_network is None:
            raise UsageError(f"{entry} needs a network variant in the comparison for its myocardium (or use {name}:manual)")
        variant_config = dataclasses.replace(variant_config, myocardium_model=str(first_network))
    train(cohort, model_dir, variant_config)
    return load_pipeline(model_dir), None


def crossval(data: str | Path, out: str | Path, config: LGEConfig) -> Path:
    """Run every variant on the same splits; write ``metrics.json``, ``predictions.csv``, ``report.html`` and the fold models."""
    cohort = scan(data)
    splits, split_method = make_splits(cohort, config)
    entries = variant_entries(config)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[pd.DataFrame]] = {e: [] for e in entries}
    timings: dict[str, list[dict[str, Any]]] = {e: [] for e in entries}
    bad: list[dict[str, str]] = []
    for k, split in enumerate(splits):
        fold_dir = target / f"fold_{k}"
        first_network: Path | None = None
        for entry in entries:
            pipeline, train_s = _fold_pipeline(entry, fold_dir, cohort, split, config, first_network)
            fold_rows, fold_bad, _ = score_cohort(pipeline, cohort, list(split.test))
            rows[entry].append(fold_rows.assign(fold=k, variant=entry))
            bad.extend({**b, "variant": entry, "fold": str(k)} for b in fold_bad)
            timing: dict[str, Any] = {"fold": k, "train_s": train_s}
            if pipeline.config.is_network:
                first_network = first_network or fold_dir / entry
                timing.update(seconds_per_slice(fold_dir / entry, cohort, list(split.test), config.tta_transforms))
            timings[entry].append(timing)
    per_variant = {e: pd.concat(rows[e], ignore_index=True) for e in entries}
    summaries: dict[str, dict[str, Any]] = {}
    metrics_by_variant: dict[str, dict[str, Any]] = {}
    for entry, table in per_variant.items():
        metrics_by_variant[entry], agreement = summarise(table)
        summaries[entry] = {"metrics": {n: metric_entry(v) for n, v in metrics_by_variant[entry].items()},
                            "bland_altman": agreement, "timings": timings[entry], "n_cases": len(table)}
    reference = config.variant
    comparisons = {e: paired_comparison(per_variant[reference], per_variant[e]) for e in entries if e != reference}
    document = {
        "system": SYSTEM, "data": {"path": str(data), "layout": cohort.layout, "n_subjects": len(cohort.records)},
        "split_method": split_method, "n_splits": len(splits), "reference": reference,
        "test_subjects": [list(s.test) for s in splits],
        "variants": summaries, "paired_vs_reference": comparisons, "bad_cases": bad,
        "simulated_data": bool(getattr(cohort, "simulated", False)),
        "config": config.to_dict(),
        "notes": ["metrics are out-of-fold, one row per test case per variant; Dice CIs by bootstrap over cases",
                  "paired tests: Wilcoxon signed-rank on per-case Dice (scar: cases with manual scar); difference = variant - reference"],
    }
    write_text_atomic(target / "metrics.json", json.dumps(document, indent=1, default=str))
    write_text_atomic(target / "predictions.csv", pd.concat(per_variant.values(), ignore_index=True).to_csv(index=False, float_format="%.6g"))
    report = HtmlReport(f"lge cross-validation on {cohort.layout} ({split_method})", document["simulated_data"])
    for entry, table in per_variant.items():
        report.heading(f"{entry} ({len(table)} test cases)")
        report.table(metrics_table(metrics_by_variant[entry]))
    report.heading(f"Paired comparison against {reference}")
    report.paragraph(json.dumps(comparisons, default=str))
    report.write(target / "report.html")
    return target
