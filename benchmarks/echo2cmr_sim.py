"""Accuracy and speed benchmark of ``echo2cmr`` on SIMULATED paired echo-CMR cohorts.

1. Writes two disjoint simulated paired cohorts in the user's table format
   (:func:`cardiolens.synth.echo_cohort.write_paired_echo_cohort`): ``--n-train``
   subjects (default 600) and ``--n-test`` others (default 300).
2. Trains the default configuration (``--set key=value`` overrides) on the
   first and records the wall time; evaluates on the second (timed): AUC per
   label (WMA, LGE, T1, T2, ECV) with stratified bootstrap 95% CIs, calibration,
   pairing statistics.
3. Times inference per clip (``clip_frames`` frames, batch 1, ``--threads``
   threads, after model load): eager PyTorch and ONNX Runtime, one timed run per
   clip over ``--timing-clips`` clips (default 20) of the test videos after
   warm-up; median and max.

Everything is SIMULATED: the simulator puts wall-motion abnormality into the
echo motion and (with the default ``--tissue-effect 0``) no tissue label into
the images; the tissue labels correlate with WMA only through the simulated
phenotype, so a motion-only model ranks them less well (the reference study's
pattern). Not clinical performance.

Resumable: cohorts and a finished model in ``--work`` (default
``benchmarks/work/echo2cmr``, not tracked) are reused when their settings
match; ``--force`` rebuilds them. Writes ``echo2cmr_sim.json`` and
``echo2cmr_sim.md`` to ``--out`` (default ``benchmarks/results``).

Usage::

    python benchmarks/echo2cmr_sim.py [--n-train N] [--n-test N] [--set key=value ...] [--work DIR] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import format_metric

REPO = Path(__file__).resolve().parents[1]
LABELS = ("wma", "lge", "t1", "t2", "ecv")
REFERENCE = {"wma": "0.873 (0.816-0.922)", "lge": "0.699", "t1": "0.614", "t2": "0.553", "ecv": "0.564"}
_PARAMS_FILE = "benchmark_params.json"
_REPORTED_METRICS = ("auc_", "prevalence_", "brier_", "calibration_")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def cohort(work: Path, name: str, params: dict[str, Any], force: bool) -> tuple[Path, float, bool]:
    """The cohort folder ``work/name`` written with ``params`` (reused when present with the same params).

    Returns the folder, the seconds its writing took (when it was written) and whether it was reused.
    """
    from cardiolens.io.atomic import write_text_atomic
    from cardiolens.synth.echo_cohort import write_paired_echo_cohort

    folder = work / name
    marker = work / f"{name}.{_PARAMS_FILE}"
    saved = _read_json(marker)
    if not force and (folder / "cmr.csv").is_file() and saved and saved.get("params") == params:
        return folder, float(saved["write_s"]), True
    start = time.perf_counter()
    write_paired_echo_cohort(folder, **params)
    seconds = time.perf_counter() - start
    write_text_atomic(marker, json.dumps({"params": params, "write_s": seconds}, indent=1))
    return folder, seconds, False


def trained_model(
    train_dir: Path, model_dir: Path, config: Any, cohort_params: dict[str, Any], force: bool
) -> tuple[Path, float]:
    """Train into ``model_dir`` unless a finished model with the same config and cohort exists; returns (dir, train_s)."""
    from cardiolens.io.atomic import write_text_atomic
    from cardiolens.systems.echo2cmr.training import train

    timing_file = model_dir.parent / f"{model_dir.name}.timing.json"
    wanted = {"config": config.to_dict(), "cohort": cohort_params}
    saved = _read_json(timing_file)
    if not force and (model_dir / "model.json").is_file() and saved and saved.get("wanted") == json.loads(json.dumps(wanted)):
        return model_dir, float(saved["train_s"])
    start = time.perf_counter()
    train(train_dir, model_dir, config)
    train_s = time.perf_counter() - start
    write_text_atomic(timing_file, json.dumps({"wanted": wanted, "train_s": train_s}, indent=1, default=str))
    return model_dir, train_s


def timing_clips(test_dir: Path, config: Any, n_clips: int) -> list[np.ndarray]:
    """``n_clips`` normalised clips (T, S, S) float32 from the test cohort's videos (the first eval clip of each)."""
    import pandas as pd

    from cardiolens.systems.echo2cmr.clips import eval_clip_batch
    from cardiolens.systems.echo2cmr.data import decode_video

    clips: list[np.ndarray] = []
    for k, file in enumerate(pd.read_csv(test_dir / "echo.csv")["file"]):
        video = decode_video(test_dir / str(file), None, config, key=f"timing_{k}")
        clips.append(eval_clip_batch(video.frames, video.fps, config)[0])
        if len(clips) == n_clips:
            break
    return clips


def inference_timing(model_dir: Path, clips: list[np.ndarray], threads: int, warmup: int = 3, onnx_path: Path | None = None) -> dict[str, Any]:
    """Per-clip inference time (ms; batch 1, after model load): eager PyTorch and ONNX Runtime.

    Both run the first trained view's network; ONNX Runtime with ``threads`` intra-op threads
    (the model's ``num_threads``, set from ``--threads`` at training), from the model's
    ``model.onnx`` or from ``onnx_path`` (an export at another clip length).
    """
    import torch

    from cardiolens.systems.echo2cmr.model import ONNX_INPUT, ONNX_OUTPUT, load_predictor

    torch.set_num_threads(threads)
    predictor = load_predictor(model_dir, prefer_onnx=True)
    view = predictor.views[0]
    model = predictor.models[view]
    network = model.network.eval()
    batches = [np.ascontiguousarray(c[None, None], dtype=np.float32) for c in clips]

    def eager(x: np.ndarray) -> None:
        with torch.no_grad():
            network(torch.from_numpy(x))

    runners: dict[str, Any] = {"eager": eager}
    session = model.onnx_session
    if onnx_path is not None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    if session is not None:
        runners["onnxruntime"] = lambda x: session.run([ONNX_OUTPUT], {ONNX_INPUT: x})
    result: dict[str, Any] = {"view": view, "threads": threads, "batch_size": 1, "n_clips": len(batches),
                              "clip_shape": list(batches[0].shape) if batches else None}
    for name, run in runners.items():
        for x in batches[:warmup]:
            run(x)
        times = []
        for x in batches:
            start = time.perf_counter()
            run(x)
            times.append((time.perf_counter() - start) * 1000.0)
        result[f"{name}_ms_per_clip_median"] = round(float(np.median(times)), 2)
        result[f"{name}_ms_per_clip_max"] = round(float(np.max(times)), 2)
    return result


def timing_32_frames(model_dir: Path, test_dir: Path, config: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The same network timed on 32-frame clips (every 2nd frame: the same 1.28 s), the issue's speed unit.

    The network is convolutional in time, so it takes any clip length; ONNX Runtime
    runs an export of the trained weights at 32 frames.
    """
    import dataclasses
    import tempfile

    from cardiolens.systems.echo2cmr.model import export_onnx, load_predictor

    config_32 = dataclasses.replace(config, clip_frames=32, clip_stride=2)
    predictor = load_predictor(model_dir, prefer_onnx=False)
    network = predictor.models[predictor.views[0]].network
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(network, config_32, Path(tmp) / "model_32.onnx")
        return inference_timing(model_dir, timing_clips(test_dir, config_32, args.timing_clips), args.threads, onnx_path=onnx_path)


def markdown(result: dict[str, Any]) -> str:
    metrics = result["evaluation"]["metrics"]
    lines = [
        "# echo2cmr on SIMULATED paired echo-CMR cohorts",
        "",
        "SIMULATED DATA: generated by cardiolens.synth; not patient data and not a measure of clinical performance.",
        "",
        (f"Cohorts: {result['cohorts']['n_train']} training subjects, {result['cohorts']['n_test']} disjoint test subjects "
         f"(seed {result['cohorts']['seed']}, tissue_effect {result['cohorts']['tissue_effect']}); "
         f"{result['evaluation']['n_pairs']} evaluated pairs."),
        (f"Training: {result['train_s']:.0f} s; evaluation: {result['evaluate_s']:.0f} s "
         f"({result['machine']['cpu_count']} CPUs, {result['machine']['torch_threads']} torch threads)."),
        "",
        "| label | AUC (95% CI), simulated | above chance | reference study AUC |",
        "|---|---|---|---|",
    ]
    for label in LABELS:
        verdict = result["evaluation"]["above_chance"].get(label)
        lines.append(f"| {label} | {format_metric(metrics.get(f'auc_{label}'))} | "
                     f"{'n/a' if verdict is None else ('yes' if verdict else 'no')} | {REFERENCE[label]} |")
    timing = result["inference"]
    lines += [
        "",
        (f"Inference per clip {timing['clip_shape']} (batch 1, {timing['threads']} threads, after model load, "
         f"{timing['n_clips']} clips): eager PyTorch median {timing['eager_ms_per_clip_median']} ms "
         f"(max {timing['eager_ms_per_clip_max']}); ONNX Runtime median "
         f"{timing.get('onnxruntime_ms_per_clip_median', 'n/a')} ms (max {timing.get('onnxruntime_ms_per_clip_max', 'n/a')})."),
        "",
        (f"Same network on 32-frame clips {timing['clips_32_frames']['clip_shape']}: eager median "
         f"{timing['clips_32_frames']['eager_ms_per_clip_median']} ms (max {timing['clips_32_frames']['eager_ms_per_clip_max']}); "
         f"ONNX Runtime median {timing['clips_32_frames']['onnxruntime_ms_per_clip_median']} ms "
         f"(max {timing['clips_32_frames']['onnxruntime_ms_per_clip_max']})."),
        "",
        ("A label is above chance only when its CI lower bound exceeds 0.5. The simulator makes WMA visible in the echo "
         "motion; with tissue_effect 0 the tissue labels do not change the clips, but they correlate with WMA through "
         "the simulated phenotype, so a motion-only model can still rank them somewhat above chance."),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tissue-effect", type=float, default=0.0)
    parser.add_argument("--set", dest="sets", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set epochs=1 width=4 (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-clips", type=int, default=20)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "echo2cmr")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--force", action="store_true", help="rebuild the cohorts and retrain")
    args = parser.parse_args(argv)

    import torch

    from cardiolens import SIMULATED_NOTICE
    from cardiolens.io.atomic import write_text_atomic
    from cardiolens.systems.echo2cmr import make_config
    from cardiolens.systems.echo2cmr.evaluation import evaluate

    torch.set_num_threads(args.threads)
    config = make_config(sets=[f"num_threads={args.threads}", f"seed={args.seed}", *args.sets])
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    train_params = {"n": args.n_train, "seed": args.seed, "first_index": 0, "tissue_effect": args.tissue_effect}
    test_params = {"n": args.n_test, "seed": args.seed, "first_index": args.n_train, "tissue_effect": args.tissue_effect}
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    train_dir, train_write_s, train_reused = cohort(work, "train_data", train_params, args.force)
    test_dir, test_write_s, test_reused = cohort(work, "test_data", test_params, args.force)
    model_dir, train_s = trained_model(train_dir, work / "model", config, train_params, args.force)
    start = time.perf_counter()
    evaluation_dir = evaluate(model_dir, test_dir, work / "evaluation")
    evaluate_s = time.perf_counter() - start
    document = json.loads((evaluation_dir / "metrics.json").read_text(encoding="utf-8"))
    timing = inference_timing(model_dir, timing_clips(test_dir, config, args.timing_clips), args.threads)
    timing["clips_32_frames"] = timing_32_frames(model_dir, test_dir, config, args)
    card = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))

    n_parameters = None
    try:
        from cardiolens.systems.echo2cmr.model import build_network

        n_parameters = sum(p.numel() for p in build_network(config).parameters())
    except ImportError:
        pass
    result: dict[str, Any] = {
        "benchmark": "echo2cmr_sim",
        "simulated": True,
        "notice": SIMULATED_NOTICE,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_1min_at_start": load_average},
        "config": config.to_dict(),
        "n_parameters": n_parameters,
        "cohorts": {"n_train": args.n_train, "n_test": args.n_test, "seed": args.seed, "tissue_effect": args.tissue_effect,
                    "train_write_s": round(train_write_s, 1), "test_write_s": round(test_write_s, 1),
                    "reused": {"train": train_reused, "test": test_reused}},
        "training_data": card.get("data"),
        "train_s": round(train_s, 1),
        "evaluate_s": round(evaluate_s, 1),
        "evaluation": {
            "n_pairs": document.get("n_pairs"),
            "metrics": {k: v for k, v in document["metrics"].items() if k.startswith(_REPORTED_METRICS)},
            "above_chance": document.get("above_chance", {}),
            "metric_notes": document.get("metric_notes", {}),
            "pairing": document.get("pairing"),
            "n_bad_cases": document.get("n_bad_cases"),
        },
        "inference": timing,
        "reference_study": REFERENCE,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "echo2cmr_sim.json", json.dumps(result, indent=1, default=str) + "\n")
    write_text_atomic(args.out / "echo2cmr_sim.md", markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
