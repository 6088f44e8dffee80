"""Does ``cine-seg`` survive the ACDC cine crop? Held-out Dice on the full ED/ES frames vs the cropped cine frames.

The shared ACDC cine is cut to 100 x 95 pixels and 5-7 slices (some turned
by 90 degrees) from the full ED/ES grid, with another intensity range in 40
patients. ``cine-seg`` is trained on the full ED/ES frames; ``nicm`` applies
it to every frame of the cropped cine. This scores each fold model of
``benchmarks/nicm_acdc.py`` on its held-out patients twice: on the full ED/ES
frames and on the cine's ED/ES frames with the masks mapped onto the cine grid.

Usage::

    python benchmarks/cine_seg_crop.py [ACDC_ROOT] [--work DIR] [--tta-transforms N] [--out DIR]

Needs the fold models in ``--work`` (run ``benchmarks/nicm_acdc.py`` first).
``--tta-transforms`` scores the same models with test-time augmentation
(2, 4 or 8 in-plane symmetries; see ``CineSegConfig``). Writes
``cine_seg_crop.json`` (``cine_seg_crop_ttaN.json`` with N > 1) to ``--out``
(default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from common import shared_dataset

REPO = Path(__file__).resolve().parents[1]


def full_and_crop_dice(segmenter: Any, cohort: Any, subject_ids: list[str]) -> list[dict[str, Any]]:
    """Per patient: Dice (mean of ED and ES) on the full ED/ES frames and on the cine's cropped ED/ES frames."""
    from cardiolens.io.layouts import load
    from cardiolens.stats.overlap import dice
    from cardiolens.systems.cine_seg.model import STRUCTURES

    rows = []
    for sid in subject_ids:
        study = load(cohort, sid)
        row = {"subject_id": sid, "rotated": bool(study.cine.metadata["crop"]["rotated"]), "spacing_known": study.cine.spacing_known}
        for grid, volumes in (("full", ((study.ed.image, study.ed.labels), (study.es.image, study.es.labels))),
                              ("cine_crop", tuple((study.cine.image[i], study.cine.segmentations[i]) for i in (study.cine.ed_index, study.cine.es_index)))):
            predicted = [segmenter.segment_volume(image) for image, _ in volumes]
            for name, label in STRUCTURES.items():
                row[f"dice_{name}_{grid}"] = float(np.mean([dice(p == label, t == label) for p, (_, t) in zip(predicted, volumes)]))
        rows.append(row)
    return rows


def summarise_dice(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean Dice per structure and grid with a 95 % bootstrap CI over patients."""
    import pandas as pd

    from cardiolens.systems.cine_seg.model import STRUCTURES
    from cardiolens.systems.evaluation import mean_ci

    table = pd.DataFrame(rows)
    return {f"dice_{name}_{grid}": mean_ci(table[f"dice_{name}_{grid}"]).to_metric() for grid in ("full", "cine_crop") for name in STRUCTURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=shared_dataset("acdc"))
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "nicm_acdc")
    parser.add_argument("--tta-transforms", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    from cardiolens.io.layouts import scan
    from cardiolens.systems.cine_seg.model import load_segmenter

    cohort = scan(args.acdc)
    folds = json.loads((args.work / "cv" / "metrics.json").read_text())["folds"]
    rows = []
    for k, fold in enumerate(folds):
        segmenter = load_segmenter(args.work / "cv" / "folds" / str(k) / "seg", tta_transforms=args.tta_transforms)
        rows += full_and_crop_dice(segmenter, cohort, fold["test"])
    summary = summarise_dice(rows)
    result = {"benchmark": "cine_seg_crop", "work": str(args.work), "tta_transforms": args.tta_transforms, "n_patients": len(rows),
              "metrics": summary, "per_patient": rows,
              "note": "held-out patients of each fold; Dice averaged over ED and ES; 95% CI by bootstrap over patients"}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "cine_seg_crop.json" if args.tta_transforms == 1 else f"cine_seg_crop_tta{args.tta_transforms}.json"
    (args.out / name).write_text(json.dumps(result, indent=1), encoding="utf-8")
    for key, value in summary.items():
        print(f"{key}: {value['value']:.3f} ({value['ci'][0]:.3f}-{value['ci'][1]:.3f})")


if __name__ == "__main__":
    main()
