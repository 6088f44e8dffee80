"""How far is the classical route from the target when the segmentation is perfect? ED/ES features + RF on ACDC.

The ``classical_rf`` variant of ``nicm`` (random forest on spacing-invariant
EF, volume-ratio and wall-thickness features) is refitted in the 5-fold split
of ``benchmarks/nicm_acdc.py`` on the :data:`ED_ES_CLASSICAL` features only
(no volume-curve rates), computed from:

- ``reference``: the expert ED/ES masks of the full ED/ES frames;
- ``cine_seg`` (with ``--seg-work``): the masks that each fold's ``cine-seg``
  model (``SEG_WORK/folds/K/seg``, trained on that fold's training patients)
  predicts on the same frames, for training and held-out patients alike, as
  in the cross-validation.

The gap between the two is what segmentation errors cost the classifier.

Usage::

    python benchmarks/nicm_reference_masks.py [ACDC_ROOT] [--seg-work benchmarks/work/nicm_acdc/cv]

Writes ``nicm_reference_masks.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, format_metric, nicm_acdc_folds, shared_dataset


def out_of_fold_metrics(features: dict[int, dict[str, dict[str, float]]], labels: dict[str, str], folds: list[Any]) -> dict[str, Any]:
    """Accuracy, balanced accuracy and macro AUC (95 % CIs) of the RF over the held-out folds.

    ``features[k][subject]``: the feature row used in fold ``k``.
    """
    import pandas as pd

    from cardiolens.stats.classification import classification_metrics
    from cardiolens.systems.nicm.features import ED_ES_CLASSICAL
    from cardiolens.systems.nicm.tabular_models import make_tabular_model

    names = sorted(set(labels.values()))
    ids, probabilities = [], []
    for k, fold in enumerate(folds):
        table = pd.DataFrame.from_dict(features[k], orient="index")[list(ED_ES_CLASSICAL)]
        model = make_tabular_model("classical_rf").fit(table.loc[list(fold.train)], [labels[s] for s in fold.train])
        assert list(model.classes_) == names
        probabilities.append(model.predict_proba(table.loc[list(fold.test)]))
        ids += list(fold.test)
    result = classification_metrics([labels[s] for s in ids], np.concatenate(probabilities), names)
    return {key: result[key].to_metric() for key in ("accuracy", "balanced_accuracy", "macro_auc")} | {"confusion_matrix": result["confusion_matrix"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("acdc", nargs="?", type=Path, default=shared_dataset("acdc"))
    parser.add_argument("--seg-work", type=Path, help="a nicm cross-validation folder holding folds/K/seg models")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    from cardiolens.systems.cine_seg.data import reference_cine
    from cardiolens.systems.cine_seg.model import load_segmenter
    from cardiolens.systems.nicm.features import ed_es_classical_features
    from cardiolens.systems.nicm.training import open_cohort

    cohort = open_cohort(args.acdc)
    folds = nicm_acdc_folds(cohort)
    labels = {r.subject_id: str(r.label) for r in cohort.records}
    cines = {sid: reference_cine(cohort, sid) for sid in labels}
    reference = {sid: ed_es_classical_features(c, c.segmentations[c.ed_index], c.segmentations[c.es_index]) for sid, c in cines.items()}
    result: dict[str, Any] = {"benchmark": "nicm_reference_masks", "data": str(args.acdc), "n_patients": len(labels),
                              "machine": {"platform": platform.platform()},
                              "command": "python benchmarks/nicm_reference_masks.py" + (f" --seg-work {args.seg_work}" if args.seg_work else ""),
                              "reference": out_of_fold_metrics(dict.fromkeys(range(len(folds)), reference), labels, folds)}
    if args.seg_work:
        predicted: dict[int, dict[str, dict[str, float]]] = {}
        for k in range(len(folds)):
            segmenter = load_segmenter(args.seg_work / "folds" / str(k) / "seg")
            predicted[k] = {sid: ed_es_classical_features(c, segmenter.segment_volume(c.image[c.ed_index]), segmenter.segment_volume(c.image[c.es_index]))
                            for sid, c in cines.items()}
        result["cine_seg"] = out_of_fold_metrics(predicted, labels, folds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nicm_reference_masks.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    for source in ("reference", "cine_seg"):
        if source in result:
            print(source, {k: format_metric(v) for k, v in result[source].items() if k != "confusion_matrix"})


if __name__ == "__main__":
    main()
