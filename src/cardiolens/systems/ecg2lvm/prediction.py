"""Predict LV mass and LVH probability with a trained ``ecg2lvm`` model directory.

:func:`predict_dataset` runs the exported ONNX model with ONNX Runtime when it is
installed (faster on CPU), else the eager PyTorch network. :func:`predict`
reads WFDB records, HL7 aECG files or dataset folders and writes
``predictions.csv`` with the model outputs next to the classic voltage rules
(:func:`cardiolens.measure.ecg.measure_ecg` + :func:`cardiolens.measure.ecg_lvh.lvh_criteria`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardiolens.data.ecg import ECG12
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.io.atomic import atomic_path
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
from cardiolens.systems.ecg2lvm.data import EcgDataset, dataset_from_ecgs, load_dataset
from cardiolens.systems.ecg2lvm.model import NORMALISATION_FILE, Normalisation
from cardiolens.systems.ecg2lvm.training import ONNX_FILE, SYSTEM, WEIGHTS_FILE
from cardiolens.systems.model_dir import ModelCard, read_card, require_system

PREDICTIONS_FILE = "predictions.csv"


@dataclass
class LoadedModel:
    """What prediction needs from a model directory."""

    path: Path
    card: ModelCard
    config: Ecg2LvmConfig
    norm: Normalisation


def load_model(model_dir: str | Path) -> LoadedModel:
    """Read the card, config and normalisation of an ``ecg2lvm`` model directory.

    Raises:
        MissingDataError: not a model directory or a file missing.
        UsageError: a model of another system.
    """
    path = Path(model_dir)
    card = read_card(path)
    require_system(card, SYSTEM, path)
    norm_path = path / NORMALISATION_FILE
    if not norm_path.is_file():
        raise MissingDataError(norm_path, "normalisation constants missing from the model directory")
    norm = Normalisation.from_dict(json.loads(norm_path.read_text(encoding="utf-8")))
    return LoadedModel(path, card, Ecg2LvmConfig.from_dict(card.config), norm)


def eager_network(model: LoadedModel) -> Any:
    """The PyTorch network with the directory's weights, in eval mode."""
    import torch

    from cardiolens.systems.ecg2lvm.model import build_network

    weights = model.path / WEIGHTS_FILE
    if not weights.is_file():
        raise MissingDataError(weights, "weights missing from the model directory")
    network = build_network(model.config)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return network.eval()


def raw_outputs(model: LoadedModel, signals: np.ndarray, tabular: np.ndarray, *, backend: str = "auto", num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(standardised mass, LVH logit) for (n, 12, n_samples) signals; backend "auto", "onnx" or "eager"."""
    threads = num_threads or model.config.num_threads
    use_onnx = backend == "onnx" or (backend == "auto" and (model.path / ONNX_FILE).is_file() and _has_ort())
    if use_onnx:
        from cardiolens.systems.onnx_runtime import cpu_session

        session = cpu_session(model.path / ONNX_FILE, threads)
        feeds = {"ecg": signals.astype(np.float32)}
        if model.config.use_tabular:
            feeds["tabular"] = tabular.astype(np.float32)
        mass, logit = session.run(["mass", "lvh_logit"], feeds)
        return np.asarray(mass, float), np.asarray(logit, float)
    import torch

    torch.set_num_threads(threads)
    network = eager_network(model)
    with torch.no_grad():
        mass, logit = network(torch.from_numpy(signals.astype(np.float32)), torch.from_numpy(tabular) if model.config.use_tabular else None)
    return mass.numpy().astype(float), logit.numpy().astype(float)


def _has_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def predict_dataset(model_dir: str | Path, dataset: EcgDataset, *, backend: str = "auto") -> pd.DataFrame:
    """One row per subject: ``subject_id``, ``lv_mass_g_pred`` (g), ``lvh_probability`` (0-1)
    and ``lv_mass_index_g_m2_pred`` (g/m^2, NaN where BSA is unknown; column only when some BSA is known).

    ``lv_mass_g_pred`` is NaN for a model trained without LV mass labels (its mass head is untrained).

    Raises:
        LeadConfigurationError: the dataset was prepared at another rate or length than the model's.
    """
    model = load_model(model_dir)
    expected = (12, model.config.n_samples)
    if dataset.signals.shape[1:] != expected:
        from cardiolens.errors import LeadConfigurationError

        raise LeadConfigurationError(
            dataset.path, f"signals are {dataset.signals.shape[1:]}, the model expects {expected} "
            f"({model.config.fs_hz:g} Hz x {model.config.duration_s:g} s); load the data with the model's config"
        )
    tabular = model.norm.tabular(dataset.table)
    z, logit = raw_outputs(model, dataset.signals, tabular, backend=backend)
    mass = model.norm.mass_g(z)
    if not model.card.data.get("n_lv_mass_known"):
        # trained without LV mass labels (e.g. PTB-XL only): the mass head is untrained, report no mass
        mass = np.full(len(dataset), np.nan)
    result = pd.DataFrame(
        {"subject_id": dataset.subject_ids, "lv_mass_g_pred": mass, "lvh_probability": 1.0 / (1.0 + np.exp(-logit))}
    )
    bsa = dataset.table["bsa_m2"].to_numpy(float)
    if np.isfinite(bsa).any():
        result["lv_mass_index_g_m2_pred"] = mass / bsa
    return result


def rule_flags(ecg: ECG12, sex: str | None) -> dict[str, Any]:
    """Voltages and rule flags of one ECG (``rule_error`` says why when they cannot be measured)."""
    from cardiolens.measure.ecg import measure_ecg
    from cardiolens.measure.ecg_lvh import lvh_criteria

    try:
        criteria = lvh_criteria(measure_ecg(ecg, sex=sex), sex)
    except DataError as exc:
        return {"rule_error": exc.problem}
    values = criteria.to_dict()
    values.pop("enabled_rules", None)
    values.pop("notes", None)
    values.pop("sex", None)
    return {k if k.endswith(("_mv", "_ms", "_mv_ms")) else f"{k}_rule" if k != "any_rule" else k: v for k, v in values.items()}


def _read_input(item: str, config: Ecg2LvmConfig) -> EcgDataset:
    path = Path(item)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".csv" or ":" in item and not path.exists():
        return load_dataset(item, config)
    if suffix == ".xml":
        from cardiolens.io.aecg import read_aecg

        ecg = read_aecg(path)
    else:
        from cardiolens.io.wfdb_io import read_wfdb

        ecg = read_wfdb(path)
    ecg.subject_id = path.with_suffix("").name if suffix in (".hea", ".xml") else path.name
    return dataset_from_ecgs([ecg], config, path=path)


def predict(model_dir: str | Path, inputs: list[str], out: str | Path) -> Path:
    """Predict for WFDB records (``rec`` or ``rec.hea``), aECG ``.xml`` files or dataset folders.

    Writes ``out/predictions.csv``: ``source``, ``subject_id``, ``lv_mass_g_pred``,
    ``lvh_probability``, ``lvh_pred`` (probability >= 0.5), ``lv_mass_index_g_m2_pred``
    when BSA is known, and the voltage-rule columns (``sokolow_lyon_mv``...,
    ``sokolow_lyon_rule``..., ``any_rule``). Returns the CSV path.

    Raises:
        UsageError: no inputs.
        cardiolens.errors.DataError: an input that cannot be read (names the file).
    """
    if not inputs:
        raise UsageError("predict needs at least one input (WFDB record, aECG file or dataset folder)")
    model = load_model(model_dir)
    frames = []
    for item in inputs:
        dataset = _read_input(item, model.config)
        table = predict_dataset(model.path, dataset)
        table.insert(0, "source", str(item))
        table["lvh_pred"] = (table["lvh_probability"] >= 0.5).astype(int)
        sexes = dataset.table["sex"].tolist()
        rules = pd.DataFrame([rule_flags(ecg, sex) for ecg, sex in zip(dataset.ecgs, sexes)])
        frames.append(pd.concat([table.reset_index(drop=True), rules], axis=1))
    result = pd.concat(frames, ignore_index=True)
    target = Path(out) / PREDICTIONS_FILE
    with atomic_path(target) as tmp:
        result.to_csv(tmp, index=False, float_format="%.6g")
    return target


__all__ = ["LoadedModel", "load_model", "predict", "predict_dataset", "raw_outputs", "rule_flags"]
