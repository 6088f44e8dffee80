"""``cine-seg`` training settings on one fold of ACDC: held-out Dice on the full ED/ES frames and on the cropped cine.

Trains ``cine-seg`` on the training patients of fold ``--fold`` of the same
5-fold patient-level stratified split as ``benchmarks/nicm_acdc.py`` (so the
numbers compare with that benchmark's fold models) with the default settings
updated by ``--set key=value``, then scores the fold's held-out patients with
:func:`cine_seg_crop.full_and_crop_dice`. Settings are compared on one fold
because one training run takes about 25 min on 2 CPU cores.

Usage::

    python benchmarks/cine_seg_fold.py --name NAME [--fold K] [--set key=value ...] [ACDC_ROOT]

The model stays in ``--work/NAME`` (default ``benchmarks/work/cine_seg_fold``,
not tracked) and is reused when present. Writes ``cine_seg_fold_NAME.json``
to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from cine_seg_crop import full_and_crop_dice, summarise_dice
from common import REPO, format_metric, nicm_acdc_folds, shared_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=shared_dataset("acdc"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "cine_seg_fold")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    from cardiolens.systems import cine_seg
    from cardiolens.systems.cine_seg.model import load_segmenter
    from cardiolens.systems.cine_seg.training import train
    from cardiolens.systems.model_dir import read_card
    from cardiolens.systems.nicm.training import open_cohort

    config = cine_seg.make_config(sets=args.sets)
    cohort = open_cohort(args.acdc)
    fold = nicm_acdc_folds(cohort)[args.fold]
    model_dir = args.work / args.name
    train_s = None
    if (model_dir / "model.json").is_file():
        stored, wanted = read_card(model_dir).config, json.loads(json.dumps(config.to_dict()))
        if any(stored[key] != wanted[key] for key in stored.keys() & wanted.keys()):  # older cards lack newer keys
            raise SystemExit(f"{model_dir} was trained with other settings than {args.sets}: choose another --name")
    else:
        start = time.perf_counter()
        train(cohort, model_dir, config, subject_ids=list(fold.train))
        train_s = round(time.perf_counter() - start, 1)
    rows = full_and_crop_dice(load_segmenter(model_dir), cohort, list(fold.test))
    summary = summarise_dice(rows)
    split = json.loads((model_dir / "split.json").read_text())
    result = {"benchmark": "cine_seg_fold", "name": args.name, "fold": args.fold, "settings": args.sets,
              "command": " ".join(["python benchmarks/cine_seg_fold.py", f"--name {args.name}", f"--fold {args.fold}",
                                   *(f"--set {s}" for s in args.sets)]),
              "machine": {"cpu_threads": config.num_threads, "platform": platform.platform()},
              "train_s": train_s, "best_epoch": split["best_epoch"], "epochs_run": split["epochs_run"],
              "n_train_patients": len(fold.train), "n_test_patients": len(rows), "metrics": summary, "per_patient": rows,
              "note": "held-out patients of one fold (real ACDC data); Dice averaged over ED and ES; 95% CI by bootstrap over patients"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"cine_seg_fold_{args.name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    for key, value in summary.items():
        print(f"{key}: {format_metric(value)}")


if __name__ == "__main__":
    main()
