"""The demo's ``ecg2lvm`` step: train on a small simulated ECG–LV-mass cohort, evaluate on a separate one.

Small on purpose (a few hundred subjects, a few epochs) so the demo stays
quick; the numbers show that the pipeline works end to end on SIMULATED data
and are not a performance claim (the benchmark in ``benchmarks/`` trains the
full configuration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.report.html import HtmlReport
from cardiolens.synth.ecg_cohort import write_paired_ecg_cohort
from cardiolens.systems import ecg2lvm

DEMO_TRAIN_SUBJECTS = 240
DEMO_EVAL_SUBJECTS = 120
DEMO_EPOCHS = 8
_SHOWN = (
    "lv_mass_pearson_r", "lv_mass_bias_g", "auc_cnn", "auc_any_rule", "delong_p_any_rule", "auc_sokolow_lyon",
    "cox_hr_hf_per_sd_mass", "c_index_hf",
)


def run(out: Path, seed: int = 0) -> dict[str, Any]:
    """Train, evaluate and explain ``ecg2lvm`` under ``out``; returns the shown metrics."""
    train_dir = write_paired_ecg_cohort(out / "ecg2lvm_train_data", DEMO_TRAIN_SUBJECTS, seed)
    eval_dir = write_paired_ecg_cohort(out / "ecg2lvm_eval_data", DEMO_EVAL_SUBJECTS, seed, first_index=DEMO_TRAIN_SUBJECTS)
    config = ecg2lvm.make_config(sets=[f"epochs={DEMO_EPOCHS}", f"seed={seed}"])
    model_dir = ecg2lvm.train(train_dir / "table.csv", out / "ecg2lvm_model", config)
    results = ecg2lvm.evaluate(model_dir, eval_dir / "table.csv", out / "ecg2lvm_evaluation")
    first_record = pd.read_csv(eval_dir / "table.csv")["record"][0]
    explained = ecg2lvm.explain(model_dir, str(eval_dir / first_record), out / "ecg2lvm_explain")
    metrics = json.loads((results / "metrics.json").read_text())["metrics"]
    return {
        "metrics": {k: metrics[k] for k in _SHOWN if k in metrics},
        "evaluation_report": str(results / "report.html"),
        "saliency_png": str(explained / "saliency_median_beat_mass.png"),
    }


def add_to_report(report: HtmlReport, result: dict[str, Any], out: Path) -> None:
    report.heading("ecg2lvm: ECG → LV mass and LVH (simulated)")
    report.paragraph(
        f"A 1-D residual CNN trained for {DEMO_EPOCHS} epochs on {DEMO_TRAIN_SUBJECTS} simulated ECG–LV-mass pairs and "
        f"evaluated on {DEMO_EVAL_SUBJECTS} other simulated subjects against the ECG voltage rules (95% CIs; DeLong "
        "for AUCs). A demo-sized run on simulated data, not a performance result; full evaluation report: "
        f"{Path(result['evaluation_report']).relative_to(out)}."
    )
    rows = [{"metric": k, "value": v["value"], "ci": None if v["ci"] is None else f"{v['ci'][0]:.3g}–{v['ci'][1]:.3g}"} for k, v in result["metrics"].items()]
    report.table(pd.DataFrame(rows))
    report.figure(Path(result["saliency_png"]).read_bytes(), "Saliency of the LV-mass output over the median beat of one evaluation subject.")
