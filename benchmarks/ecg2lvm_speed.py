"""Speed and sanity benchmark of ``ecg2lvm``.

1. Trains on the shared PTB-XL (strat_fold 1-5 train, 6 early stopping; default
   config), records the training wall time, and evaluates on the held-out folds
   7-8: CNN vs voltage-rule LVH ROC-AUC with DeLong CIs and p (the label is
   PTB-XL's report statement, a proxy, not CMR).
2. Times inference per 10 s record, batch 1, 2 threads: eager PyTorch and ONNX
   Runtime (median of repeated runs after warm-up).
3. Simulates a paired ECG-LV-mass cohort (``--n-sim`` subjects, default 2000;
   :mod:`cardiolens.synth.ecg_cohort`), holds 20% of the patients out before
   training, and reports the LV-mass Pearson r (Fisher-z CI) on them (target >= 0.75).

Usage::

    python benchmarks/ecg2lvm_speed.py [PTBXL_ROOT] [--n-sim N] [--out DIR]

Writes ``ecg2lvm_speed.json`` to ``--out`` (default ``benchmarks/results``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import shared_dataset

REPO = Path(__file__).resolve().parents[1]


def _time_ms(fn: Any, repeats: int = 100, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def inference_timing(model_dir: Path, signal: np.ndarray, tabular: np.ndarray, threads: int = 2) -> dict[str, float]:
    import onnxruntime as ort
    import torch

    from cardiolens.systems.ecg2lvm.prediction import eager_network, load_model

    model = load_model(model_dir)
    torch.set_num_threads(threads)
    network = eager_network(model)
    x, t = torch.from_numpy(signal[None]), torch.from_numpy(tabular[None])

    def eager() -> None:
        with torch.no_grad():
            network(x, t if model.config.use_tabular else None)

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    feeds = {"ecg": signal[None].astype(np.float32)}
    if model.config.use_tabular:
        feeds["tabular"] = tabular[None].astype(np.float32)
    return {
        "eager_ms_per_record": round(_time_ms(eager), 3),
        "onnxruntime_ms_per_record": round(_time_ms(lambda: session.run(None, feeds)), 3),
        "threads": threads,
        "batch_size": 1,
    }


def simulated_run(n: int, work: Path) -> dict[str, Any]:
    from cardiolens.data.cohort import patient_train_test_split
    from cardiolens.stats.agreement import pearson
    from cardiolens.synth.ecg_cohort import write_paired_ecg_cohort
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
    from cardiolens.systems.ecg2lvm.data import load_dataset
    from cardiolens.systems.ecg2lvm.prediction import predict_dataset
    from cardiolens.systems.ecg2lvm.training import train

    start = time.perf_counter()
    table = write_paired_ecg_cohort(work / "paired_ecg", n=n, seed=0) / "table.csv"
    simulate_s = time.perf_counter() - start
    config = Ecg2LvmConfig()
    dataset = load_dataset(table, config)
    split = patient_train_test_split(dataset.records(), 0.2, seed=1, stratify=False)
    start = time.perf_counter()
    model_dir = train(dataset.subset(split.train), work / "sim_model", config)
    train_s = time.perf_counter() - start
    test = dataset.subset(split.test)
    pred = predict_dataset(model_dir, test)
    r = pearson(test.table["lv_mass_g"].to_numpy(float), pred["lv_mass_g_pred"].to_numpy(float))
    err = pred["lv_mass_g_pred"].to_numpy(float) - test.table["lv_mass_g"].to_numpy(float)
    split_info = json.loads((model_dir / "split.json").read_text())
    return {
        "n_subjects": n,
        "n_train_plus_val": len(split.train),
        "n_held_out": len(split.test),
        "simulate_s": round(simulate_s, 1),
        "train_s": round(train_s, 1),
        "best_epoch": split_info["best_epoch"],
        "lv_mass_pearson_r": round(r.value, 3),
        "lv_mass_pearson_r_ci95": [round(r.ci[0], 3), round(r.ci[1], 3)] if r.ci else None,
        "lv_mass_mae_g": round(float(np.mean(np.abs(err))), 1),
        "target_r": 0.75,
    }


def ptbxl_run(root: Path, work: Path) -> tuple[dict[str, Any], Path, Any]:
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
    from cardiolens.systems.ecg2lvm.data import load_dataset
    from cardiolens.systems.ecg2lvm.evaluation import evaluate
    from cardiolens.systems.ecg2lvm.training import train

    config = Ecg2LvmConfig()
    start = time.perf_counter()
    dataset = load_dataset(root, config)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model_dir = train(dataset, work / "ptbxl_model", config)
    train_s = time.perf_counter() - start
    split = json.loads((model_dir / "split.json").read_text())
    metrics = json.loads((evaluate(model_dir, root, work / "ptbxl_eval") / "metrics.json").read_text())
    held_out = {k: metrics["metrics"][k] for k in ("auc_cnn", "auc_any_rule", "delong_p_any_rule", "auc_sokolow_lyon", "auc_cornell_voltage", "delong_p_sokolow_lyon") if k in metrics["metrics"]}
    result = {
        "n_records": len(dataset),
        "n_train": len(split["train"]),
        "n_val_early_stopping": len(split["val"]),
        "n_test": metrics["data"]["n_subjects"],
        "load_s": round(load_s, 1),
        "train_s": round(train_s, 1),
        "best_epoch": split["best_epoch"],
        "test_folds_7_8": held_out,
        "label_caveat": "PTB-XL LVH is an ECG-report statement, not CMR; folds 7-8 were not used in training or early stopping",
    }
    return result, model_dir, dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptbxl", nargs="?", type=Path, default=shared_dataset("ptbxl"))
    parser.add_argument("--n-sim", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    import torch

    from cardiolens.io.atomic import write_text_atomic
    from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
    from cardiolens.systems.ecg2lvm.model import NORMALISATION_FILE, Normalisation

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ptbxl, model_dir, dataset = ptbxl_run(args.ptbxl, work)
        norm = Normalisation.from_dict(json.loads((model_dir / NORMALISATION_FILE).read_text()))
        timing = inference_timing(model_dir, dataset.signals[0], norm.tabular(dataset.table.iloc[:1])[0])
        simulated = simulated_run(args.n_sim, work)
    n_params = sum(p.numel() for p in __import__("cardiolens.systems.ecg2lvm.model", fromlist=["build_network"]).build_network(Ecg2LvmConfig()).parameters())
    result = {
        "benchmark": "ecg2lvm_speed",
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": 2, "platform": platform.platform(), "python": platform.python_version()},
        "config": Ecg2LvmConfig().to_dict(),
        "n_parameters": n_params,
        "ptbxl_training": ptbxl,
        "inference": timing,
        "simulated_cohort": simulated,
    }
    text = json.dumps(result, indent=1)
    write_text_atomic(args.out / "ecg2lvm_speed.json", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
