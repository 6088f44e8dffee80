"""The demo's ``scar-pattern`` step: fine-tune ImageNet EfficientNet-Lite0 on simulated %ΔSI maps (four scar patterns).

Writes two disjoint maps-only simulated cohorts, trains for a few epochs at a
small image size, evaluates on the second cohort (metrics with 95% CIs,
Grad-CAM against the simulated abnormal myocardium) and explains one subject.
Demo-sized on purpose (about a minute on 2 CPU cores) and SIMULATED: not a
performance result (``benchmarks/scar_pattern_emidec.py`` runs the default
configuration on real EMIDEC LGE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.report.html import HtmlReport
from cardiolens.systems import scar_pattern

DEMO_TRAIN_SUBJECTS = 96
DEMO_EVAL_SUBJECTS = 48
DEMO_SETTINGS = ["image_size=64", "warmup_epochs=2", "epochs=6", "patience=3", "bootstrap_resamples=500", "num_threads=1"]
_SHOWN = ("accuracy", "precision", "recall", "macro_auc", "scar_pointing_game", "scar_top_fraction_iou")


def run(out: Path, seed: int = 0) -> dict[str, Any]:
    """Write the cohorts, train, evaluate and explain under ``out``; returns the metrics and file paths."""
    from cardiolens.synth.maps_cohort import write_maps_cohort

    train_dir = write_maps_cohort(out / "scar_pattern_train_data", n=DEMO_TRAIN_SUBJECTS, seed=seed)
    eval_dir = write_maps_cohort(out / "scar_pattern_eval_data", n=DEMO_EVAL_SUBJECTS, seed=seed + 1, first_index=DEMO_TRAIN_SUBJECTS)
    config = scar_pattern.make_config(sets=[*DEMO_SETTINGS, f"seed={seed}"])
    model_dir = scar_pattern.train(train_dir, out / "scar_pattern_model", config)
    evaluation = scar_pattern.evaluate(model_dir, eval_dir, out / "scar_pattern_evaluation")
    first = min(p for p in eval_dir.iterdir() if p.is_dir())
    explained = scar_pattern.explain(model_dir, str(first), out / "scar_pattern_explain")
    document = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    return {
        "simulated": True,
        "note": "demo-sized (few epochs, 64 px, small simulated cohorts): not a performance result",
        "n_train_subjects": DEMO_TRAIN_SUBJECTS,
        "n_eval_subjects": DEMO_EVAL_SUBJECTS,
        "settings": DEMO_SETTINGS,
        "metrics": {name: document["metrics"].get(name) for name in _SHOWN},
        "confusion_matrix": document.get("confusion_matrix"),
        "evaluation_report": str(evaluation / "report.html"),
        "explain_dir": str(explained),
    }


def add_to_report(report: HtmlReport, result: dict[str, Any], out: Path) -> None:
    report.heading("scar-pattern: scar pattern from oxygenation-sensitive maps (simulated)")
    report.paragraph(
        f"EfficientNet-Lite0 with ImageNet weights, fine-tuned for a few epochs on the %ΔSI maps of {result['n_train_subjects']} "
        f"simulated subjects (healthy, ischaemic, non-ischaemic, oedema) and evaluated on {result['n_eval_subjects']} others: "
        "95% CIs; the pointing game asks whether the Grad-CAM maximum falls in the simulated abnormal myocardium. "
        "Demo-sized, on SIMULATED data: not a performance result; full evaluation report: "
        f"{Path(result['evaluation_report']).relative_to(out)}."
    )
    rows = [{"metric": k, "value": (v or {}).get("value"), "ci": (v or {}).get("ci")} for k, v in result["metrics"].items()]
    report.table(pd.DataFrame(rows))
    grid = Path(result["explain_dir"]) / "activations.png"
    if grid.is_file():
        report.figure(grid.read_bytes(), "Channel-mean activations of the backbone's layers, shallow to deep, for one evaluation subject.")
