"""Predict scar pattern (or normal vs MI) of studies with a trained ``scar-pattern`` model directory.

Each input is one study (see :func:`~cardiolens.systems.scar_pattern.data.read_input_study`):
an EMIDEC case folder, a simulated subject folder, a PNG slice, a NIfTI image
or a DICOM series folder. Its slices are preprocessed as in training, classified
one by one and aggregated to the case (mean, or the maximum positive-class
probability for a two-class model trained on mask-derived slice labels). With
``config.mc_samples`` > 0 the Monte-Carlo dropout mean is used and its SD added.

Outputs (atomic): ``predictions.csv`` (one row per study: ``input``,
``subject_id``, ``n_slices``, ``predicted_class``, ``p_<class>`` [+ ``sd_<class>``]),
``slice_predictions.csv`` and ``predictions.json`` (rows, classes,
``simulated_training_data``, ``bad_inputs``). An unreadable input does not stop
the batch; when none can be read the first error is raised (exit code 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.errors import DataError, UsageError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.systems.scar_pattern.data import preprocess_stack, read_input_study
from cardiolens.systems.scar_pattern.evaluation import predict_slices
from cardiolens.systems.scar_pattern.model import ScarPredictor, aggregate_cases


def predict(model_dir: str | Path, inputs: list[str], out: str | Path) -> Path:
    """Classify every input study and write the prediction files into ``out``; returns ``out``.

    Raises:
        UsageError: no inputs.
        cardiolens.errors.DataError: an unusable model directory, or no readable input (the first error, naming its file).
    """
    import torch

    if not inputs:
        raise UsageError("predict needs at least one study (EMIDEC case folder, PNG, NIfTI or DICOM folder)")
    predictor = ScarPredictor.load(model_dir)
    torch.set_num_threads(max(1, predictor.config.num_threads))
    names = predictor.class_names
    rows: list[dict[str, Any]] = []
    slice_rows: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    errors: list[DataError | UsageError] = []
    for item in inputs:
        try:
            study = read_input_study(item, predictor.channels)
            images = preprocess_stack(study.stack, predictor.config.crop_fraction, predictor.config.image_size)
        except (DataError, UsageError) as exc:  # an unreadable file, or one the model cannot take (channels)
            errors.append(exc)
            bad.append({"input": str(item), "file": getattr(exc, "path", str(item)), "problem": getattr(exc, "problem", str(exc))})
            continue
        probabilities, sd = predict_slices(predictor, images)
        _, case = aggregate_cases(probabilities, [study.subject_id] * len(images), predictor.aggregation)
        row: dict[str, Any] = {"input": str(item), "subject_id": study.subject_id, "n_slices": len(images),
                               "predicted_class": names[int(case[0].argmax())]}
        row.update({f"p_{name}": float(p) for name, p in zip(names, case[0])})
        if sd is not None:
            row.update({f"sd_{name}": float(s) for name, s in zip(names, sd.mean(axis=0))})
        rows.append(row)
        for s, p in enumerate(probabilities):
            slice_rows.append({"input": str(item), "slice_index": s, "predicted_class": names[int(p.argmax())],
                               **{f"p_{name}": float(v) for name, v in zip(names, p)}})
    if not rows:
        raise errors[0]
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target / "predictions.csv", pd.DataFrame(rows).to_csv(index=False, float_format="%.6g"))
    write_text_atomic(target / "slice_predictions.csv", pd.DataFrame(slice_rows).to_csv(index=False, float_format="%.6g"))
    document = {
        "system": "scar-pattern",
        "classes": list(names),
        "backbone": predictor.config.backbone,
        "case_aggregation": predictor.aggregation,
        "simulated_training_data": bool(predictor.card.simulated_training_data),
        "mc_samples": int(predictor.config.mc_samples),
        "predictions": rows,
        "bad_inputs": bad,
    }
    write_text_atomic(target / "predictions.json", json.dumps(document, indent=1, default=float))
    return target


__all__ = ["predict"]
