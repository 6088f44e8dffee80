"""Train ``scar-pattern``: patient-level split, frozen-backbone warm-up, fine-tuning, model directory.

Split: :func:`~cardiolens.data.cohort.validation_split` on the subjects
(stratified on the case label when possible); ``config.val_fraction`` of the
subjects steer early stopping, every slice of a subject on one side.

Loss: cross-entropy weighted by inverse slice-class frequency of the training
slices (EMIDEC with mask-derived slice labels has about three normal slices
per infarct slice).

Schedule (transfer learning): ``warmup_epochs`` with the backbone frozen
(its BatchNorm statistics too), only the head learning at ``lr``; then the
whole network at ``lr * finetune_lr_factor`` for up to ``epochs`` epochs with
early stopping on the validation loss. Each phase keeps its best validation
epoch (:func:`~cardiolens.train.fit.fit_keep_best`). With a backbone that has
no pretrained weights the warm-up still runs (it is cheap) and the card says
the backbone started from random weights.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from cardiolens.data.cohort import BadCase, SubjectRecord, validation_split
from cardiolens.errors import UsageError
from cardiolens.systems.model_dir import ModelCard, model_dir_writer
from cardiolens.systems.scar_pattern.augment import (
    augmentation_description,
    training_augmentation,
)
from cardiolens.systems.scar_pattern.backbones import ScarNet, build_scar_net
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.data import (
    SliceSet,
    load_slice_set,
    resolve_crop_fraction,
)
from cardiolens.systems.scar_pattern.model import (
    SPLIT_FILE,
    SYSTEM,
    WEIGHTS_FILE,
    case_aggregation,
)
from cardiolens.train.fit import fit_keep_best
from cardiolens.train.module import SupervisedModule


class ScarModule(SupervisedModule):
    """Lightning wrapper: batches are (images (B, C, H, W), slice class (B,)); class-weighted cross-entropy."""

    def __init__(self, network: ScarNet, lr: float, weight_decay: float, class_weights: np.ndarray) -> None:
        super().__init__(network, lr, weight_decay)
        self.register_buffer("class_weights", torch.as_tensor(class_weights, dtype=torch.float32))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, weight=self.class_weights)


class SliceDataset(Dataset):  # type: ignore[type-arg]
    """Slices as (image (C, H, W) float32, class index) samples, augmented when ``augment`` is given."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, augment: Callable[[np.ndarray], Any] | None = None) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.augment is not None:
            image = np.asarray(self.augment(image), dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)), torch.tensor(self.labels[index])


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights n / (K * n_k), normalised to mean 1 over the present classes; 0 for absent classes."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    present = weights > 0
    return weights / weights[present].mean()


def subject_records(slices: SliceSet) -> list[SubjectRecord]:
    """One record per subject, labelled with its case class (for stratified splits)."""
    return [SubjectRecord(subject_id=sid, label=slices.class_names[code]) for sid, code in slices.case_labels.items()]


def split_subjects(slices: SliceSet, config: ScarPatternConfig, source: str) -> tuple[list[str], list[str], str]:
    """(training ids, validation ids, method): patient-level and stratified on the case class when possible."""
    records = subject_records(slices)
    if len(records) < 2:
        raise UsageError(f"{source}: {len(records)} usable subject(s); training needs at least 2")
    train, val, method = validation_split(records, config.val_fraction, config.seed)
    if not train or not val:
        raise UsageError(f"{source}: the split leaves {len(train)} training and {len(val)} validation subjects; both need some")
    return train, val, method


def _loaders(train: SliceSet, val: SliceSet, config: ScarPatternConfig) -> tuple[DataLoader, DataLoader]:  # type: ignore[type-arg]
    augment = training_augmentation(config.rotation_deg, config.flip_prob)
    augment.set_random_state(seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_data = SliceDataset(train.images, train.labels, augment)
    # drop a last batch of one slice: BatchNorm statistics of a single image are degenerate
    train_loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=True, generator=generator,
                              drop_last=len(train_data) % config.batch_size == 1)
    val_loader = DataLoader(SliceDataset(val.images, val.labels), batch_size=max(config.batch_size, 32))
    return train_loader, val_loader


def fit_network(train: SliceSet, val: SliceSet, config: ScarPatternConfig, log_dir: Path | None) -> tuple[ScarNet, dict[str, Any]]:
    """Build the backbone, warm up its head with the backbone frozen, then fine-tune; returns the network and a summary."""
    torch.set_num_threads(max(1, config.num_threads))
    torch.manual_seed(config.seed)  # the head's initial weights
    network, weights = build_scar_net(config.backbone, len(train.channels), len(train.class_names), dropout=config.dropout,
                                      pretrained=config.pretrained, weights=config.weights)
    weights_k = class_weights(train.labels, len(train.class_names))
    train_loader, val_loader = _loaders(train, val, config)
    summary: dict[str, Any] = {"weights": weights, "class_weights": [float(w) for w in weights_k], "phases": {}}
    started = time.perf_counter()
    phases = [("warmup", False, config.lr, config.warmup_epochs), ("finetune", True, config.lr * config.finetune_lr_factor, config.epochs)]
    for name, trainable, lr, epochs in phases:
        if epochs <= 0:
            continue
        network.set_backbone_trainable(trainable)
        network.train()  # Lightning keeps the modes it finds; the previous phase ended in eval mode
        module = ScarModule(network, lr, config.weight_decay, weights_k)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # the frozen encoder, on purpose
            best = fit_keep_best(module, train_loader, val_loader, max_epochs=epochs, monitor="val_loss", mode="min",
                                 patience=config.patience if trainable else epochs,
                                 log_dir=None if log_dir is None else log_dir / name, seed=config.seed)
        network = module.network
        summary["phases"][name] = {"epochs_run": best.epochs_run, "best_epoch": best.best_epoch, "best_val_loss": best.best_value, "lr": lr}
    network.set_backbone_trainable(True)
    summary["train_seconds"] = round(time.perf_counter() - started, 1)
    return network.eval(), summary


def _card(slices: SliceSet, config: ScarPatternConfig, train_ids: Sequence[str], val_ids: Sequence[str], method: str,
          source: str, bad: list[BadCase]) -> ModelCard:
    counts = np.bincount(slices.labels, minlength=len(slices.class_names))
    return ModelCard(
        system=SYSTEM,
        config=config.to_dict(),
        class_names=list(slices.class_names),
        trained_subject_ids=sorted([*train_ids, *val_ids]),
        data={
            "path": source,
            "layout": slices.layout,
            "channels": list(slices.channels),
            "n_subjects": len(slices.case_labels),
            "n_slices": len(slices.labels),
            "slices_per_class": {name: int(c) for name, c in zip(slices.class_names, counts)},
            "n_train_subjects": len(train_ids),
            "n_val_subjects": len(val_ids),
            "split_method": method,
            "case_aggregation": case_aggregation(config, slices.layout, len(slices.class_names)),
            "augmentation": augmentation_description(config.rotation_deg, config.flip_prob),
            "bad_cases": [vars(b) for b in bad],
        },
        simulated_training_data=slices.simulated,
        notes=[f"bad case {b.subject_id}: {b.problem} ({b.path})" for b in bad],
    )


def train(data: str | Path, out: str | Path, config: ScarPatternConfig | None = None) -> Path:
    """Train on the slices of ``data`` and write the model directory ``out`` (atomically); returns ``out``.

    Raises:
        UsageError: fewer than two usable subjects or an empty split side.
        cardiolens.errors.DataError: no readable slice at all (names the folder).
    """
    config = config or ScarPatternConfig()
    slices, bad = load_slice_set(data, config)
    # the card keeps what was used, so prediction preprocesses single studies the same way
    config = dataclasses.replace(config, channels=slices.channels, crop_fraction=resolve_crop_fraction(slices.layout, config.crop_fraction))
    source = str(data)
    train_ids, val_ids, method = split_subjects(slices, config, source)
    train_set, val_set = slices.subset(train_ids), slices.subset(val_ids)
    card = _card(slices, config, train_ids, val_ids, method, source, bad)
    with model_dir_writer(out, card) as tmp:
        network, summary = fit_network(train_set, val_set, config, tmp)
        torch.save(network.state_dict(), tmp / WEIGHTS_FILE)
        card.data["weights"] = summary.pop("weights")
        card.data["training"] = summary
        card.notes.append(f"backbone {config.backbone}: {card.data['weights'].get('source')}; trained in {summary['train_seconds']} s")
        split = {"method": method, "train": list(train_ids), "val": list(val_ids)}
        (tmp / SPLIT_FILE).write_text(json.dumps(split, indent=1), encoding="utf-8")
    return Path(out)


__all__ = ["ScarModule", "SliceDataset", "class_weights", "fit_network", "split_subjects", "subject_records", "train"]
