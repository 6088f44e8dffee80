"""The demo's ``lge`` step: a small 3-D U-Net on a simulated HCM LGE cohort, next to the n-SD route.

Writes two disjoint simulated HCM cohorts (mid-wall and patchy scar, 0-40 %
LGE), trains a small ``unet3d`` for a few epochs, evaluates it and the 5SD
threshold inside the manual myocardium on the second cohort (Dice, %LGE
agreement, the >15 % flag against the known truth), then predicts and
explains one subject. Demo-sized on purpose and SIMULATED: not a
performance result (``benchmarks/lge_emidec.py`` runs the default
configuration on real EMIDEC LGE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.report.html import HtmlReport
from cardiolens.systems import lge

DEMO_TRAIN_SUBJECTS = 24
DEMO_EVAL_SUBJECTS = 16
DEMO_MATRIX_PX = 64
DEMO_SETTINGS = ["inplane_px=64", "channels=[8,16,32,64]", "epochs=8", "patience=8", "num_threads=1"]
_SHOWN = ("dice_myocardium", "dice_scar", "pct_lge_pearson_r", "pct_lge_bias", "burden_over_15pct_accuracy", "case_mi_auc")


def _metrics(evaluation: Path) -> dict[str, Any]:
    document = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    return {name: document["metrics"].get(name) for name in _SHOWN}


def run(out: Path, seed: int = 0) -> dict[str, Any]:
    """Write the cohorts, train, evaluate, predict and explain under ``out``; returns the metrics and file paths."""
    from cardiolens.synth.lge_cohort import write_lge_cohort

    train_dir = write_lge_cohort(out / "lge_train_data", n=DEMO_TRAIN_SUBJECTS, seed=seed, matrix=DEMO_MATRIX_PX, n_slices=8)
    eval_dir = write_lge_cohort(out / "lge_eval_data", n=DEMO_EVAL_SUBJECTS, seed=seed + 1, first_index=DEMO_TRAIN_SUBJECTS,
                                matrix=DEMO_MATRIX_PX, n_slices=8)
    model_dir = lge.train(train_dir, out / "lge_model", lge.make_config(sets=[*DEMO_SETTINGS, f"seed={seed}"]))
    evaluation = lge.evaluate(model_dir, eval_dir, out / "lge_evaluation")
    nsd_dir = lge.train(train_dir, out / "lge_nsd_model", lge.make_config(sets=["variant=nsd", "n_sd=5"]))
    nsd_evaluation = lge.evaluate(nsd_dir, eval_dir, out / "lge_nsd_evaluation")
    first = str(min(p for p in eval_dir.iterdir() if p.is_dir()))
    predicted = lge.predict(model_dir, [first], out / "lge_predict")
    explained = lge.explain(model_dir, first, out / "lge_explain")
    return {
        "simulated": True,
        "note": "demo-sized (8 epochs, 64 px, small simulated HCM cohorts): not a performance result",
        "n_train_subjects": DEMO_TRAIN_SUBJECTS,
        "n_eval_subjects": DEMO_EVAL_SUBJECTS,
        "settings": DEMO_SETTINGS,
        "unet3d": _metrics(evaluation),
        "nsd_in_manual_myocardium": _metrics(nsd_evaluation),
        "evaluation_report": str(evaluation / "report.html"),
        "prediction": str(predicted / "predictions.csv"),
        "explain_dir": str(explained),
    }


def add_to_report(report: HtmlReport, result: dict[str, Any], out: Path) -> None:
    report.heading("lge: scar segmentation and %LGE on simulated HCM LGE")
    report.paragraph(
        f"A small 3-D U-Net trained for a few epochs on {result['n_train_subjects']} simulated HCM stacks (mid-wall and patchy scar, "
        f"0-40 % LGE) and evaluated on {result['n_eval_subjects']} others, next to the 5SD threshold inside the manual myocardium; "
        "95% CIs. Demo-sized, on SIMULATED data: not a performance result; full evaluation report: "
        f"{Path(result['evaluation_report']).relative_to(out)}."
    )
    rows = [{"metric": k, "unet3d": (result["unet3d"][k] or {}).get("value"),
             "unet3d_ci": (result["unet3d"][k] or {}).get("ci"),
             "5SD (manual myocardium)": (result["nsd_in_manual_myocardium"][k] or {}).get("value")} for k in _SHOWN]
    report.table(pd.DataFrame(rows))
    first_png = min(Path(result["explain_dir"]).glob("gradcam_slice_*.png"), default=None)
    if first_png is not None:
        report.figure(first_png.read_bytes(), "Grad-CAM of the infarct channel on one slice of an evaluation subject.")
