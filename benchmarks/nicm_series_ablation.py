"""Does a curve of the MLP path help? Fused and IVPG-only ``nicm`` with and without chosen curves, over seeds.

Reuses the fold models and feature caches of a finished ``benchmarks/nicm_acdc.py``
run (``CV/folds/K/features_*/<patient>.npz``, extracted with fold K's ``cine-seg``
model) and refits the deep variants in the same 5 patient-level folds:

- ``all``: every curve of :data:`~cardiolens.systems.nicm.features.SERIES_CHANNELS`;
- ``without``: the same with the ``--drop`` curves removed from the input.

Small cohorts make one training run noisy, so each setting is fitted with
several seeds (``--seeds``) and the out-of-fold accuracy and macro AUC are
reported per seed, as the mean over seeds, and for the seed ensemble (the
class probabilities averaged over the seeds' models, one prediction per patient).

Usage::

    python benchmarks/nicm_series_ablation.py [ACDC_ROOT] [--cv benchmarks/work/nicm_acdc_seg80/cv]
        [--drop rv_volume_to_lv_edv] [--variants fused ivpg] [--seeds 0 1 2] [--folds 0 1 2 3 4]

Writes ``nicm_series_ablation.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, format_metric, nicm_acdc_folds, shared_dataset


def load_fold_features(cv: Path, k: int, keep: list[int]) -> dict[str, Any]:
    """Fold ``k``'s cached features with only the curves at the indices ``keep``."""
    from cardiolens.systems.nicm.features import StudyFeatures

    (cache,) = (cv / "folds" / str(k)).glob("features_*")
    features = {p.stem: StudyFeatures.from_npz(p) for p in sorted(cache.glob("*.npz"))}
    return {sid: replace(f, series=f.series[keep]) for sid, f in features.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=shared_dataset("acdc"))
    parser.add_argument("--cv", type=Path, default=REPO / "benchmarks" / "work" / "nicm_acdc_seg80" / "cv")
    parser.add_argument("--drop", nargs="+", default=["rv_volume_to_lv_edv"])
    parser.add_argument("--variants", nargs="+", default=["fused", "ivpg"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--folds", nargs="+", type=int, help="only these folds (e.g. the finished ones); default all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    from cardiolens.stats.classification import classification_metrics
    from cardiolens.systems.nicm.config import NicmConfig
    from cardiolens.systems.nicm.features import SERIES_CHANNELS
    from cardiolens.systems.nicm.fitting import fit_variant
    from cardiolens.systems.nicm.training import open_cohort

    unknown = sorted(set(args.drop) - set(SERIES_CHANNELS))
    if unknown:
        parser.error(f"unknown curves {unknown}; choose from {', '.join(SERIES_CHANNELS)}")
    cohort = open_cohort(args.acdc)
    all_folds = nicm_acdc_folds(cohort)
    fold_ids = args.folds if args.folds is not None else list(range(len(all_folds)))
    folds = [all_folds[k] for k in fold_ids]
    labels = {r.subject_id: str(r.label) for r in cohort.records}
    names = sorted(set(labels.values()))
    settings = {"all": list(range(len(SERIES_CHANNELS))),
                "without": [i for i, c in enumerate(SERIES_CHANNELS) if c not in args.drop]}
    runs: list[dict[str, Any]] = []
    ensembles: dict[str, Any] = {}
    start = time.perf_counter()
    for setting, keep in settings.items():
        fold_features = [load_fold_features(args.cv, k, keep) for k in fold_ids]
        for variant in args.variants:
            seed_probabilities = []
            for seed in args.seeds:
                config = NicmConfig(variant=variant, seed=seed, num_threads=args.threads)
                ids, probabilities = [], []
                for fold, features in zip(folds, fold_features):
                    train_ids = [s for s in fold.train if s in features]
                    test_ids = [s for s in fold.test if s in features]  # a study rejected by feature extraction is not scored
                    fitted = fit_variant(features, labels, train_ids, config, names)
                    probabilities.append(fitted.predict_proba([features[s] for s in test_ids]))
                    ids += test_ids
                seed_probabilities.append(np.concatenate(probabilities))
                result = classification_metrics([labels[s] for s in ids], seed_probabilities[-1], names)
                runs.append({"setting": setting, "variant": variant, "seed": seed, "n_patients": len(ids),
                             **{key: result[key].to_metric() for key in ("accuracy", "macro_auc")}})
                print(setting, variant, seed, format_metric(runs[-1]["accuracy"]), format_metric(runs[-1]["macro_auc"]), flush=True)
            result = classification_metrics([labels[s] for s in ids], np.mean(seed_probabilities, axis=0), names)
            ensembles[f"{setting}/{variant}"] = {key: result[key].to_metric() for key in ("accuracy", "macro_auc")}
            print(setting, variant, "seed ensemble", *(format_metric(m) for m in ensembles[f"{setting}/{variant}"].values()), flush=True)
    summary = {f"{setting}/{variant}": {f"mean_{key}": round(float(np.mean([r[key]["value"] for r in runs
                                                                              if r["setting"] == setting and r["variant"] == variant])), 3)
                                        for key in ("accuracy", "macro_auc")}
               for setting in settings for variant in args.variants}
    document = {"benchmark": "nicm_series_ablation", "data": str(args.acdc), "cv": str(args.cv), "folds": fold_ids, "dropped": args.drop,
                "seeds": args.seeds, "threads": args.threads, "machine": {"platform": platform.platform()},
                "elapsed_s": round(time.perf_counter() - start, 1), "summary_mean_over_seeds": summary,
                "seed_ensemble": ensembles, "runs": runs,
                "command": " ".join(["python benchmarks/nicm_series_ablation.py", "--cv", str(args.cv), "--drop", *args.drop,
                                     "--variants", *args.variants, "--seeds", *map(str, args.seeds), "--folds", *map(str, fold_ids)])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nicm_series_ablation.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
