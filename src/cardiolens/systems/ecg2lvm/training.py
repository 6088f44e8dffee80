"""Train ``ecg2lvm``: split, fit with early stopping, export ONNX, write the model directory.

Model directory (through :func:`cardiolens.systems.model_dir.model_dir_writer`):
``model.json`` (card: config, class names, training + validation subject ids,
data and split), ``weights.pt`` (state_dict of the best validation epoch),
``model.onnx`` (checked against eager within :data:`ONNX_TOLERANCE`),
``normalisation.json`` (tabular and mass constants), ``split.json`` and
``logs/`` (Lightning CSV logs of the losses per epoch).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from cardiolens.data.cohort import validation_split
from cardiolens.errors import UsageError
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
from cardiolens.systems.ecg2lvm.data import EcgDataset, load_dataset
from cardiolens.systems.ecg2lvm.model import (
    NORMALISATION_FILE,
    Ecg2LvmModule,
    Normalisation,
)
from cardiolens.systems.model_dir import ModelCard, model_dir_writer
from cardiolens.train.fit import fit_keep_best

SYSTEM = "ecg2lvm"
CLASS_NAMES = ["no_LVH", "LVH"]
WEIGHTS_FILE = "weights.pt"
ONNX_FILE = "model.onnx"
SPLIT_FILE = "split.json"
#: Largest |ONNX Runtime - eager| accepted on the exported outputs.
ONNX_TOLERANCE = 1e-4


def split_dataset(dataset: EcgDataset, config: Ecg2LvmConfig) -> tuple[list[str], list[str], str]:
    """(train ids, validation ids, method): PTB-XL folds, else a patient-level split.

    Raises:
        UsageError: an empty training or validation side.
    """
    if dataset.layout == "ptbxl":
        folds = dataset.table["fold"].to_numpy()
        train = [s for s, f in zip(dataset.subject_ids, folds) if f in config.train_folds]
        val = [s for s, f in zip(dataset.subject_ids, folds) if f in config.val_folds]
        method = f"PTB-XL strat_fold {list(config.train_folds)} vs {list(config.val_folds)}"
    else:
        train, val, method = validation_split(dataset.records(), config.val_fraction, config.seed)  # records are labelled by LVH
    if not train or not val:
        raise UsageError(f"{dataset.path}: the split leaves {len(train)} training and {len(val)} validation subjects; both need some")
    return train, val, method


def tensors(dataset: EcgDataset, norm: Normalisation) -> TensorDataset:
    """(ecg, tabular, mass_z, lvh) tensors; NaN marks an unknown label."""
    table = dataset.table
    return TensorDataset(
        torch.from_numpy(np.ascontiguousarray(dataset.signals, dtype=np.float32)),
        torch.from_numpy(norm.tabular(table)),
        torch.from_numpy(norm.mass_target(table["lv_mass_g"].to_numpy(float)).astype(np.float32)),
        torch.from_numpy(table["lvh"].to_numpy(float).astype(np.float32)),
    )


def export_onnx(network: torch.nn.Module, config: Ecg2LvmConfig, path: Path) -> list[str]:
    """Export (eval mode, dynamic batch) to ONNX; returns the input names."""
    network.eval()
    ecg = torch.zeros(1, 12, config.n_samples)
    names = ["ecg", "tabular"] if config.use_tabular else ["ecg"]
    args: tuple[torch.Tensor, ...] = (ecg, torch.zeros(1, 6)) if config.use_tabular else (ecg,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            network, args, str(path), dynamo=False, input_names=names, output_names=["mass", "lvh_logit"],
            dynamic_axes={n: {0: "batch"} for n in [*names, "mass", "lvh_logit"]}, opset_version=17,
        )
    return names


def check_onnx(network: torch.nn.Module, path: Path, ecg: np.ndarray, tabular: np.ndarray, use_tabular: bool) -> float:
    """Largest |ORT - eager| over both outputs; raises RuntimeError above :data:`ONNX_TOLERANCE`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"ecg": ecg.astype(np.float32)}
    if use_tabular:
        feeds["tabular"] = tabular.astype(np.float32)
    onnx_out = session.run(["mass", "lvh_logit"], feeds)
    network.eval()
    with torch.no_grad():
        eager = network(torch.from_numpy(feeds["ecg"]), torch.from_numpy(tabular) if use_tabular else None)
    diff = max(float(np.max(np.abs(o - e.numpy()))) for o, e in zip(onnx_out, eager))
    if diff > ONNX_TOLERANCE:
        raise RuntimeError(f"{path}: ONNX Runtime differs from eager by {diff:.2e} (> {ONNX_TOLERANCE:g})")
    return diff


def train(data: str | Path | EcgDataset, out: str | Path, config: Ecg2LvmConfig | None = None) -> Path:
    """Train on ``data`` and write the model directory ``out``; returns ``out``.

    Args:
        data: a dataset path (see :func:`~cardiolens.systems.ecg2lvm.data.load_dataset`)
            or an already-loaded :class:`EcgDataset`.
        out: the model directory to write (replaced atomically on success).
        config: settings (defaults if None).

    The card's ``trained_subject_ids`` lists every training and validation
    subject (validation steers early stopping, so it is not unseen either).
    """
    config = config or Ecg2LvmConfig()
    torch.set_num_threads(max(1, config.num_threads))
    dataset = data if isinstance(data, EcgDataset) else load_dataset(data, config)
    train_ids, val_ids, method = split_dataset(dataset, config)
    train_set, val_set = dataset.subset(train_ids), dataset.subset(val_ids)
    norm = Normalisation.fit(train_set.table)
    torch.manual_seed(config.seed)  # the initial weights
    monitor_mass = bool(np.isfinite(val_set.table["lv_mass_g"].to_numpy(float)).any())
    module = Ecg2LvmModule(config, pos_weight=norm.lvh_pos_weight, monitor_mass=monitor_mass)
    loader_gen = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(tensors(train_set, norm), batch_size=config.batch_size, shuffle=True, generator=loader_gen)
    val_loader = DataLoader(tensors(val_set, norm), batch_size=max(config.batch_size, 64))
    card = ModelCard(
        system=SYSTEM,
        config=config.to_dict(),
        class_names=list(CLASS_NAMES),
        trained_subject_ids=sorted(set(train_ids) | set(val_ids)),
        data={
            "path": str(dataset.path),
            "layout": dataset.layout,
            "n_subjects": len(dataset),
            "n_train": len(train_ids),
            "n_val": len(val_ids),
            "split_method": method,
            "n_bad_cases": len(dataset.bad_cases),
            "n_lv_mass_known": int(np.isfinite(dataset.table["lv_mass_g"].to_numpy(float)).sum()),
            "n_lvh_known": int(np.isfinite(dataset.table["lvh"].to_numpy(float)).sum()),
        },
        simulated_training_data=dataset.simulated,
        notes=[
            "LV mass head predicts standardised ln(LV mass); normalisation.json converts it to g",
            "trained_subject_ids include the validation subjects used for early stopping",
        ],
    )
    if card.data["n_lv_mass_known"] == 0:
        card.notes.append("no LV mass labels in the training data: the mass output is untrained (use lvh_probability only)")
    with model_dir_writer(out, card) as tmp:
        best = fit_keep_best(module, train_loader, val_loader, max_epochs=config.epochs, monitor="val_monitor", mode="min",
                             patience=config.patience, log_dir=tmp, seed=config.seed)
        network = module.network
        torch.save(network.state_dict(), tmp / WEIGHTS_FILE)
        (tmp / NORMALISATION_FILE).write_text(json.dumps(norm.to_dict(), indent=1), encoding="utf-8")
        (tmp / SPLIT_FILE).write_text(
            json.dumps({"method": method, "train": train_ids, "val": val_ids, "best_epoch": best.best_epoch, "monitor": "val_mass_loss" if monitor_mass else "val_lvh_loss", "best_val_monitor": best.best_value}, indent=1),
            encoding="utf-8",
        )
        export_onnx(network, config, tmp / ONNX_FILE)
        n_check = min(8, len(val_set))
        diff = check_onnx(network, tmp / ONNX_FILE, val_set.signals[:n_check], norm.tabular(val_set.table)[:n_check], config.use_tabular)
        card.notes.append(f"best epoch {best.best_epoch} (monitored validation loss {best.best_value:.4f}); ONNX vs eager max |diff| {diff:.1e}")
    return Path(out)
