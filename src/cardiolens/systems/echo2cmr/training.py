"""Train ``echo2cmr``: patient-level split, one R(2+1)D network per echo view, ONNX export, model directory.

Split: :func:`~cardiolens.data.cohort.validation_split` on the pairs
(grouped by the pseudonymous subject, so no person is on both sides),
stratified on WMA when :func:`~cardiolens.data.cohort.can_stratify` allows;
``config.val_fraction`` of the pairs steer early stopping.

Samples are videos: a pair with two videos of a view gives two samples with the
pair's labels. Each epoch draws a random clip start per video and, with
``config.augment``, a :class:`~cardiolens.systems.echo2cmr.clips.ClipAugmenter`
transform, then z-scores the clip. The randomness comes from a generator seeded
with ``config.seed`` (re-seeded from the DataLoader worker seed when workers
are used), so a run is reproducible. Validation uses the first evaluation
clip of each video, unaugmented.

A view is trained when it has at least :data:`MIN_TRAIN_VIDEOS` training
videos holding both WMA classes and at least one validation video; other
views are skipped and named in the card notes. ``torch.manual_seed(config.seed)``
precedes each network's construction, so a view's initial weights do not
depend on the other views.

Model directory: see :mod:`cardiolens.systems.echo2cmr.model`. The card's
``trained_subject_ids`` are the pseudonymous subject keys of the training
and validation pairs; ``evaluate`` recomputes them with ``id_key.txt`` and
refuses those subjects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from cardiolens.data.cohort import validation_split
from cardiolens.errors import UsageError
from cardiolens.systems.echo2cmr.clips import (
    ClipAugmenter,
    clip_indices,
    eval_starts,
    normalise_clip,
    random_start,
)
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.echo2cmr.data import (
    EchoVideo,
    PairedEchoDataset,
    load_paired_dataset,
)
from cardiolens.systems.echo2cmr.model import (
    ID_KEY_FILE,
    ONNX_FILE,
    SPLIT_FILE,
    SYSTEM,
    VIEWS_DIR,
    WEIGHTS_FILE,
    build_network,
    check_onnx,
    export_onnx,
    label_pos_weight,
    masked_bce,
    view_dir_name,
)
from cardiolens.systems.model_dir import ModelCard, model_dir_writer
from cardiolens.train.fit import fit_keep_best
from cardiolens.train.module import SupervisedModule

#: Fewest training videos of a view worth a network.
MIN_TRAIN_VIDEOS = 4
#: Validation clips compared between ONNX Runtime and eager at export.
N_ONNX_CHECK = 4


class Echo2CmrModule(SupervisedModule):
    """Lightning wrapper: batches are (clips (batch, 1, T, S, S), labels (batch, n_labels) 1/0/NaN).

    Logs ``train_loss`` and ``val_loss`` (masked BCE, per epoch); early stopping follows ``val_loss``.
    """

    def __init__(self, config: Echo2CmrConfig, pos_weight: Sequence[float] | None = None) -> None:
        super().__init__(build_network(config), config.lr, config.weight_decay)
        self.config = config
        weights = np.ones(len(LABELS), np.float32) if pos_weight is None else np.asarray(pos_weight, np.float32)
        self.register_buffer("pos_weight", torch.from_numpy(weights.copy()))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return masked_bce(outputs, targets, self.pos_weight)


class VideoClipDataset(Dataset):  # type: ignore[type-arg]
    """Videos as (clip (1, T, S, S) float32, labels (n_labels,) float32 with NaN) samples.

    Args:
        videos: the videos (one sample each).
        labels: (len(videos), n_labels) labels of each video's pair.
        config: clip settings and ``augment``.
        train: random clip start and augmentation (else the first evaluation clip, unaugmented).
        seed: seed of the clip-start generator and the augmentation.
    """

    def __init__(self, videos: list[EchoVideo], labels: np.ndarray, config: Echo2CmrConfig, train: bool, seed: int = 0) -> None:
        self.videos = videos
        self.labels = np.asarray(labels, dtype=np.float32).reshape(len(videos), len(LABELS))
        self.config = config
        self.train = train
        self.augmenter = ClipAugmenter(config.image_size, seed) if train and config.augment else None
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        if self.augmenter is not None:
            self.augmenter.reseed(seed)

    def __len__(self) -> int:
        return len(self.videos)

    def clip(self, index: int) -> np.ndarray:
        """(T, S, S) float32 normalised clip of video ``index``."""
        video = self.videos[index]
        if self.train:
            start = random_start(video.n_frames, video.fps, self.config, self.rng)
        else:
            start = eval_starts(video.n_frames, video.fps, self.config)[0]
        frames = video.frames[clip_indices(video.n_frames, video.fps, start, self.config)]
        if self.augmenter is not None:
            frames = self.augmenter(frames)
        return normalise_clip(frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.clip(index)[None]), torch.from_numpy(self.labels[index].copy())


def _seed_worker(_: int) -> None:
    """DataLoader worker init: re-seed the dataset from the worker's seed (derived from the loader generator)."""
    info = get_worker_info()
    if info is not None and isinstance(info.dataset, VideoClipDataset):
        info.dataset.reseed(int(info.seed % 2**32))


def split_pairs(dataset: PairedEchoDataset, config: Echo2CmrConfig) -> tuple[list[str], list[str], str]:
    """(training pair ids, validation pair ids, method): patient-level, stratified on WMA when possible.

    Raises:
        UsageError: fewer than 2 subjects, or a side left empty.
    """
    records = dataset.records()
    n_subjects = len({r.patient_id for r in records})
    if n_subjects < 2:
        raise UsageError(f"{dataset.path}: {len(records)} usable pair(s) from {n_subjects} subject(s); training needs at least 2 subjects")
    train, val, method = validation_split(records, config.val_fraction, config.seed)  # records are labelled by WMA
    if not train or not val:
        raise UsageError(f"{dataset.path}: the split leaves {len(train)} training and {len(val)} validation pairs; both need some")
    return train, val, method


def view_samples(dataset: PairedEchoDataset, view: str) -> tuple[list[EchoVideo], np.ndarray]:
    """The videos of ``view`` and their pairs' labels (n_videos, n_labels)."""
    labels = dict(zip(dataset.pair_ids, dataset.label_matrix()))
    videos, rows = [], []
    for pair_id, video in dataset.all_videos():
        if video.view == view:
            videos.append(video)
            rows.append(labels[pair_id])
    return videos, np.asarray(rows, dtype=np.float32).reshape(len(videos), len(LABELS))


def trainable_reason(train_labels: np.ndarray, n_val: int) -> str | None:
    """Why a view cannot be trained (None when it can)."""
    wma = train_labels[:, LABELS.index("wma")] if len(train_labels) else np.zeros(0)
    if len(train_labels) < MIN_TRAIN_VIDEOS:
        return f"{len(train_labels)} training video(s), fewer than {MIN_TRAIN_VIDEOS}"
    if not (np.any(wma == 1) and np.any(wma == 0)):
        return "the training videos do not hold both WMA classes"
    if n_val < 1:
        return "no validation video"
    return None


def _label_counts(labels: np.ndarray) -> dict[str, dict[str, int]]:
    return {
        label: {"known": int(np.isfinite(labels[:, j]).sum()), "positive": int(np.sum(labels[:, j] == 1))}
        for j, label in enumerate(LABELS)
    }


def _card(dataset: PairedEchoDataset, config: Echo2CmrConfig, train_ids: list[str], val_ids: list[str], method: str) -> ModelCard:
    keys = dict(zip(dataset.pairs["pair_id"], dataset.pairs["subject_key"]))
    trained = sorted({str(keys[p]) for p in [*train_ids, *val_ids]})
    stats = dict(dataset.pairing.stats) if dataset.pairing is not None else {}
    data: dict[str, Any] = {
        "path": str(dataset.path),
        "layout": dataset.layout,
        "n_subjects": len(set(keys.values())),
        "n_pairs": len(dataset),
        "n_train_pairs": len(train_ids),
        "n_val_pairs": len(val_ids),
        "n_videos": len(dataset.all_videos()),
        "n_bad_cases": len(dataset.bad_cases),
        "split_method": method,
        "labels": _label_counts(dataset.label_matrix()),
        "pairing": stats,
        "views": [],
        "view_dirs": {},
        "per_view": {},
    }
    return ModelCard(
        system=SYSTEM,
        config=config.to_dict(),
        class_names=list(LABELS),
        trained_subject_ids=trained,
        data=data,
        simulated_training_data=bool(dataset.simulated),
        notes=[
            "trained_subject_ids are keyed pseudonyms (id_key.txt) of the training and validation subjects",
            "one network per echo view; outputs are logits of " + ", ".join(LABELS),
        ],
    )


def _fit_view(
    view: str,
    train_set: tuple[list[EchoVideo], np.ndarray],
    val_set: tuple[list[EchoVideo], np.ndarray],
    config: Echo2CmrConfig,
    folder: Path,
) -> dict[str, Any]:
    """Train, save and export one view's network into ``folder``; returns its summary for the card."""
    train_videos, train_labels = train_set
    val_videos, val_labels = val_set
    pos_weight = label_pos_weight(train_labels)
    torch.manual_seed(config.seed)  # the initial weights
    module = Echo2CmrModule(config, pos_weight)
    train_data = VideoClipDataset(train_videos, train_labels, config, train=True, seed=config.seed)
    val_data = VideoClipDataset(val_videos, val_labels, config, train=False, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # drop only a last batch of one video: batch norm statistics of a single clip are degenerate
    train_loader = DataLoader(
        train_data, batch_size=config.batch_size, shuffle=True, generator=generator,
        worker_init_fn=_seed_worker, drop_last=len(train_data) % config.batch_size == 1,
    )
    val_loader = DataLoader(val_data, batch_size=max(config.batch_size, 16))
    folder.mkdir(parents=True, exist_ok=True)
    best = fit_keep_best(module, train_loader, val_loader, max_epochs=config.epochs, monitor="val_loss", mode="min",
                         patience=config.patience, log_dir=folder, seed=config.seed)
    network = module.network.eval()
    torch.save(network.state_dict(), folder / WEIGHTS_FILE)
    export_onnx(network, config, folder / ONNX_FILE)
    check = np.stack([val_data.clip(i) for i in range(min(N_ONNX_CHECK, len(val_data)))])[:, None]
    diff = check_onnx(network, folder / ONNX_FILE, check, config.num_threads)
    return {
        "n_train_videos": len(train_videos),
        "n_val_videos": len(val_videos),
        "pos_weight": [float(w) for w in pos_weight],
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best_value,
        "epochs_run": best.epochs_run,
        "onnx_max_abs_diff": diff,
    }


def train(data: str | Path | PairedEchoDataset, out: str | Path, config: Echo2CmrConfig | None = None) -> Path:
    """Train on ``data`` and write the model directory ``out`` (replaced atomically on success); returns ``out``.

    Args:
        data: a data folder (see :func:`~cardiolens.systems.echo2cmr.data.load_paired_dataset`; a new
            pseudonym key is drawn) or an already loaded :class:`PairedEchoDataset` (its ``id_key`` is kept).
        out: the model directory.
        config: settings (defaults if None); ``config.views`` restricts the views trained.

    Raises:
        UsageError: no usable pairs, an empty split side, or no trainable view.
        cardiolens.errors.DataError: unreadable tables (names the file).
    """
    from cardiolens.systems.echo2cmr.pairing import new_id_key

    config = config or Echo2CmrConfig()
    torch.set_num_threads(max(1, config.num_threads))
    if isinstance(data, PairedEchoDataset):
        dataset = data
        if not dataset.id_key:
            raise UsageError("the PairedEchoDataset has no id_key; load it with load_paired_dataset(path, config, id_key)")
    else:
        dataset = load_paired_dataset(data, config, new_id_key())
    if len(dataset) == 0:
        raise UsageError(f"{dataset.path}: no usable echo-CMR pair (pairing window {config.window_days} days, "
                         f"{len(dataset.bad_cases)} bad case(s))")
    train_ids, val_ids, method = split_pairs(dataset, config)
    train_part, val_part = dataset.subset(train_ids), dataset.subset(val_ids)
    wanted = [v.upper() for v in config.views] if config.views else dataset.views()
    candidates: list[tuple[str, tuple[list[EchoVideo], np.ndarray], tuple[list[EchoVideo], np.ndarray]]] = []
    skipped: list[str] = []
    for view in wanted:
        train_set, val_set = view_samples(train_part, view), view_samples(val_part, view)
        reason = trainable_reason(train_set[1], len(val_set[0]))
        if reason is None:
            candidates.append((view, train_set, val_set))
        else:
            skipped.append(f"view {view} not trained: {reason}")
    if not candidates:
        raise UsageError(f"{dataset.path}: no echo view can be trained ({'; '.join(skipped) or 'no videos'}); each view needs "
                         f"at least {MIN_TRAIN_VIDEOS} training videos with both WMA classes and a validation video")
    # fallback order for unseen views: most training videos first
    candidates.sort(key=lambda c: (-len(c[1][0]), c[0]))
    card = _card(dataset, config, train_ids, val_ids, method)
    card.notes.extend(skipped)
    with model_dir_writer(out, card) as tmp:
        for view, train_set, val_set in candidates:
            folder_name = view_dir_name(view)
            summary = _fit_view(view, train_set, val_set, config, tmp / VIEWS_DIR / folder_name)
            card.data["views"].append(view)
            card.data["view_dirs"][view] = folder_name
            card.data["per_view"][view] = summary
            card.notes.append(f"{view}: best epoch {summary['best_epoch']} (val_loss {summary['best_val_loss']:.4f}); "
                              f"ONNX vs eager max |diff| {summary['onnx_max_abs_diff']:.1e}")
        (tmp / ID_KEY_FILE).write_text(dataset.id_key + "\n", encoding="utf-8")
        split = {"method": method, "train": train_ids, "val": val_ids, "per_view": card.data["per_view"]}
        (tmp / SPLIT_FILE).write_text(json.dumps(split, indent=1), encoding="utf-8")
    return Path(out)


__all__ = ["MIN_TRAIN_VIDEOS", "VideoClipDataset", "split_pairs", "train", "trainable_reason", "view_samples"]
