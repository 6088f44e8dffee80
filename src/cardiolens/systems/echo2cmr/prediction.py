"""Predict the CMR-derived labels of echo files with a trained ``echo2cmr`` model directory.

Each input is one echo file: a video FFmpeg decodes (AVI, MP4, ... EchoNet
videos included) or a DICOM ultrasound multi-frame file. Its view comes from
the DICOM view tags (ViewCodeSequence / SeriesDescription); a video, or a
DICOM file without them, is "UNKNOWN" and runs through the model's first
trained view (the prediction says which network ran in ``view_model``). The
logits of ``config.eval_clips`` evenly spaced clips are averaged and turned
into probabilities with the sigmoid. With ``config.mc_samples`` > 0 the SD of
the probability over Monte-Carlo dropout draws is added.

Outputs (atomic): ``predictions.csv`` with ``input`` (file name), ``view``,
``view_model``, ``n_clips`` and ``<label>_probability`` (+ ``_sd``) per label;
``predictions.json`` with the same rows, the labels, the trained views,
``simulated_training_data``, notes and ``bad_inputs`` (file and problem of
each input that could not be read). Unreadable inputs do not stop the batch;
when none can be read the first error is raised (exit code 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from cardiolens.errors import DataError, UsageError
from cardiolens.io.atomic import atomic_path, write_text_atomic
from cardiolens.systems.echo2cmr.config import LABELS
from cardiolens.systems.echo2cmr.data import EchoVideo, decode_video
from cardiolens.systems.echo2cmr.model import Echo2CmrPredictor, load_predictor

PREDICTIONS_CSV = "predictions.csv"
PREDICTIONS_JSON = "predictions.json"


def predict_video(predictor: Echo2CmrPredictor, video: EchoVideo) -> dict[str, Any]:
    """One prediction row for a decoded video (see the module docstring for the columns)."""
    view_model, _ = predictor.view_model_for(video.view)
    clips = predictor.eval_clips(video)
    logits = predictor.clip_logits(video.view, clips).mean(axis=0)
    row: dict[str, Any] = {"view": video.view, "view_model": view_model, "n_clips": len(clips)}
    probabilities = expit(logits)
    for label, p in zip(LABELS, probabilities):
        row[f"{label}_probability"] = float(p)
    if predictor.config.mc_samples > 0:
        draws = predictor.mc_dropout_logits(video.view, clips, predictor.config.mc_samples)  # (n, clips, labels)
        per_draw = expit(draws.mean(axis=1).astype(np.float64))  # a draw's video probability: mean logit over its clips
        for label, sd in zip(LABELS, per_draw.std(axis=0, ddof=1) if len(per_draw) > 1 else np.zeros(len(LABELS))):
            row[f"{label}_probability_sd"] = float(sd)
    return row


def predict(model_dir: str | Path, inputs: list[str], out: str | Path) -> Path:
    """Predict every input echo file and write ``predictions.csv`` and ``predictions.json`` into ``out``; returns ``out``.

    Raises:
        UsageError: no inputs.
        cardiolens.errors.DataError: the model directory is unusable, or no input could be read
            (the first input's error, naming its file).
    """
    import torch

    if not inputs:
        raise UsageError("predict needs at least one echo file (video or DICOM)")
    predictor = load_predictor(model_dir)
    torch.set_num_threads(max(1, predictor.config.num_threads))
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    errors: list[DataError] = []
    for k, item in enumerate(inputs):
        path = Path(item)
        try:
            video = decode_video(path, None, predictor.config, key=f"input_{k}")
        except DataError as exc:
            errors.append(exc)
            bad.append({"input": path.name, "file": exc.path, "problem": exc.problem})
            continue
        rows.append({"input": path.name, **predict_video(predictor, video)})
    if not rows:
        raise errors[0]
    columns = ["input", "view", "view_model", "n_clips", *[f"{label}_probability" for label in LABELS]]
    if predictor.config.mc_samples > 0:
        columns += [f"{label}_probability_sd" for label in LABELS]
    table = pd.DataFrame(rows, columns=columns)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    with atomic_path(target / PREDICTIONS_CSV) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    document = {
        "system": "echo2cmr",
        "labels": list(LABELS),
        "views": list(predictor.views),
        "simulated_training_data": bool(predictor.card.simulated_training_data),
        "backend": "onnxruntime" if predictor.uses_onnx else "torch",
        "mc_samples": int(predictor.config.mc_samples),
        "predictions": rows,
        "bad_inputs": bad,
        "notes": list(predictor.notes),
    }
    write_text_atomic(target / PREDICTIONS_JSON, json.dumps(document, indent=1, default=str))
    return target


__all__ = ["PREDICTIONS_CSV", "PREDICTIONS_JSON", "predict", "predict_video"]
