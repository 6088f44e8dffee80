"""Train ``lge``: a 3-D or 2-D U-Net on labelled LGE stacks, or record a threshold (``nsd``/``fwhm``) model.

Network model directory: ``model.json`` (card with the training and
validation subject ids), ``weights.pt`` (best validation epoch),
``model.onnx`` (checked against eager), ``split.json`` and ``logs/``.
A threshold model directory holds only its card: nothing is learnt, and it
inherits the subject ids of its ``myocardium_model``.
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
from cardiolens.data.labels import LGE_LABELS
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.io.layouts import scan
from cardiolens.systems.lge.config import LGEConfig
from cardiolens.systems.lge.data import centre_crop, load_volume, network_input
from cardiolens.systems.lge.model import (
    MYOCARDIUM_LABELS,
    N_CLASSES,
    ONNX_FILE,
    SCAR_LABELS,
    WEIGHTS_FILE,
    StackSegmenter,
    build_network,
    export_onnx,
)
from cardiolens.systems.model_dir import ModelCard, model_dir_writer, read_card, require_system
from cardiolens.train.fit import fit_keep_best

SYSTEM = "lge"
SPLIT_FILE = "split.json"
ONNX_TOLERANCE = 1e-3
CLASS_NAMES = sorted(LGE_LABELS, key=LGE_LABELS.__getitem__)


def training_stack(cohort: Cohort, subject_id: str, config: LGEConfig) -> tuple[np.ndarray, np.ndarray]:
    """(image, labels), both (z, s, s): the scaled centre crop and its labels."""
    volume = load_volume(cohort, subject_id)
    if volume.labels is None or volume.label_scheme != "lge":
        raise MissingDataError(volume.source, "lge training needs LGE label masks (0 background, 1 cavity, 2 myocardium, 3 infarct, 4 MVO)")
    image = network_input(volume.image, config.inplane_px, config.intensity_percentiles)
    return image, centre_crop(np.asarray(volume.labels, dtype=np.uint8), config.inplane_px)


def _readable_stacks(cohort: Cohort, subject_ids: list[str], config: LGEConfig, skipped: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training stacks of ``subject_ids``; a subject that cannot be read is dropped from ``subject_ids`` and noted in ``skipped``."""
    stacks = []
    for sid in list(subject_ids):
        try:
            stacks.append(training_stack(cohort, sid, config))
        except DataError as exc:
            subject_ids.remove(sid)
            skipped.append(str(exc))
    return stacks


def _augmentation(config: LGEConfig) -> Any:
    from monai.transforms import Compose, RandAdjustContrastd, RandAffined, RandFlipd, RandGaussianNoised

    # The slices are the channels of a 2-D transform: every slice of a stack gets the same in-plane motion.
    transform = Compose([
        RandAffined(["image", "label"], prob=0.9, rotate_range=(np.pi,), scale_range=(config.scale_range, config.scale_range),
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
        RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
        RandAdjustContrastd("image", prob=0.5, gamma=(0.7, 1.5)),
        RandGaussianNoised("image", prob=0.3, std=0.03),
    ])
    transform.set_random_state(seed=config.seed)
    return transform


def random_patch(image: np.ndarray, label: np.ndarray, size_px: int, rng: np.random.Generator, foreground_share: float = 2 / 3) -> tuple[np.ndarray, np.ndarray]:
    """An in-plane ``size_px`` window of (z, y, x) arrays: centred on a random labelled pixel with ``foreground_share``, else anywhere."""
    ny, nx = image.shape[-2:]
    foreground = np.argwhere(label.any(axis=0))
    if len(foreground) and rng.random() < foreground_share:
        cy, cx = foreground[rng.integers(len(foreground))]
    else:
        cy, cx = rng.integers(ny), rng.integers(nx)
    y0 = int(np.clip(cy - size_px // 2, 0, ny - size_px))
    x0 = int(np.clip(cx - size_px // 2, 0, nx - size_px))
    return image[:, y0:y0 + size_px, x0:x0 + size_px], label[:, y0:y0 + size_px, x0:x0 + size_px]


class AugmentedStacks(Dataset):
    """Augmented training patches: of whole stacks (``unet3d``, (1, z, p, p)) or single slices (``unet2d``, (1, p, p))."""

    def __init__(self, stacks: Sequence[tuple[np.ndarray, np.ndarray]], config: LGEConfig) -> None:
        self.three_d = config.variant == "unet3d"
        self.items = list(stacks) if self.three_d else [(img[z:z + 1], lab[z:z + 1]) for img, lab in stacks for z in range(len(img))]
        self.repeats = max(1, config.repeats)
        self.patch_px = config.training_patch_px
        self.transform = _augmentation(config) if config.augment else None
        self.rng = np.random.default_rng(config.seed)

    def __len__(self) -> int:
        return len(self.items) * self.repeats

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.items[index % len(self.items)]
        if self.transform is not None:
            sample = self.transform({"image": image.astype(np.float32), "label": label.astype(np.float32)})
            image, label = np.asarray(sample["image"]), np.asarray(sample["label"])
            if self.three_d and self.rng.random() < 0.5:  # base/apex order is not fixed across datasets
                image, label = image[::-1], label[::-1]
        if self.patch_px:
            image, label = random_patch(image, label, self.patch_px, self.rng)
        image_t = torch.as_tensor(np.ascontiguousarray(image), dtype=torch.float32)
        label_t = torch.as_tensor(np.ascontiguousarray(label), dtype=torch.long)
        if self.three_d:
            return image_t[None], label_t[None]
        return image_t, label_t


def pad_slices_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack samples, zero-padding the slice axis (dim 1 after the channel) of 3-D stacks to the longest."""
    images, labels = zip(*batch, strict=True)
    if images[0].ndim == 4:
        depth = max(i.shape[1] for i in images)
        images = tuple(torch.nn.functional.pad(i, (0, 0, 0, 0, 0, depth - i.shape[1])) for i in images)
        labels = tuple(torch.nn.functional.pad(lab, (0, 0, 0, 0, 0, depth - lab.shape[1])) for lab in labels)
    return torch.stack(images), torch.stack(labels)


class _PooledDice:
    """Dice of myocardium and scar pooled over all voxels of the validation cases of one epoch."""

    def __init__(self) -> None:
        self.counts = np.zeros((2, 3))  # (myocardium, scar) x (intersection, predicted, true)

    def add(self, predicted: torch.Tensor, truth: torch.Tensor) -> None:
        for row, labels in enumerate((MYOCARDIUM_LABELS, SCAR_LABELS)):
            p, t = torch.isin(predicted, torch.tensor(labels)), torch.isin(truth, torch.tensor(labels))
            self.counts[row] += [int((p & t).sum()), int(p.sum()), int(t.sum())]

    def score(self) -> tuple[float, float]:
        dice = [2 * i / (p + t) if p + t else 1.0 for i, p, t in self.counts]
        self.counts[:] = 0
        return dice[0], dice[1]


def _module(network: Any, config: LGEConfig) -> Any:
    import lightning as L
    from monai.losses import DiceCELoss

    three_d = config.variant == "unet3d"

    class LGEModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.loss = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
            self.pooled = _PooledDice()

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            image, label = batch
            loss = self.loss(self.network(image), label)
            self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(image))
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            image, label = batch  # one case: (1, 1, z, s, s) and (1, z, s, s)
            logits = self.network(image if three_d else image[0].transpose(0, 1))
            predicted = logits.argmax(dim=1)
            self.pooled.add(predicted[0] if three_d else predicted, label[0])

        def on_validation_epoch_end(self) -> None:
            dice_myocardium, dice_scar = self.pooled.score()
            self.log_dict({"val_dice_myocardium": dice_myocardium, "val_dice_scar": dice_scar,
                           "val_score": (dice_myocardium + dice_scar) / 2})

        def configure_optimizers(self) -> Any:
            optimiser = torch.optim.AdamW(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, config.epochs))
            return [optimiser], [schedule]

    return LGEModule()


def _record_threshold_model(cohort_path: str, out: str | Path, config: LGEConfig) -> Path:
    trained: list[str] = []
    notes = [f"{config.variant} thresholds (n_sd={config.n_sd:g}) inside the myocardium; nothing is learnt"]
    if config.myocardium_model:
        card = read_card(config.myocardium_model)
        require_system(card, SYSTEM, config.myocardium_model)
        if not LGEConfig.from_dict(card.config).is_network:
            raise UsageError(f"myocardium_model {config.myocardium_model} must be a unet3d or unet2d model")
        trained = list(card.trained_subject_ids)
        notes.append(f"myocardium from the network at {config.myocardium_model} (its training subjects are refused by evaluate)")
    else:
        notes.append("myocardium from each study's own labels (evaluate then scores the thresholds alone)")
    card = ModelCard(system=SYSTEM, config=config.to_dict(), class_names=CLASS_NAMES, trained_subject_ids=trained,
                     data={"path": cohort_path}, notes=notes)
    with model_dir_writer(out, card):
        pass
    return Path(out)


def train(data: str | Path | Cohort, out: str | Path, config: LGEConfig | None = None, subject_ids: Sequence[str] | None = None) -> Path:
    """Train ``config.variant`` on the labelled stacks of ``data`` (optionally only ``subject_ids``); write the model directory ``out``."""
    config = config or LGEConfig()
    cohort = data if isinstance(data, Cohort) else scan(data)
    if not config.is_network:
        return _record_threshold_model(str(cohort.root), out, config)
    torch.set_num_threads(max(1, config.num_threads))
    records = [r for r in cohort.records if subject_ids is None or r.subject_id in set(subject_ids)]
    if len(records) < 2:
        raise UsageError(f"{cohort.root}: lge needs at least 2 labelled subjects, found {len(records)}")
    train_ids, val_ids, _ = validation_split(records, config.val_fraction, config.seed)
    skipped: list[str] = []
    train_stacks = _readable_stacks(cohort, train_ids, config, skipped)
    val_stacks = _readable_stacks(cohort, val_ids, config, skipped)
    if not train_stacks or not val_stacks:
        raise UsageError(f"{cohort.root}: too few readable labelled subjects to train lge ({'; '.join(skipped[:3])})")
    torch.manual_seed(config.seed)  # the initial weights (fit_keep_best seeds only the training that follows)
    network = build_network(config)
    started = time.perf_counter()
    loader = DataLoader(AugmentedStacks(train_stacks, config), batch_size=config.effective_batch_size, shuffle=True,
                        collate_fn=pad_slices_collate, generator=torch.Generator().manual_seed(config.seed),
                        drop_last=len(train_stacks) > config.effective_batch_size)
    val_data = [(torch.from_numpy(img)[None, None], torch.from_numpy(lab.astype(np.int64))[None]) for img, lab in val_stacks]
    val_loader = DataLoader(val_data, batch_size=None)
    card = ModelCard(
        system=SYSTEM,
        config=config.to_dict(),
        class_names=CLASS_NAMES,
        trained_subject_ids=sorted(set(train_ids) | set(val_ids)),
        data={"path": str(cohort.root), "layout": cohort.layout, "n_subjects": len(records), "n_train": len(train_ids),
              "n_val": len(val_ids), "n_training_slices": int(sum(len(img) for img, _ in train_stacks))},
        simulated_training_data=bool(getattr(cohort, "simulated", False)),
        notes=["labels: 0 background, 1 LV cavity, 2 normal myocardium, 3 infarct, 4 MVO",
               "trained_subject_ids include the validation subjects used for early stopping",
               *(f"skipped (unreadable): {problem}" for problem in skipped)],
    )
    with model_dir_writer(out, card) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*single channel prediction.*")
        result = fit_keep_best(_module(network, config), loader, val_loader, max_epochs=config.epochs, monitor="val_score", mode="max",
                               patience=config.patience, log_dir=tmp, seed=config.seed, accelerator=config.accelerator)
        torch.save(network.state_dict(), tmp / WEIGHTS_FILE)
        export_onnx(network, config, tmp / ONNX_FILE)
        check = load_volume(cohort, val_ids[0]).image
        eager = StackSegmenter(network, config).probabilities(check)
        onnx = StackSegmenter(None, config, onnx_path=tmp / ONNX_FILE).probabilities(check)
        diff = float(np.max(np.abs(eager - onnx)))
        if diff > ONNX_TOLERANCE:
            raise RuntimeError(f"{tmp / ONNX_FILE}: ONNX Runtime differs from eager by {diff:.2e}")
        (tmp / SPLIT_FILE).write_text(json.dumps({"train": train_ids, "val": val_ids, "best_epoch": result.best_epoch,
                                                  "best_val_score": result.best_value, "epochs_run": result.epochs_run,
                                                  "train_seconds": round(time.perf_counter() - started, 1)}, indent=1),
                                      encoding="utf-8")
        card.notes.append(f"best epoch {result.best_epoch} of {result.epochs_run} (validation mean of myocardium and scar Dice "
                          f"{result.best_value:.3f}); ONNX vs eager max |probability diff| {diff:.1e}; {N_CLASSES} classes")
    return Path(out)
