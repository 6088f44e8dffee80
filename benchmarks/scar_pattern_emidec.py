"""Benchmark of ``scar-pattern`` backbones on real EMIDEC LGE slices (normal vs MI), patient-disjoint.

For each variant (a backbone, or ``NAME:scratch`` for random initial weights)
this runs ``cardiolens crossval scar-pattern`` on ``../shared/data/emidec``
(or ``$CARDIOLENS_SHARED_DATA/emidec``) with the default configuration and
``--set`` overrides: ``--folds 5`` is a patient-level stratified 5-fold over
all 67 cases, ``--folds 1`` one 80/20 patient-level hold-out (the reference
study's split). Per variant it reports slice- and case-level accuracy,
precision, recall and AUC with 95% CIs, the Grad-CAM/activation alignment with
the manual scar mask (pointing game, top-5% IoU) and the training time per fold;
then every variant is compared with the first on the same cases (paired DeLong
on the MI probability, paired bootstrap of the AUC difference).

Resumable: each variant's cross-validation is kept under ``--work``
(default ``benchmarks/work/scar_pattern``, not tracked) and reused when its
settings match; ``--force`` reruns. Writes ``<name>.json`` and ``<name>.md`` to
``--out`` (default ``benchmarks/results``; ``--name`` defaults to
``scar_pattern_emidec_<folds>fold``).

Usage::

    python benchmarks/scar_pattern_emidec.py --variants efficientnet-lite0 efficientnet-lite0:scratch vgg19 \
        [--folds 5] [--set key=value ...] [--data DIR] [--work DIR] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from common import format_metric, shared_dataset

REPO = Path(__file__).resolve().parents[1]
_PARAMS_FILE = "benchmark_params.json"
_KEYS = ("accuracy", "precision", "recall", "macro_auc", "case_accuracy", "case_auc", "case_precision", "case_recall",
         "scar_pointing_game", "scar_top_fraction_iou", "activation_pointing_game", "activation_top_fraction_iou")


def run_variant(data: Path, variant: str, folds: int, sets: list[str], work: Path, force: bool) -> tuple[dict[str, Any], bool]:
    """The crossval document of one variant (rerun unless a finished one with the same settings exists)."""
    from cardiolens.systems import scar_pattern

    folder = work / variant.replace(":", "_")
    params = {"data": str(data), "variant": variant, "folds": folds, "sets": sets}
    done = folder / "metrics.json"
    if not force and done.is_file() and (folder / _PARAMS_FILE).is_file() and json.loads((folder / _PARAMS_FILE).read_text()) == params:
        return json.loads(done.read_text()), True
    name, _, mode = variant.partition(":")
    config = scar_pattern.make_config(sets=[*sets, f"backbone={name}", f"folds={folds}", f"pretrained={'false' if mode == 'scratch' else 'true'}"])
    started = time.perf_counter()
    scar_pattern.crossval(data, folder, config)
    document = json.loads(done.read_text())
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    done.write_text(json.dumps(document, indent=1))
    (folder / _PARAMS_FILE).write_text(json.dumps(params))
    return document, False


def compare(work: Path, variants: list[str], n_resamples: int = 2000) -> dict[str, Any]:
    """Paired comparisons of each variant with the first on the same cases (DeLong on P(MI), bootstrap AUC difference)."""
    from cardiolens.stats.classification import compare_classifiers

    tables = {v: pd.read_csv(work / v.replace(":", "_") / "predictions.csv").set_index("subject_id") for v in variants}
    reference = tables[variants[0]]
    classes = [c.removeprefix("p_") for c in reference.columns if c.startswith("p_")]
    out = {}
    for variant in variants[1:]:
        other = tables[variant].loc[reference.index]
        result = compare_classifiers(reference["true_class"].tolist(), reference[[f"p_{c}" for c in classes]].to_numpy(),
                                     other[[f"p_{c}" for c in classes]].to_numpy(), classes, n_resamples=n_resamples)
        positive = result["delong_per_class"][classes[-1]]
        out[f"{variants[0]} vs {variant}"] = {
            "auc_reference": positive["auc_a"] if positive else None,
            "auc_variant": positive["auc_b"] if positive else None,
            "delong_p": positive["p_value"] if positive else None,
            "macro_auc_difference": result["macro_auc_difference"].to_metric(),
            "n_cases": len(reference),
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# scar-pattern on EMIDEC (real LGE, normal vs MI): {result['split']}", "",
             (f"Data: {result['data']}; {result['n_cases']} cases tested, {result['n_slices']} slices. "
              f"Settings: {' '.join(result['sets']) or 'defaults'}. Machine: {result['machine']}."), "",
             "| variant | weights | slice acc | slice AUC | case acc | case AUC | case precision | case recall | pointing game | top-5% IoU | train s / fold |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for variant, v in result["variants"].items():
        m = v["metrics"]
        lines.append(f"| {variant} | {v['weights']} | {format_metric(m.get('accuracy'))} | {format_metric(m.get('macro_auc'))} | {format_metric(m.get('case_accuracy'))} | "
                     f"{format_metric(m.get('case_auc'))} | {format_metric(m.get('case_precision'))} | {format_metric(m.get('case_recall'))} | "
                     f"{format_metric(m.get('scar_pointing_game'))} | {format_metric(m.get('scar_top_fraction_iou'))} | {v['train_seconds_per_fold']} |")
    if result["comparisons"]:
        lines += ["", "Paired comparisons on the same cases (DeLong on P(MI); bootstrap 95% CI of the AUC difference):", "",
                  "| comparison | AUC reference | AUC variant | DeLong p | AUC difference |", "|---|---|---|---|---|"]
        for name, c in result["comparisons"].items():
            lines.append(f"| {name} | {c['auc_reference']:.3f} | {c['auc_variant']:.3f} | {c['delong_p']:.3g} | {format_metric(c['macro_auc_difference'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["efficientnet-lite0"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--data", type=Path, default=shared_dataset("emidec"))
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "scar_pattern")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    work = args.work / f"{args.folds}fold"
    work.mkdir(parents=True, exist_ok=True)
    variants: dict[str, Any] = {}
    document: dict[str, Any] = {}
    for variant in args.variants:
        document, reused = run_variant(args.data, variant, args.folds, args.sets, work, args.force)
        folds = document["folds"][next(iter(document["folds"]))]
        variants[variant] = {
            "metrics": {k: document["metrics"].get(k) for k in _KEYS},
            "confusion_matrix": document["confusion_matrices"][next(iter(document["confusion_matrices"]))],
            "weights": folds[0]["weights"].get("source", "?"),
            "weights_sanity": folds[0]["weights"].get("sanity"),
            "train_seconds_per_fold": round(sum(f["seconds"] for f in folds) / len(folds), 1),
            "train_seconds_max": max(f["seconds"] for f in folds),
            "folds": folds,
            "wall_seconds": document.get("wall_seconds"),
            "reused": reused,
        }
        print(f"{variant}: case acc {format_metric(document['metrics'].get('case_accuracy'))}, case AUC {format_metric(document['metrics'].get('case_auc'))}", flush=True)
    result = {
        "system": "scar-pattern",
        "data": str(args.data),
        "split": document["split"]["method"],
        "n_cases": document["data"]["n_subjects"],
        "n_slices": document["n_slices"],
        "sets": args.sets,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "variants": variants,
        "comparisons": compare(work, args.variants),
        "command": "python benchmarks/scar_pattern_emidec.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"scar_pattern_emidec_{args.folds}fold"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
