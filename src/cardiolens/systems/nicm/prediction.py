"""``predict nicm``: classify studies (ACDC patient folder, simulated subject, 4-D NIfTI, DICOM cine folder).

Each study: every frame segmented by the model's ``cine-seg``, features,
class probabilities. ``OUT/predictions.csv`` has one row per study with the
seconds spent after model load; unreadable studies become rows with ``error``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cardiolens.data.cine import CineCMR
from cardiolens.errors import DataError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.systems.cine_seg.data import read_cine_input
from cardiolens.systems.cine_seg.model import SliceSegmenter, load_segmenter
from cardiolens.systems.nicm.features import StudyFeatures, extract_features
from cardiolens.systems.nicm.fitting import FittedNicm
from cardiolens.systems.nicm.pipeline import feature_spec
from cardiolens.systems.nicm.training import SEG_DIR, load_model


def study_features(cine: CineCMR, segmenter: SliceSegmenter, fitted: FittedNicm) -> StudyFeatures:
    """Segment every frame and extract the inputs this model reads."""
    masks = segmenter.segment_cine(cine.image)
    return extract_features(cine, masks, feature_spec(fitted.config), radiomics=fitted.config.variant == "radiomics_svm")


def predict(model_dir: str | Path, inputs: Sequence[str], out: str | Path) -> Path:
    """Write ``OUT/predictions.csv`` (predicted class and probabilities per study)."""
    card, fitted = load_model(model_dir)
    segmenter = load_segmenter(Path(model_dir) / SEG_DIR)
    rows: list[dict[str, Any]] = []
    for path in inputs:
        start = time.perf_counter()
        try:
            cine = read_cine_input(path)
            proba = fitted.predict_proba([study_features(cine, segmenter, fitted)])[0]
        except DataError as exc:  # report the bad study, go on with the others
            rows.append({"input": str(path), "error": str(exc)})
            continue
        row: dict[str, Any] = {"input": str(path), "subject_id": cine.subject_id, "predicted": card.class_names[int(proba.argmax())]}
        row.update({f"p_{name}": float(p) for name, p in zip(card.class_names, proba)})
        row["seconds"] = round(time.perf_counter() - start, 3)
        row["error"] = None
        rows.append(row)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "predictions.csv", pd.DataFrame(rows).to_csv(index=False))
    return out_dir
