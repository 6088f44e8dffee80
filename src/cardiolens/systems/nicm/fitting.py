"""Fit one ``nicm`` variant on extracted study features and predict class probabilities.

Deep variants train with Lightning (cross-entropy with class weights, AdamW,
early stopping on the loss of a patient-level validation split of the
training subjects, the best epoch kept); tabular variants with scikit-learn.
A :class:`FittedNicm` saves to and loads from a model directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from cardiolens.data.cohort import SubjectRecord, validation_split
from cardiolens.errors import MissingDataError, UsageError
from cardiolens.systems.nicm.config import NicmConfig
from cardiolens.systems.nicm.features import StudyFeatures
from cardiolens.systems.nicm.networks import VariantNetwork, build_network
from cardiolens.train.fit import fit_keep_best

WEIGHTS_FILE = "weights.pt"
TABULAR_FILE = "tabular.joblib"
NORMALISATION_FILE = "normalisation.json"


@dataclass
class SeriesScaler:
    """Per-channel standardisation of the curves (fitted on the training subjects)."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, series: np.ndarray) -> SeriesScaler:
        mean = series.mean(axis=(0, 2))
        std = series.std(axis=(0, 2))
        return cls(mean.tolist(), np.where(std > 0, std, 1.0).tolist())

    def __call__(self, series: np.ndarray) -> np.ndarray:
        out = (series - np.asarray(self.mean)[None, :, None]) / np.asarray(self.std)[None, :, None]
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def stack_inputs(features: Sequence[StudyFeatures], scaler: SeriesScaler) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frames, standardised series, ED/ES image) tensors of a list of studies."""
    frames = torch.from_numpy(np.stack([f.frames for f in features]).astype(np.float32))
    series = torch.from_numpy(scaler(np.stack([f.series for f in features]).astype(np.float64)))
    ed_es = torch.from_numpy(np.stack([f.ed_es_image for f in features]).astype(np.float32))
    return frames, series, ed_es


def _augment(frames: torch.Tensor, series: torch.Tensor, ed_es: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random rot90/flip per subject (the same for all its frames and slices), gamma, and curve noise."""
    out_frames, out_images = frames.clone(), ed_es.clone()
    for i in range(len(frames)):
        k = int(torch.randint(0, 4, (1,), generator=generator))
        flip = bool(torch.rand(1, generator=generator) < 0.5)
        gamma = float(torch.empty(1).uniform_(0.8, 1.25, generator=generator))
        for tensor in (out_frames, out_images):
            x = torch.rot90(tensor[i], k, dims=(-2, -1))
            x = torch.flip(x, dims=(-1,)) if flip else x
            tensor[i] = x.clamp(min=0) ** gamma
    noisy = series + 0.05 * torch.randn(series.shape, generator=generator)
    return out_frames, noisy, out_images


def _module(network: VariantNetwork, config: NicmConfig, class_weights: torch.Tensor) -> Any:
    import lightning as L

    class NicmModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.loss = torch.nn.CrossEntropyLoss(weight=class_weights)
            self.generator = torch.Generator().manual_seed(config.seed)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            frames, series, ed_es, y = batch
            if config.augment:
                frames, series, ed_es = _augment(frames, series, ed_es, self.generator)
            loss = self.loss(self.network(frames, series, ed_es), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(y))
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            frames, series, ed_es, y = batch
            self.log("val_loss", self.loss(self.network(frames, series, ed_es), y), on_epoch=True, batch_size=len(y))

        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    return NicmModule()


@dataclass
class FittedNicm:
    """A fitted variant: network + series scaler (deep) or pipeline + columns (tabular)."""

    config: NicmConfig
    class_names: list[str]
    network: VariantNetwork | None = None
    scaler: SeriesScaler | None = None
    tabular: Any = None
    columns: list[str] = field(default_factory=list)
    fit_info: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, features: Sequence[StudyFeatures]) -> np.ndarray:
        """Class probabilities (n, n_classes) in ``class_names`` order."""
        if self.network is not None:
            assert self.scaler is not None
            self.network.eval()
            with torch.no_grad():
                logits = self.network(*stack_inputs(features, self.scaler))
            return torch.softmax(logits, dim=1).numpy()
        from cardiolens.systems.nicm.tabular_models import align_features, feature_table

        table = align_features(feature_table(features, self.config.variant), self.columns)
        proba = self.tabular.predict_proba(table)
        # The pipeline's classes_ are the training labels; put them in class_names order.
        order = [list(self.tabular.classes_).index(c) if c in self.tabular.classes_ else None for c in self.class_names]
        return np.stack([proba[:, j] if j is not None else np.zeros(len(proba)) for j in order], axis=1)

    def save(self, directory: Path) -> None:
        if self.network is not None:
            torch.save(self.network.state_dict(), directory / WEIGHTS_FILE)
            (directory / NORMALISATION_FILE).write_text(json.dumps({"series_mean": self.scaler.mean, "series_std": self.scaler.std}, indent=1), encoding="utf-8")  # type: ignore[union-attr]
        else:
            from cardiolens.systems.nicm.tabular_models import save_tabular_model

            save_tabular_model(self.tabular, self.columns, directory / TABULAR_FILE)

    @classmethod
    def load(cls, directory: Path, config: NicmConfig, class_names: list[str], n_series_channels: int, frame_channels: int) -> FittedNicm:
        if config.is_deep:
            path = directory / WEIGHTS_FILE
            if not path.is_file():
                raise MissingDataError(path, "nicm weights missing")
            network = build_network(config, len(class_names), n_series_channels, frame_channels)
            network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            norm = json.loads((directory / NORMALISATION_FILE).read_text(encoding="utf-8"))
            return cls(config, class_names, network=network.eval(), scaler=SeriesScaler(norm["series_mean"], norm["series_std"]))
        from cardiolens.systems.nicm.tabular_models import load_tabular_model

        model, columns = load_tabular_model(directory / TABULAR_FILE)
        return cls(config, class_names, tabular=model, columns=columns)


def _deep_split(records: Sequence[SubjectRecord], config: NicmConfig) -> tuple[list[str], list[str]]:
    train_ids, val_ids, _ = validation_split(list(records), config.val_fraction, config.seed)
    return train_ids, val_ids


def fit_variant(features: dict[str, StudyFeatures], labels: dict[str, str], train_ids: Sequence[str], config: NicmConfig,
                class_names: Sequence[str], log_dir: Path | None = None) -> FittedNicm:
    """Fit ``config.variant`` on the subjects ``train_ids`` (their features and labels)."""
    names = list(class_names)
    missing = sorted({labels[s] for s in train_ids} - set(names))
    if missing:
        raise UsageError(f"training labels {missing} are not among the class names {names}")
    torch.set_num_threads(max(1, config.num_threads))
    if not config.is_deep:
        from cardiolens.systems.nicm.tabular_models import feature_table, fit_tabular_model

        table = feature_table([features[s] for s in train_ids], config.variant)
        model, columns = fit_tabular_model(table, [labels[s] for s in train_ids], config.variant, seed=config.seed)
        return FittedNicm(config, names, tabular=model, columns=list(columns), fit_info={"n_train": len(train_ids)})
    records = [SubjectRecord(subject_id=s, label=labels[s]) for s in train_ids]
    fit_ids, val_ids = _deep_split(records, config)
    scaler = SeriesScaler.fit(np.stack([features[s].series for s in fit_ids]).astype(np.float64))
    y_all = {s: names.index(labels[s]) for s in train_ids}

    def dataset(ids: Sequence[str]) -> TensorDataset:
        return TensorDataset(*stack_inputs([features[s] for s in ids], scaler), torch.tensor([y_all[s] for s in ids]))

    counts = np.bincount([y_all[s] for s in fit_ids], minlength=len(names)).astype(float)
    weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(names), 0.0), dtype=torch.float32)
    sample = features[fit_ids[0]]
    torch.manual_seed(config.seed)  # the initial weights (fit_keep_best seeds only the training that follows)
    network = build_network(config, len(names), sample.series.shape[0], sample.frames.shape[1])
    # drop_last: a one-subject batch would break batch normalisation in the image networks.
    loader = DataLoader(dataset(fit_ids), batch_size=config.batch_size, shuffle=True, drop_last=len(fit_ids) > config.batch_size,
                        generator=torch.Generator().manual_seed(config.seed))
    result = fit_keep_best(_module(network, config, weights), loader, DataLoader(dataset(val_ids), batch_size=64),
                           max_epochs=config.epochs, monitor="val_loss", mode="min", patience=config.patience,
                           log_dir=log_dir, seed=config.seed, accelerator=config.accelerator)
    info = {"n_fit": len(fit_ids), "n_val": len(val_ids), "val_ids": val_ids, "best_epoch": result.best_epoch,
            "best_val_loss": result.best_value, "epochs_run": result.epochs_run}
    return FittedNicm(config, names, network=network.eval(), scaler=scaler, fit_info=info)
