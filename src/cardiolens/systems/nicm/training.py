"""``train nicm``: segment every frame with ``cine-seg``, extract features, fit the variant, write the model directory.

Model directory: ``model.json`` (card: config, class names, training subject
ids, data), ``seg/`` (the ``cine-seg`` model used, copied or trained here on
the same subjects), the variant's weights (``weights.pt`` +
``normalisation.json``, or ``tabular.joblib``), ``model.onnx`` for the
fused/cine/ivpg networks, ``fit.json`` and ``logs/``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cardiolens.data.cohort import Cohort
from cardiolens.errors import DataError, UsageError
from cardiolens.io.layouts import scan
from cardiolens.systems.cine_seg.config import CineSegConfig
from cardiolens.systems.cine_seg.model import load_segmenter
from cardiolens.systems.cine_seg.training import train as train_cine_seg
from cardiolens.systems.model_dir import ModelCard, model_dir_writer, read_card, require_system
from cardiolens.systems.nicm.config import NicmConfig
from cardiolens.systems.nicm.features import StudyFeatures
from cardiolens.systems.nicm.fitting import FittedNicm, fit_variant, stack_inputs
from cardiolens.systems.nicm.pipeline import cohort_features, labelled_records, subject_label

SYSTEM = "nicm"
SEG_DIR = "seg"
ONNX_FILE = "model.onnx"
ONNX_TOLERANCE = 1e-4


def open_cohort(data: str | Path | Cohort) -> Cohort:
    if isinstance(data, Cohort):
        return data
    return scan(data)


def export_onnx(fitted: FittedNicm, example: Sequence[StudyFeatures], path: Path) -> float:
    """Export the network (dynamic batch) and return the largest |ONNX Runtime - eager| probability difference."""
    import onnxruntime as ort

    assert fitted.network is not None and fitted.scaler is not None
    inputs = stack_inputs(example, fitted.scaler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(fitted.network.eval(), inputs, str(path), dynamo=False, input_names=["frames", "series", "ed_es"],
                          output_names=["logits"], dynamic_axes={n: {0: "batch"} for n in ("frames", "series", "ed_es", "logits")},
                          opset_version=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feeds = {n: t.numpy() for n, t in zip(("frames", "series", "ed_es"), inputs) if n in names}
    onnx_logits = session.run(None, feeds)[0]
    with torch.no_grad():
        eager = fitted.network(*inputs).numpy()
    return float(np.max(np.abs(onnx_logits - eager)))


def train(data: str | Path | Cohort, out: str | Path, config: NicmConfig | None = None, subject_ids: Sequence[str] | None = None) -> Path:
    """Train ``config.variant`` on the labelled subjects of ``data`` (optionally only ``subject_ids``)."""
    config = config or NicmConfig()
    cohort = open_cohort(data)
    records = [r for r in labelled_records(cohort, config) if subject_ids is None or r.subject_id in set(subject_ids)]
    labels = {r.subject_id: str(subject_label(r, config)) for r in records}
    class_names = config.class_names or sorted(set(labels.values()))
    if len(set(labels.values())) < 2:
        raise UsageError(f"{cohort.root}: nicm needs at least two classes, found {sorted(set(labels.values()))}")
    ids = [r.subject_id for r in records]
    card = ModelCard(
        system=SYSTEM, config=config.to_dict(), class_names=list(class_names), trained_subject_ids=sorted(ids),
        data={"path": str(cohort.root), "layout": cohort.layout, "n_subjects": len(ids), "label_column": config.label_column or "layout label",
              "class_counts": {c: sum(v == c for v in labels.values()) for c in class_names}},
        simulated_training_data=bool(getattr(cohort, "simulated", False)),
        notes=["inputs are spacing- and intensity-scale-invariant (see cardiolens.systems.nicm.features)"],
    )
    with model_dir_writer(out, card) as tmp:
        seg_dir = tmp / SEG_DIR
        if config.seg_model:
            require_system(read_card(config.seg_model), "cine-seg", config.seg_model)
            shutil.copytree(config.seg_model, seg_dir)
            card.notes.append(f"cine-seg model copied from {config.seg_model}")
        else:
            seg_config = CineSegConfig(epochs=config.seg_epochs, seed=config.seed, num_threads=config.num_threads, accelerator=config.accelerator)
            train_cine_seg(cohort, seg_dir, seg_config, subject_ids=ids)
            card.notes.append("cine-seg model trained here on the same subjects")
        features, bad = cohort_features(cohort, ids, load_segmenter(seg_dir), config, radiomics=config.variant == "radiomics_svm")
        usable = [s for s in ids if s in features]
        if len(usable) < 4:
            raise DataError(cohort.root, f"only {len(usable)} subjects could be segmented and measured: {bad[:3]}")
        fitted = fit_variant(features, labels, usable, config, class_names, log_dir=tmp)
        fitted.save(tmp)
        card.trained_subject_ids = sorted(usable)
        card.data["bad_cases"] = bad
        if fitted.network is not None and config.variant in ("fused", "cine", "ivpg"):
            diff = export_onnx(fitted, [features[s] for s in usable[:4]], tmp / ONNX_FILE)
            if diff > ONNX_TOLERANCE:
                (tmp / ONNX_FILE).unlink()
                card.notes.append(f"ONNX export differed from eager by {diff:.1e}; not kept")
            else:
                card.notes.append(f"ONNX vs eager max |logit diff| {diff:.1e}")
        sample = features[usable[0]]
        (tmp / "fit.json").write_text(json.dumps({**fitted.fit_info, "n_series_channels": int(sample.series.shape[0]),
                                                  "frame_channels": int(sample.frames.shape[1])}, indent=1, default=str), encoding="utf-8")
    return Path(out)


def load_model(model_dir: str | Path) -> tuple[ModelCard, FittedNicm]:
    """The card and fitted variant of a ``nicm`` model directory."""
    directory = Path(model_dir)
    card = read_card(directory)
    require_system(card, SYSTEM, directory)
    config = NicmConfig.from_dict(card.config)
    shapes = json.loads((directory / "fit.json").read_text(encoding="utf-8"))
    fitted = FittedNicm.load(directory, config, list(card.class_names), shapes["n_series_channels"], shapes["frame_channels"])
    return card, fitted
