"""The demo's ``echo2cmr`` step: train the echo video network on a small simulated echo-CMR cohort.

Writes two disjoint simulated paired cohorts (echo videos + CMR tables, the
user's table format), trains for a few epochs, evaluates on the second cohort
and explains one of its videos. Demo-sized on purpose (about a minute or two on
2 CPU cores): it shows the pipeline end to end on SIMULATED data and is not a
performance result (``benchmarks/echo2cmr_sim.py`` trains the default
configuration on larger cohorts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.report.html import HtmlReport
from cardiolens.systems import echo2cmr

DEMO_TRAIN_SUBJECTS = 120
DEMO_EVAL_SUBJECTS = 60
#: Short, small videos (0.64 s at 50 frames/s, 64 px) keep writing the cohorts to a few seconds.
DEMO_VIDEO = {"n_frames": 32, "matrix": 64}
#: One thread: on 2 shared cores, two OpenMP threads of a small 3-D CNN spin far more than they compute.
DEMO_SETTINGS = ["epochs=12", "width=4", "image_size=48", "clip_frames=16", "clip_stride=2", "eval_clips=2", "patience=12",
                 "bootstrap_resamples=1000", "num_threads=1"]
_LABELS = ("wma", "lge", "t1", "t2", "ecv")


def run(out: Path, seed: int = 0) -> dict[str, Any]:
    """Write the cohorts, train, evaluate and explain under ``out``; returns the AUCs and file paths."""
    from cardiolens.synth.echo_cohort import write_paired_echo_cohort

    train_dir = write_paired_echo_cohort(out / "echo2cmr_train_data", n=DEMO_TRAIN_SUBJECTS, seed=seed, **DEMO_VIDEO)
    eval_dir = write_paired_echo_cohort(
        out / "echo2cmr_eval_data", n=DEMO_EVAL_SUBJECTS, seed=seed, first_index=DEMO_TRAIN_SUBJECTS, **DEMO_VIDEO
    )
    config = echo2cmr.make_config(sets=[*DEMO_SETTINGS, f"seed={seed}"])
    model_dir = echo2cmr.train(train_dir, out / "echo2cmr_model", config)
    evaluation = echo2cmr.evaluate(model_dir, eval_dir, out / "echo2cmr_evaluation")
    first_video = eval_dir / str(pd.read_csv(eval_dir / "echo.csv")["file"].iloc[0])
    explained = echo2cmr.explain(model_dir, str(first_video), out / "echo2cmr_explain")
    document = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    metrics = document["metrics"]
    return {
        "simulated": True,
        "note": "demo-sized (few epochs, small simulated cohorts): not a performance result",
        "n_train_subjects": DEMO_TRAIN_SUBJECTS,
        "n_eval_subjects": DEMO_EVAL_SUBJECTS,
        "settings": DEMO_SETTINGS,
        "metrics": {f"auc_{label}": metrics.get(f"auc_{label}") for label in _LABELS},
        "above_chance": document.get("above_chance", {}),
        "n_pairs": document.get("n_pairs"),
        "evaluation_report": str(evaluation / "report.html"),
        "explain_dir": str(explained),
    }


def _ci(entry: dict[str, Any] | None) -> str | None:
    if not entry or entry.get("ci") is None:
        return None
    low, high = entry["ci"]
    return f"{low:.3g}–{high:.3g}"


def add_to_report(report: HtmlReport, result: dict[str, Any], out: Path) -> None:
    report.heading("echo2cmr: echo video → CMR labels (simulated)")
    report.paragraph(
        f"An R(2+1)D video network trained for a few epochs on {result['n_train_subjects']} simulated subjects (echo "
        "A4C clips paired with CMR labels within 30 days) and evaluated on "
        f"{result['n_eval_subjects']} other simulated subjects: AUC per label with stratified bootstrap 95% CIs. "
        "Wall-motion abnormality is the positive control (the simulator puts it into the echo motion); the tissue "
        "labels (LGE, T1, T2, ECV) do not change these simulated clips and relate to them only through WMA. "
        "Demo-sized (short 64-px videos, few epochs, about 50 evaluated pairs, so the AUCs are noisy and a label can "
        "cross the chance line by chance alone), on SIMULATED data: not a performance result; full evaluation report: "
        f"{Path(result['evaluation_report']).relative_to(out)}."
    )
    above = result.get("above_chance", {})
    rows = []
    for name, entry in result["metrics"].items():
        verdict = above.get(name.removeprefix("auc_"))
        rows.append({
            "metric": name,
            "value": None if not entry else entry.get("value"),
            "ci": _ci(entry),
            "above chance": "n/a" if verdict is None else ("yes" if verdict else "no"),
        })
    report.table(pd.DataFrame(rows))
    profile = Path(result["explain_dir"]) / "temporal_profile.png"
    if profile.is_file():
        report.figure(profile.read_bytes(),
                      "SmoothGrad saliency per frame of one evaluation video (share of the clip's total, per label).")
