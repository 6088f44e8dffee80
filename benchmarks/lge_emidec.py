"""Benchmark of ``lge`` on real EMIDEC LGE (myocardium, infarct and MVO masks), patient-disjoint.

Runs ``cardiolens crossval lge`` on ``../shared/data/emidec`` (or
``$CARDIOLENS_SHARED_DATA/emidec``): the reference variant (default
``unet3d``) and the ``--compare`` entries on the same patient-level splits
(``--folds 1``: one stratified 80/20 hold-out; ``--folds 5``: 5-fold over all
67 cases), with the default configuration plus ``--set`` overrides. Reports,
per variant, Dice and HD95 of myocardium and scar, %LGE and scar-volume
agreement (Pearson r, Bland-Altman), the >15 % flag, normal-vs-MI case
calls, training time and inference time per slice (eager torch and ONNX
Runtime), and the paired Wilcoxon tests of per-case Dice against the reference.

Writes ``<name>.json`` and ``<name>.md`` to ``--out`` (default
``benchmarks/results``; ``--name`` defaults to ``lge_emidec_<folds>fold``);
the fold models stay under ``--work`` (default ``benchmarks/work/lge``, not tracked).

Usage::

    python benchmarks/lge_emidec.py [--variant unet3d] [--compare unet2d nsd fwhm nsd:manual fwhm:manual] \
        [--folds 1] [--set key=value ...] [--data DIR] [--work DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from common import format_metric, shared_dataset

REPO = Path(__file__).resolve().parents[1]
_KEYS = ("dice_myocardium", "dice_scar", "dice_scar_all_cases", "dice_mvo", "hd95_myocardium", "hd95_scar",
         "pct_lge_pearson_r", "pct_lge_bias", "pct_lge_loa_low", "pct_lge_loa_high", "scar_volume_pearson_r",
         "burden_over_15pct_accuracy", "burden_over_15pct_sensitivity", "burden_over_15pct_specificity",
         "case_mi_accuracy", "case_mi_auc")


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# lge on EMIDEC (real LGE, manual myocardium/infarct/MVO masks): {result['split']}", "",
             (f"Data: {result['data']}; {result['n_test_cases']} test cases. Settings: {' '.join(result['sets']) or 'defaults'}. "
              f"Machine: {result['machine']}. HD95 in pixels (in-plane): the EMIDEC copy has no spacing; scar volume in voxels."), "",
             "| variant | Dice myocardium | Dice scar (MI cases) | Dice scar (all cases) | HD95 myocardium px | %LGE r | %LGE bias | >15% acc | case MI AUC | case MI acc | train s | s/slice torch | s/slice ONNX |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    table_keys = ("dice_myocardium", "dice_scar", "dice_scar_all_cases", "hd95_myocardium", "pct_lge_pearson_r", "pct_lge_bias",
                  "burden_over_15pct_accuracy", "case_mi_auc", "case_mi_accuracy")
    for name, v in result["variants"].items():
        cells = [format_metric(v["metrics"].get(k)) for k in table_keys]
        cells += [f"{v[k]:{spec}}" if v[k] is not None else "-" for k, spec in (("train_s", ".0f"), ("torch_s_per_slice", ".3f"), ("onnx_s_per_slice", ".3f"))]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", f"Paired Wilcoxon signed-rank tests of per-case Dice against {result['reference']} (difference = variant - reference, bootstrap 95% CI):", "",
              "| variant | Dice myocardium difference | p | Dice scar difference (MI cases) | p |", "|---|---|---|---|---|"]
    for name, c in result["paired_vs_reference"].items():
        myo, scar = c.get("dice_myocardium", {}), c.get("dice_scar", {})
        lines.append(f"| {name} | {format_metric(myo.get('mean_difference'))} | {myo.get('wilcoxon_p', float('nan')):.3g} | "
                     f"{format_metric(scar.get('mean_difference'))} | {scar.get('wilcoxon_p', float('nan')):.3g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="unet3d")
    parser.add_argument("--compare", nargs="*", default=["unet2d", "nsd", "fwhm", "nsd:manual", "fwhm:manual"])
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--data", type=Path, default=shared_dataset("emidec"))
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "lge")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    from cardiolens.systems import lge

    config = lge.make_config(sets=[*args.sets, f"variant={args.variant}", f"folds={args.folds}", f"compare={','.join(args.compare)}"])
    started = time.perf_counter()
    folder = lge.crossval(args.data, args.work / f"{args.folds}fold", config)
    document = json.loads((folder / "metrics.json").read_text())
    variants = {}
    for name, v in document["variants"].items():
        timings = v["timings"]
        variants[name] = {"metrics": {k: v["metrics"].get(k) for k in _KEYS}, "n_cases": v["n_cases"], "timings": timings,
                          "train_s": _mean([t.get("train_s") for t in timings]),
                          "torch_s_per_slice": _mean([t.get("torch_s_per_slice") for t in timings]),
                          "onnx_s_per_slice": _mean([t.get("onnx_s_per_slice") for t in timings])}
        summary = ", ".join(f"{k} {format_metric(v['metrics'].get(k))}" for k in ("dice_myocardium", "dice_scar", "pct_lge_pearson_r"))
        print(f"{name}: {summary}", flush=True)
    result = {
        "system": "lge", "data": str(args.data), "split": document["split_method"], "reference": document["reference"],
        "n_test_cases": sum(len(t) for t in document["test_subjects"]), "test_subjects": document["test_subjects"],
        "sets": args.sets, "config": document["config"], "variants": variants, "paired_vs_reference": document["paired_vs_reference"],
        "bad_cases": document["bad_cases"], "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {config.num_threads}",
        "command": "python benchmarks/lge_emidec.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
    }
    name = args.name or f"lge_emidec_{args.folds}fold"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / f"{name}.md").write_text(markdown(result))
    return result


if __name__ == "__main__":
    main()
