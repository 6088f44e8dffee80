"""The demo's ``cine-seg`` + ``nicm`` step on the simulated cine cohort.

``cine-seg`` is trained on the demo cohort's ED/ES masks, the fused
``nicm`` classifier on the same subjects (every frame segmented by that
model), and both are evaluated on separately simulated subjects; one of
them is predicted and explained. Demo-sized on purpose (a few epochs, 10
training subjects): it shows the pipeline end to end on SIMULATED data and
is not a performance result (``benchmarks/nicm_acdc.py`` is the real-data
benchmark).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.report.html import HtmlReport
from cardiolens.synth.cohort import write_simulated_cohort
from cardiolens.systems import cine_seg, nicm

DEMO_EVAL_SUBJECTS = 5
SEG_SETTINGS = ["epochs=8", "patch_px=64", "patience=8", "val_fraction=0.2"]
NICM_SETTINGS = ["epochs=30"]
_SHOWN = ("accuracy", "balanced_accuracy", "macro_auc")
_SHOWN_SEG = ("dice_lv", "dice_myo", "dice_rv", "lv_ef_bias_pct")


def run(out: Path, train_cohort: Path, n_train: int, seed: int = 0) -> dict[str, Any]:
    """Train, evaluate, predict and explain under ``out``; returns the shown metrics and file paths."""
    eval_dir = write_simulated_cohort(out / "nicm_eval_data", n=DEMO_EVAL_SUBJECTS, seed=seed, first_index=n_train)
    seg_model = cine_seg.train(train_cohort, out / "cine_seg_model", cine_seg.make_config(sets=[*SEG_SETTINGS, f"seed={seed}"]))
    seg_eval = cine_seg.evaluate(seg_model, eval_dir, out / "cine_seg_evaluation")
    config = nicm.make_config(sets=[*NICM_SETTINGS, f"seed={seed}", f"seg_model={seg_model}"])
    model = nicm.train(train_cohort, out / "nicm_model", config)
    evaluation = nicm.evaluate(model, eval_dir, out / "nicm_evaluation")
    first = min(p for p in eval_dir.iterdir() if (p / "subject.json").is_file())
    predictions = nicm.predict(model, [str(first)], out / "nicm_predict")
    explained = nicm.explain(model, str(first), out / "nicm_explain")
    seg_metrics = json.loads((seg_eval / "metrics.json").read_text())["metrics"]
    metrics = json.loads((evaluation / "metrics.json").read_text())["metrics"]
    return {
        "cine_seg_metrics": {k: seg_metrics[k] for k in _SHOWN_SEG if k in seg_metrics},
        "nicm_metrics": {k: metrics[k] for k in _SHOWN},
        "prediction": pd.read_csv(predictions / "predictions.csv").iloc[0].to_dict(),
        "evaluation_report": str(evaluation / "report.html"),
        "explain_dir": str(explained),
    }


def _rows(metrics: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"metric": k, "value": v["value"], "ci": None if v["ci"] is None else f"{v['ci'][0]:.3g}–{v['ci'][1]:.3g}"}
                         for k, v in metrics.items()])


def add_to_report(report: HtmlReport, result: dict[str, Any], out: Path) -> None:
    report.heading("cine-seg + nicm: every-frame segmentation and cardiomyopathy classification (simulated)")
    report.paragraph(
        "A 2-D U-Net trained for a few epochs on the demo cohort's ED/ES masks segments every cine frame; the fused "
        "CNN-LSTM + IVPG-MLP classifier is trained on the same subjects and both are evaluated on "
        f"{DEMO_EVAL_SUBJECTS} other simulated subjects (95% CIs). A demo-sized run on simulated data, not a performance "
        f"result; full evaluation report: {Path(result['evaluation_report']).relative_to(out)}."
    )
    report.table(_rows({**result["cine_seg_metrics"], **result["nicm_metrics"]}))
    explain_dir = Path(result["explain_dir"])
    for name, caption in (("gradcam_ed.png", "Grad-CAM of the predicted class on the ED frame of one evaluation subject."),
                          ("ivpg_saliency.png", "Gradient saliency on the IVPG and volume curves of the same subject.")):
        if (explain_dir / name).is_file():
            report.figure((explain_dir / name).read_bytes(), caption)
