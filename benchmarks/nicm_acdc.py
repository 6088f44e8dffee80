"""Accuracy and speed benchmark of ``cine-seg`` + ``nicm`` on the shared ACDC copy (60 patients, real data).

1. 5-fold patient-level stratified cross-validation (:func:`cardiolens.systems.nicm.cross_validation.cross_validate`):
   per fold a ``cine-seg`` U-Net is trained on the training patients only,
   segments every cine frame, and every variant (fused, cine-only, IVPG-only,
   ResNet50, VGG16, radiomics + SVM, classical features + random forest, and
   the artefact-only control) is fitted on the training patients and scores
   the held-out ones. Reports accuracy, balanced accuracy and macro AUC with
   95% CIs per variant, the fused model against each other variant (paired
   DeLong per class, paired bootstrap of the macro-AUC difference), and the
   held-out ``cine-seg`` Dice / EF and mass agreement.
2. Times ``predict nicm`` per study after model load (segmentation of every
   frame with ONNX Runtime, features, classification) on fold 0's held-out
   patients, with a model trained on fold 0's training patients.

Usage::

    python benchmarks/nicm_acdc.py [ACDC_ROOT] [--work DIR] [--out DIR] [--seg-epochs N] [--epochs N]

The fold models and feature caches stay in ``--work`` (default
``benchmarks/work/nicm_acdc``, not tracked) so an interrupted run resumes.
Writes ``nicm_acdc.json`` and ``nicm_acdc.md`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import format_metric, shared_dataset

REPO = Path(__file__).resolve().parents[1]


def predict_timing(acdc: Path, cv_dir: Path, epochs: int, threads: int) -> dict[str, Any]:
    """Train the fused model on fold 0's training patients (its cine-seg reused) and time predict on the held-out ones."""
    import torch

    from cardiolens.errors import DataError
    from cardiolens.systems.cine_seg.data import read_cine_input
    from cardiolens.systems.cine_seg.model import load_segmenter
    from cardiolens.systems.nicm.config import NicmConfig
    from cardiolens.systems.nicm.prediction import study_features
    from cardiolens.systems.nicm.training import SEG_DIR, load_model, train

    folds = json.loads((cv_dir / "metrics.json").read_text())["folds"]
    model_dir = cv_dir.parent / "fold0_fused_model"
    start = time.perf_counter()
    if not (model_dir / "model.json").is_file():
        train(acdc, model_dir, NicmConfig(seg_model=str(cv_dir / "folds" / "0" / "seg"), epochs=epochs, num_threads=threads),
              subject_ids=folds[0]["train"])
    train_s = time.perf_counter() - start
    torch.set_num_threads(threads)
    _, fitted = load_model(model_dir)
    timings: dict[str, list[float]] = {"onnx": [], "torch": []}
    failed: dict[str, str] = {}
    for backend in timings:
        segmenter = load_segmenter(model_dir / SEG_DIR, backend)
        for sid in folds[0]["test"]:
            cine = read_cine_input(acdc / sid)  # reading the files is not counted
            t0 = time.perf_counter()
            try:
                fitted.predict_proba([study_features(cine, segmenter, fitted)])
            except DataError as exc:  # a study the pipeline rejects (reported, as predict does)
                failed[sid] = str(exc)
                continue
            timings[backend].append(time.perf_counter() - t0)
    return {"fused_train_on_fold0_s": round(train_s, 1), "n_studies": len(folds[0]["test"]), "failed": failed,
            **{f"predict_s_median_{b}": round(float(np.median(v)), 3) for b, v in timings.items()},
            **{f"predict_s_max_{b}": round(float(np.max(v)), 3) for b, v in timings.items()},
            "note": "per study after model load and after reading the files: every-frame segmentation + features + classification"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=shared_dataset("acdc"))
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "nicm_acdc")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--seg-epochs", type=int, default=80)
    parser.add_argument("--seg-patch", type=int, default=96, help="cine-seg training patch side (pixels)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="rerun the cross-validation even if --work holds a finished one")
    args = parser.parse_args()

    from cardiolens.systems.cine_seg.config import CineSegConfig
    from cardiolens.systems.nicm.config import NicmConfig
    from cardiolens.systems.nicm.cross_validation import cross_validate

    config = NicmConfig(seg_epochs=args.seg_epochs, epochs=args.epochs, num_threads=args.threads)
    seg_config = CineSegConfig(epochs=args.seg_epochs, patch_px=args.seg_patch, num_threads=args.threads)
    cv_dir = args.work / "cv"
    cv_s = None
    if args.force or not (cv_dir / "metrics.json").is_file():  # otherwise report the finished run in --work
        start = time.perf_counter()
        cross_validate(args.acdc, cv_dir, config, seg_config=seg_config)
        cv_s = round(time.perf_counter() - start, 1)
    document = json.loads((cv_dir / "metrics.json").read_text())
    result: dict[str, Any] = {
        "benchmark": "nicm_acdc", "data": str(args.acdc), "n_patients": document["data"]["n_subjects"],
        "machine": {"cpu_threads": args.threads, "platform": platform.platform()},
        "command": f"python benchmarks/nicm_acdc.py --seg-epochs {args.seg_epochs} --seg-patch {args.seg_patch} --epochs {args.epochs} --threads {args.threads}",
        "cross_validation_wall_s": cv_s,
        "variants": {v: {k: e[k] for k in ("accuracy", "balanced_accuracy", "macro_auc", "macro_f1")} | {"confusion_matrix": e["confusion_matrix"]}
                     for v, e in document["variants"].items()},
        "comparisons_vs_fused": document["comparisons_vs_fused"],
        "cine_seg_held_out": {k: v for k, v in document["metrics"].items() if k.startswith(("dice_", "hd95_", "lv_ef", "rv_ef", "lv_mass", "lv_edv"))},
        "timings_s": {k: None if v is None else round(v, 1) for k, v in document["timings_s"].items()},
        "bad_cases": document["bad_cases"],
    }
    result["predict"] = predict_timing(args.acdc, cv_dir, args.epochs, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nicm_acdc.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    lines = ["# nicm on ACDC (60 patients, 5-fold patient-level CV, real data)", "",
             f"Command: `{result['command']}`; {args.threads} CPU threads.", "",
             "| variant | accuracy | balanced accuracy | macro AUC | macro-AUC difference vs fused |", "|---|---|---|---|---|"]
    for variant, entry in result["variants"].items():
        diff = result["comparisons_vs_fused"].get(variant, {}).get("macro_auc_difference")
        lines.append(f"| {variant} | {format_metric(entry['accuracy'])} | {format_metric(entry['balanced_accuracy'])} | {format_metric(entry['macro_auc'])} | {format_metric(diff) if diff else '-'} |")
    lines += ["", "| cine-seg (held-out folds) | value (95% CI) |", "|---|---|"]
    lines += [f"| {k} | {format_metric(v)} |" for k, v in result["cine_seg_held_out"].items()]
    lines += ["", f"predict nicm per study after model load: median {result['predict']['predict_s_median_onnx']} s (ONNX Runtime "
              f"segmentation), {result['predict']['predict_s_median_torch']} s (eager PyTorch)."]
    (args.out / "nicm_acdc.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
