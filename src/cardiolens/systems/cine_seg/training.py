"""Train ``cine-seg`` on the ED/ES ground truth and write the model directory.

Model directory: ``model.json`` (card with the training and validation
subject ids), ``weights.pt`` (best validation epoch), ``model.onnx``
(checked against eager), ``split.json`` and ``logs/``.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cardiolens.data.cohort import Cohort, validation_split
from cardiolens.data.labels import CINE_LABELS
from cardiolens.errors import UsageError
from cardiolens.io.layouts import scan
from cardiolens.systems.cine_seg.config import CineSegConfig
from cardiolens.systems.cine_seg.data import GroundTruthFrame, ground_truth_frames
from cardiolens.systems.cine_seg.model import N_CLASSES, SliceSegmenter, build_unet, export_onnx, normalise_slices, pad_to_multiple
from cardiolens.systems.model_dir import ModelCard, model_dir_writer
from cardiolens.train.fit import fit_keep_best

SYSTEM = "cine-seg"
WEIGHTS_FILE = "weights.pt"
ONNX_FILE = "model.onnx"
SPLIT_FILE = "split.json"
ONNX_TOLERANCE = 1e-3


def _augmentation(config: CineSegConfig) -> Any:
    from monai.transforms import (
        Compose,
        RandAdjustContrastd,
        RandAffined,
        RandCropByPosNegLabeld,
        RandFlipd,
        RandGaussianNoised,
        ScaleIntensityRangePercentilesd,
        SpatialPadd,
    )

    size = (config.patch_px, config.patch_px)
    low, high = config.intensity_percentiles
    steps: list[Any] = [
        SpatialPadd(["image", "label"], size),
        RandCropByPosNegLabeld(["image", "label"], "label", size, pos=config.pos_neg_ratio, neg=1.0, num_samples=1, allow_smaller=True),
    ]
    if config.augment:
        steps += [
            RandAffined(["image", "label"], prob=0.9, rotate_range=(np.pi,), scale_range=(config.scale_range, config.scale_range),
                        mode=("bilinear", "nearest"), padding_mode="zeros"),
            RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
            RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
        ]
    # Percentiles of the patch, as inference takes them of whatever slice it is given.
    steps.append(ScaleIntensityRangePercentilesd("image", low, high, 0.0, 1.0, clip=True))
    if config.augment:
        steps += [RandAdjustContrastd("image", prob=0.5, gamma=(0.7, 1.5)), RandGaussianNoised("image", prob=0.3, std=0.03)]
    transform = Compose(steps)
    transform.set_random_state(seed=config.seed)
    return transform


class SlicePatches(Dataset):
    """Random augmented patches of the training slices (one per slice per epoch by default)."""

    def __init__(self, frames: Sequence[GroundTruthFrame], config: CineSegConfig) -> None:
        self.slices = [(f.image_zyx[z], f.labels_zyx[z]) for f in frames for z in range(f.image_zyx.shape[0])]
        self.length = config.samples_per_epoch or len(self.slices)
        self.transform = _augmentation(config)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.slices[index % len(self.slices)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MONAI warns on slices without foreground
            sample = self.transform({"image": image[None].astype(np.float32), "label": label[None].astype(np.float32)})
        sample = sample[0] if isinstance(sample, list) else sample
        return torch.as_tensor(np.asarray(sample["image"]), dtype=torch.float32), torch.as_tensor(np.asarray(sample["label"]), dtype=torch.long)


def _validation_volumes(frames: Sequence[GroundTruthFrame], config: CineSegConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    volumes = []
    for f in frames:
        padded, _ = pad_to_multiple(normalise_slices(f.image_zyx, config.intensity_percentiles), config.size_multiple)
        labels, _ = pad_to_multiple(f.labels_zyx.astype(np.int64), config.size_multiple)
        volumes.append((torch.from_numpy(padded[:, None]), torch.from_numpy(labels)))
    return volumes


def mean_foreground_dice(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean Dice of labels 1-3 over a batch of slices (a structure absent from both counts as 1)."""
    predicted = logits.argmax(dim=1)
    scores = []
    for label in range(1, N_CLASSES):
        p, t = predicted == label, labels == label
        denominator = p.sum() + t.sum()
        scores.append(torch.where(denominator > 0, 2.0 * (p & t).sum() / denominator.clamp(min=1), torch.tensor(1.0)))
    return torch.stack(scores).mean()


def _module(network: Any, config: CineSegConfig) -> Any:
    import lightning as L
    from monai.losses import DiceCELoss

    class CineSegModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.loss = DiceCELoss(to_onehot_y=True, softmax=True)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            image, label = batch
            loss = self.loss(self.network(image), label)
            self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(image))
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            image, label = batch
            self.log("val_dice", mean_foreground_dice(self.network(image[0]), label[0]), on_epoch=True, batch_size=1)

        def configure_optimizers(self) -> Any:
            optimiser = torch.optim.AdamW(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, config.epochs))
            return [optimiser], [schedule]

    return CineSegModule()


def load_frames(cohort: Cohort, subject_ids: Sequence[str]) -> list[GroundTruthFrame]:
    return [frame for sid in subject_ids for frame in ground_truth_frames(cohort, sid)]


def train(data: str | Path | Cohort, out: str | Path, config: CineSegConfig | None = None, subject_ids: Sequence[str] | None = None) -> Path:
    """Train on the ED/ES masks of ``data`` (optionally only ``subject_ids``) and write the model directory ``out``."""
    config = config or CineSegConfig()
    start_s = time.perf_counter()
    torch.set_num_threads(max(1, config.num_threads))
    if isinstance(data, Cohort):
        cohort = data
    else:
        cohort = scan(data)
    records = [r for r in cohort.records if subject_ids is None or r.subject_id in set(subject_ids)]
    if len(records) < 2:
        raise UsageError(f"{cohort.root}: cine-seg needs at least 2 subjects with ED/ES masks, found {len(records)}")
    train_ids, val_ids, _ = validation_split(records, config.val_fraction, config.seed)
    train_frames, val_frames = load_frames(cohort, train_ids), load_frames(cohort, val_ids)
    torch.manual_seed(config.seed)  # the initial weights (fit_keep_best seeds only the training that follows)
    network = build_unet(config)
    loader = DataLoader(SlicePatches(train_frames, config), batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed), drop_last=len(train_frames) > 1)
    val_loader = DataLoader(_validation_volumes(val_frames, config), batch_size=1)
    card = ModelCard(
        system=SYSTEM,
        config=config.to_dict(),
        class_names=sorted(CINE_LABELS, key=CINE_LABELS.__getitem__),
        trained_subject_ids=sorted(set(train_ids) | set(val_ids)),
        data={"path": str(cohort.root), "layout": cohort.layout, "n_subjects": len(records), "n_train": len(train_ids),
              "n_val": len(val_ids), "n_training_slices": int(sum(f.image_zyx.shape[0] for f in train_frames))},
        simulated_training_data=bool(getattr(cohort, "simulated", False)),
        notes=["labels: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity",
               "trained_subject_ids include the validation subjects used for early stopping"],
    )
    with model_dir_writer(out, card) as tmp:
        result = fit_keep_best(_module(network, config), loader, val_loader, max_epochs=config.epochs, monitor="val_dice", mode="max",
                               patience=config.patience, log_dir=tmp, seed=config.seed, accelerator=config.accelerator)
        torch.save(network.state_dict(), tmp / WEIGHTS_FILE)
        export_onnx(network, config, tmp / ONNX_FILE)
        check = val_frames[0].image_zyx[: min(4, val_frames[0].image_zyx.shape[0])]
        eager = SliceSegmenter(network, config).probabilities(check)
        onnx = SliceSegmenter(None, config, onnx_path=tmp / ONNX_FILE).probabilities(check)
        diff = float(np.max(np.abs(eager - onnx)))
        if diff > ONNX_TOLERANCE:
            raise RuntimeError(f"{tmp / ONNX_FILE}: ONNX Runtime differs from eager by {diff:.2e}")
        (tmp / SPLIT_FILE).write_text(json.dumps({"train": train_ids, "val": val_ids, "best_epoch": result.best_epoch,
                                                  "best_val_dice": result.best_value, "epochs_run": result.epochs_run,
                                                  "train_s": round(time.perf_counter() - start_s, 1)}, indent=1), encoding="utf-8")
        card.notes.append(f"best epoch {result.best_epoch} of {result.epochs_run} (validation mean Dice {result.best_value:.3f}); "
                          f"ONNX vs eager max |probability diff| {diff:.1e}")
    return Path(out)
