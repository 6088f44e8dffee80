"""Accuracy of the ECG-LVH voltage rules on PTB-XL against its LVH statement.

Reads PTB-XL through ``cardiolens.io.layouts`` (read in place), measures every ECG
with :func:`cardiolens.measure.ecg.measure_ecg`, applies
:func:`cardiolens.measure.ecg.lvh_criteria` with each ECG's recorded sex, and
reports per rule:

- sensitivity and specificity at the rule's threshold, Wilson 95% CIs
  (:func:`cardiolens.stats.diagnostic.diagnostic_metrics`);
- ROC-AUC of the rule's continuous voltage, DeLong 95% CI
  (:func:`cardiolens.stats.auc.roc_auc_ci`); for sex-specific rules also the AUC of
  the margin over the sex's threshold (voltage - threshold), which is the score the
  rule actually thresholds when men and women are pooled.

ECGs whose flag for a rule is None (sex unknown, or an unreliable lead the rule
reads) are left out of that rule's sensitivity/specificity and counted.

Caveat: the PTB-XL LVH statement comes from the ECG report, partly from these same
voltage criteria, so the agreement is optimistic and not an imaging-based accuracy.

Usage::

    python benchmarks/ptbxl_lvh_rules.py [PTBXL_ROOT] [--out DIR] [--min-likelihood L] [--csv]

``PTBXL_ROOT`` defaults to ``$CARDIOLENS_SHARED_DATA/ptbxl``, else
``../shared/data/ptbxl`` relative to the repository root. Writes
``ptbxl_lvh_rules.json`` and ``ptbxl_lvh_rules.md`` to ``--out`` (default
``benchmarks/results``); ``--csv`` adds the per-ECG ``ptbxl_lvh_measurements.csv``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import shared_dataset

from cardiolens.errors import CardiolensError, DataError
from cardiolens.io.atomic import atomic_path, write_text_atomic
from cardiolens.io.layouts import load, scan
from cardiolens.measure.ecg import measure_ecg
from cardiolens.measure.ecg_lvh import (
    AVL_MV,
    CORNELL_PRODUCT_FEMALE_ADD_MV,
    CORNELL_PRODUCT_MV_MS,
    CORNELL_VOLTAGE_MV,
    LVH_RULES,
    PEGUERO_MV,
    SOKOLOW_LYON_MV,
    lvh_criteria,
)
from cardiolens.stats.auc import roc_auc_ci
from cardiolens.stats.diagnostic import diagnostic_metrics
from cardiolens.stats.estimate import Estimate

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Rule -> (continuous score column, threshold in words).
RULE_SCORES: dict[str, tuple[str, str]] = {
    "sokolow_lyon": ("sokolow_lyon_mv", f"SV1 + max(RV5, RV6) >= {SOKOLOW_LYON_MV} mV"),
    "cornell_voltage": (
        "cornell_voltage_mv",
        f"RaVL + SV3 > {CORNELL_VOLTAGE_MV['M']} mV (M) / > {CORNELL_VOLTAGE_MV['F']} mV (F)",
    ),
    "cornell_product": (
        "cornell_product_mv_ms",
        f"(RaVL + SV3 [+{CORNELL_PRODUCT_FEMALE_ADD_MV} mV F]) x QRSd > {CORNELL_PRODUCT_MV_MS:g} mV*ms",
    ),
    "avl": ("ravl_mv", f"RaVL > {AVL_MV} mV"),
    "peguero": ("peguero_mv", f"S_deepest + SV4 >= {PEGUERO_MV['M']} mV (M) / >= {PEGUERO_MV['F']} mV (F)"),
}
#: Sex-specific thresholds, for the margin score (voltage - threshold of the ECG's sex).
SEX_THRESHOLDS: dict[str, dict[str, float]] = {"cornell_voltage": dict(CORNELL_VOLTAGE_MV), "peguero": dict(PEGUERO_MV)}


def measure_cohort(root: Path, min_likelihood: float) -> tuple[pd.DataFrame, list[dict[str, str]], dict[str, Any]]:
    """One row per measured ECG (measurements, criteria, label) and the ECGs that failed."""
    cohort = scan(root, layout="ptbxl")
    failures = [{"subject_id": b.subject_id, "path": b.path, "problem": b.problem} for b in cohort.bad_cases]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for record in cohort.records:
        try:
            ecg = load(cohort, record.subject_id)
            sex = record.attributes.get("sex")
            measurements = measure_ecg(ecg, sex=sex)
            criteria = lvh_criteria(measurements, measurements.sex)
        except DataError as exc:
            failures.append({"subject_id": record.subject_id, "path": exc.path, "problem": exc.problem})
            continue
        likelihood = record.attributes.get("lvh_likelihood")
        row = {
            "ecg_id": record.subject_id,
            "patient_id": record.patient_id,
            "lvh": likelihood is not None and likelihood >= min_likelihood,
            "lvh_likelihood": likelihood,
            **{k: v for k, v in measurements.to_dict().items() if k not in {"notes", "noisy_leads"}},
            "noisy_leads": ";".join(measurements.noisy_leads),
            **{f"crit_{k}": v for k, v in criteria.to_dict().items() if k not in {"notes", "enabled_rules", "sex"}},
        }
        rows.append(row)
    elapsed = time.perf_counter() - started
    timing = {
        "seconds_total": round(elapsed, 2),
        "seconds_per_ecg": round(elapsed / max(1, len(cohort.records)), 4),
        "n_records": len(cohort.records),
    }
    return pd.DataFrame(rows), failures, timing


def _margin(table: pd.DataFrame, rule: str, column: str) -> pd.Series:
    """Voltage minus the threshold of the ECG's sex (NaN when sex is unknown)."""
    thresholds = table["sex"].map(SEX_THRESHOLDS[rule])
    return table[f"crit_{column}"] - thresholds


def _auc(y: np.ndarray, score: np.ndarray) -> Estimate | None:
    keep = np.isfinite(score)
    if keep.sum() < 2 or len(set(y[keep].tolist())) < 2:
        return None
    return roc_auc_ci(y[keep], score[keep])


def evaluate(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per rule: sensitivity/specificity at the threshold and AUC of the continuous voltage."""
    y_all = table["lvh"].to_numpy(bool)
    results: dict[str, dict[str, Any]] = {}
    for rule in (*LVH_RULES, "any_rule"):
        flags = table[f"crit_{rule}"]
        evaluated = flags.notna().to_numpy()
        entry: dict[str, Any] = {
            "threshold": RULE_SCORES[rule][1] if rule in RULE_SCORES else "OR of the enabled rules",
            "n": int(evaluated.sum()),
            "n_lvh": int(y_all[evaluated].sum()),
            "n_not_evaluated": int((~evaluated).sum()),
        }
        y = y_all[evaluated]
        if y.size and 0 < y.sum() < y.size:
            metrics = diagnostic_metrics(y, flags[evaluated].astype(bool).to_numpy())
            entry["sensitivity"] = metrics.sensitivity
            entry["specificity"] = metrics.specificity
        if rule in RULE_SCORES:
            column = RULE_SCORES[rule][0]
            entry["score"] = column
            entry["auc"] = _auc(y_all, table[f"crit_{column}"].to_numpy(float))
            if rule in SEX_THRESHOLDS:
                entry["auc_sex_margin"] = _auc(y_all, _margin(table, rule, column).to_numpy(float))
        results[rule] = entry
    return results


def _fmt(estimate: Estimate | None, digits: int = 2) -> str:
    if estimate is None or not math.isfinite(estimate.value):
        return "n/a"
    ci = estimate.ci
    text = f"{estimate.value:.{digits}f}"
    return text if ci is None else f"{text} ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"


def markdown(results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = [
        (
            f"PTB-XL ({summary['root']}): {summary['n_measured']} ECGs measured, {summary['n_lvh']} with the LVH "
            f"statement (likelihood >= {summary['min_likelihood']:g}), {summary['n_failed']} failed; "
            f"{summary['timing']['seconds_per_ecg']:.3f} s per ECG."
        ),
        "",
        "| rule | threshold | n (LVH) | sensitivity (95% CI) | specificity (95% CI) | AUC of voltage (95% CI) |",
        "|---|---|---|---|---|---|",
    ]
    for rule, entry in results.items():
        auc = _fmt(entry.get("auc"))
        if entry.get("auc_sex_margin") is not None:
            auc += f"; margin over sex threshold {_fmt(entry['auc_sex_margin'])}"
        if rule == "any_rule":
            auc = "-"
        lines.append(
            f"| {rule} | {entry['threshold']} | {entry['n']} ({entry['n_lvh']}) | {_fmt(entry.get('sensitivity'))} "
            f"| {_fmt(entry.get('specificity'))} | {auc} |"
        )
    lines += [
        "",
        "Sensitivity/specificity: Wilson 95% CI; AUC: DeLong 95% CI. ECGs with an unknown sex or an",
        "unreliable lead are left out of the rules that need them (n). The LVH statement is an ECG-report",
        "label, partly based on these voltage criteria: agreement is optimistic, not an imaging accuracy.",
    ]
    return "\n".join(lines) + "\n"


def _jsonable(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        rule: {k: (v.to_metric() if isinstance(v, Estimate) else v) for k, v in entry.items()}
        for rule, entry in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", type=Path, default=None, help="PTB-XL folder (default: shared data)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results", help="output folder")
    parser.add_argument(
        "--min-likelihood", type=float, default=0.0, help="LVH statement likelihood (0-100) that counts as LVH"
    )
    parser.add_argument("--csv", action="store_true", help="also write the per-ECG ptbxl_lvh_measurements.csv")
    args = parser.parse_args(argv)
    root = args.root or shared_dataset("ptbxl")
    try:
        table, failures, timing = measure_cohort(root, args.min_likelihood)
    except CardiolensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if table.empty:
        print(f"error: {root}: no ECG could be measured", file=sys.stderr)
        return 2
    results = evaluate(table)
    summary = {
        "root": str(root),
        "n_measured": len(table),
        "n_lvh": int(table["lvh"].sum()),
        "n_failed": len(failures),
        "min_likelihood": args.min_likelihood,
        "timing": timing,
    }
    report = markdown(results, summary)
    payload = {
        "benchmark": "ptbxl_lvh_rules",
        "data": summary,
        "rules": _jsonable(results),
        "failures": failures,
        "settings": {"cornell_product_female_add_mv": CORNELL_PRODUCT_FEMALE_ADD_MV, "qrs_method": "spatial_velocity"},
    }
    write_text_atomic(args.out / "ptbxl_lvh_rules.json", json.dumps(payload, indent=2) + "\n")
    write_text_atomic(args.out / "ptbxl_lvh_rules.md", report)
    if args.csv:
        with atomic_path(args.out / "ptbxl_lvh_measurements.csv") as tmp:
            table.to_csv(tmp, index=False)
    print(report, end="")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
