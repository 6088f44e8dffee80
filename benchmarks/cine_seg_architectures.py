"""Which network for ``cine-seg``? MONAI UNet vs SegResNet, same budget, same patients (ACDC fold 0).

Trains a SegResNet with the settings of fold 0 of ``benchmarks/nicm_acdc.py``
(same training patients, epochs, patches and augmentation) and scores it and
that fold's UNet on the fold's held-out patients (Dice per structure, ED and
ES averaged; paired bootstrap CI of the per-patient difference; training
time). Needs the fold-0 model in ``--work`` (run ``benchmarks/nicm_acdc.py`` first).

Usage::

    python benchmarks/cine_seg_architectures.py [ACDC_ROOT] [--work DIR] [--out DIR]

Writes ``cine_seg_architectures.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    shared = os.environ.get("CARDIOLENS_SHARED_DATA")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=Path(shared) / "acdc" if shared else REPO.parent / "shared" / "data" / "acdc")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "nicm_acdc")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    from cardiolens.io.layouts import scan
    from cardiolens.stats.bootstrap import bootstrap_ci, paired_bootstrap_difference
    from cardiolens.systems.cine_seg.config import CineSegConfig
    from cardiolens.systems.cine_seg.evaluation import score_subject
    from cardiolens.systems.cine_seg.model import load_segmenter
    from cardiolens.systems.cine_seg.training import train

    cohort = scan(args.acdc)
    unet_dir = args.work / "cv" / "folds" / "0" / "seg"
    card = json.loads((unet_dir / "model.json").read_text())
    train_ids = card["trained_subject_ids"]
    test_ids = [s for s in cohort.subject_ids if s not in set(train_ids)]
    segresnet_dir = args.work / "fold0_segresnet"
    start = time.perf_counter()
    if not (segresnet_dir / "model.json").is_file():
        train(cohort, segresnet_dir, replace(CineSegConfig.from_dict(card["config"]), architecture="segresnet"), subject_ids=train_ids)
    segresnet_train_s = time.perf_counter() - start
    scores = {}
    for name, directory in (("unet", unet_dir), ("segresnet", segresnet_dir)):
        segmenter = load_segmenter(directory)
        scores[name] = [score_subject(segmenter, cohort, sid) for sid in test_ids]
    result = {"benchmark": "cine_seg_architectures", "n_train": len(train_ids), "n_test": len(test_ids), "segresnet_train_s": round(segresnet_train_s, 1),
              "parameters": {"unet": "MONAI UNet, channels 16-256, 1 residual unit per level (0.84 M parameters)",
                             "segresnet": "MONAI SegResNet, 16 initial filters, blocks (1, 2, 2, 4) (1.58 M parameters)"},
              "metrics": {}}
    for structure in ("lv", "myo", "rv"):
        a = np.array([r[f"dice_{structure}"] for r in scores["unet"]])
        b = np.array([r[f"dice_{structure}"] for r in scores["segresnet"]])
        result["metrics"][f"dice_{structure}_unet"] = bootstrap_ci(np.mean, a, n_resamples=2000).to_metric()
        result["metrics"][f"dice_{structure}_segresnet"] = bootstrap_ci(np.mean, b, n_resamples=2000).to_metric()
        result["metrics"][f"dice_{structure}_unet_minus_segresnet"] = paired_bootstrap_difference(np.mean, (a,), (b,), n_resamples=2000).to_metric()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cine_seg_architectures.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result["metrics"], indent=1))


if __name__ == "__main__":
    main()
