"""The ``echo2cmr`` network, loss, Lightning module, ONNX export and the predictor of a model directory.

Network: :class:`~cardiolens.nn.r2plus1d.R2Plus1D18` (by default inside
:class:`~cardiolens.nn.r2plus1d.WithMotionChannel`) over greyscale clips
(batch, 1, T, S, S) with one logit per label of :data:`LABELS` (multi-label:
each label has its own sigmoid).

Loss: binary cross-entropy per label, averaged over the known labels only
(NaN = unknown, e.g. no T1 map at that CMR): a masked entry contributes
neither loss nor gradient. ``pos_weight`` per label = negatives / positives of
the training videos, clipped to [1, 10] (1 when a label has no positives), so
a rare abnormal label still steers the network.

Model directory (written by :mod:`~cardiolens.systems.echo2cmr.training`):
``model.json`` (card), ``id_key.txt`` (pseudonym key), ``split.json`` and one
folder per trained view ``views/<VIEW>/`` with ``weights.pt`` (state_dict of
the best validation epoch), ``model.onnx`` (input "clip", output "logits",
dynamic batch, opset 17, checked against eager within
:data:`ONNX_TOLERANCE`) and ``logs/``. The card's ``data["views"]`` lists the
trained views in fallback order and ``data["view_dirs"]`` their folder names.

The Lightning module lives in :mod:`~cardiolens.systems.echo2cmr.training`:
Lightning costs about 3 s to import and prediction does not need it.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from cardiolens.errors import DataError, MissingDataError
from cardiolens.nn.r2plus1d import R2Plus1D18, WithMotionChannel
from cardiolens.systems.echo2cmr.clips import clip_tensor_batch, eval_clip_batch
from cardiolens.systems.echo2cmr.config import LABELS, Echo2CmrConfig
from cardiolens.systems.model_dir import ModelCard, read_card, require_system
from cardiolens.systems.onnx_runtime import cpu_session

if TYPE_CHECKING:
    from cardiolens.systems.echo2cmr.data import EchoVideo

SYSTEM = "echo2cmr"
VIEWS_DIR = "views"
WEIGHTS_FILE = "weights.pt"
ONNX_FILE = "model.onnx"
ID_KEY_FILE = "id_key.txt"
SPLIT_FILE = "split.json"
ONNX_INPUT = "clip"
ONNX_OUTPUT = "logits"
#: Largest |ONNX Runtime - eager| logit difference accepted at export.
ONNX_TOLERANCE = 1e-4
#: Bounds of the per-label positive-class weight.
POS_WEIGHT_RANGE = (1.0, 10.0)
#: Clips per forward pass at prediction (bounds memory on long inputs).
PREDICT_BATCH = 16


def build_network(config: Echo2CmrConfig) -> torch.nn.Module:
    """The R(2+1)D-18 the config describes: one logit per label, input (batch, 1, T, S, S).

    With ``config.motion_channel`` the network also sees each frame's
    deviation from the clip's temporal mean (:class:`WithMotionChannel`).
    """
    if not config.motion_channel:
        return R2Plus1D18(in_channels=1, n_outputs=len(LABELS), width=config.width, dropout=config.dropout)
    return WithMotionChannel(R2Plus1D18(in_channels=2, n_outputs=len(LABELS), width=config.width, dropout=config.dropout))


def view_dir_name(view: str) -> str:
    """A folder name for a view (anything but letters, digits, ``-`` and ``_`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", view) or "_"


def label_pos_weight(labels: np.ndarray) -> np.ndarray:
    """Per label n_neg / n_pos over the known entries of (n, n_labels) 0/1/NaN labels, clipped to [1, 10]; 1 without positives."""
    values = np.asarray(labels, dtype=float)
    weights = np.ones(values.shape[1], dtype=np.float32)
    for j in range(values.shape[1]):
        column = values[:, j]
        pos, neg = int(np.sum(column == 1)), int(np.sum(column == 0))
        if pos > 0:
            weights[j] = float(np.clip(neg / pos, *POS_WEIGHT_RANGE))
    return weights


def masked_bce(logits: Tensor, targets: Tensor, pos_weight: Tensor | None = None) -> Tensor:
    """Mean binary cross-entropy over the finite entries of ``targets`` (NaN entries give no loss and no gradient).

    Args:
        logits, targets: (batch, n_labels); targets 1/0/NaN.
        pos_weight: (n_labels,) weight of the positive class per label, or None.

    Returns 0 (still attached to the graph) when no entry is known.
    """
    known = torch.isfinite(targets)
    # fill before the loss: NaN * 0 would still be NaN and poison the gradient
    filled = torch.where(known, targets, torch.zeros_like(targets))
    losses = F.binary_cross_entropy_with_logits(logits, filled, pos_weight=pos_weight, reduction="none")
    losses = torch.where(known, losses, torch.zeros_like(losses))
    return losses.sum() / known.sum().clamp(min=1)


def export_onnx(network: torch.nn.Module, config: Echo2CmrConfig, path: str | Path) -> Path:
    """Export the network (eval mode) to ONNX: input "clip" (batch, 1, T, S, S), output "logits", dynamic batch, opset 17."""
    network.eval()
    example = torch.zeros(1, 1, config.clip_frames, config.image_size, config.image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            network, (example,), str(path), dynamo=False, input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}}, opset_version=17,
        )
    return Path(path)


def check_onnx(network: torch.nn.Module, path: str | Path, clips: np.ndarray, num_threads: int = 1) -> float:
    """Largest |ORT - eager| logit over ``clips`` ((n, 1, T, S, S) float32); RuntimeError above :data:`ONNX_TOLERANCE`."""
    inputs = np.ascontiguousarray(clips, dtype=np.float32)
    onnx_logits = cpu_session(Path(path), num_threads).run([ONNX_OUTPUT], {ONNX_INPUT: inputs})[0]
    network.eval()
    with torch.no_grad():
        eager = network(torch.from_numpy(inputs)).numpy()
    diff = float(np.max(np.abs(onnx_logits - eager)))
    if not diff <= ONNX_TOLERANCE:
        raise RuntimeError(f"{path}: ONNX Runtime differs from eager by {diff:.2e} (> {ONNX_TOLERANCE:g})")
    return diff


def _has_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class ViewModel:
    """The network of one echo view: eager (always) and an ONNX Runtime session (when used)."""

    view: str
    network: torch.nn.Module
    onnx_session: Any | None = None


@dataclass
class Echo2CmrPredictor:
    """A loaded ``echo2cmr`` model directory (see :func:`load_predictor`).

    Attributes:
        path: the model directory.
        config: the training config.
        card: the model card.
        views: trained views in fallback order (the first is used for views the model has not seen).
        id_key: the pseudonym key of the training data.
        models: view -> :class:`ViewModel`.
        notes: what prediction had to assume (e.g. a view fallback), each once.
    """

    path: Path
    config: Echo2CmrConfig
    card: ModelCard
    views: list[str]
    id_key: str
    models: dict[str, ViewModel]
    notes: list[str] = field(default_factory=list)

    @property
    def uses_onnx(self) -> bool:
        return all(m.onnx_session is not None for m in self.models.values())

    def view_model_for(self, view: str) -> tuple[str, str | None]:
        """(the trained view that handles ``view``, a note when it is a fallback, else None)."""
        wanted = str(view).strip().upper()
        if wanted in self.models:
            return wanted, None
        fallback = self.views[0]
        return fallback, f"view {wanted or 'UNKNOWN'} has no trained network; the {fallback} network was used"

    def _resolve(self, view: str) -> ViewModel:
        chosen, note = self.view_model_for(view)
        if note and note not in self.notes:
            self.notes.append(note)
        return self.models[chosen]

    def network(self, view: str) -> torch.nn.Module:
        """The eager network for ``view`` (fallback as in :meth:`view_model_for`), in eval mode, for saliency."""
        return self._resolve(view).network.eval()

    def clip_logits(self, view: str, clips: np.ndarray) -> np.ndarray:
        """Logits (n, n_labels) for normalised clips (n, T, S, S) float32 through ``view``'s network."""
        model = self._resolve(view)
        inputs = clip_tensor_batch(clips)
        outputs = []
        for start in range(0, len(inputs), PREDICT_BATCH):
            chunk = inputs[start : start + PREDICT_BATCH]
            if model.onnx_session is not None:
                outputs.append(np.asarray(model.onnx_session.run([ONNX_OUTPUT], {ONNX_INPUT: chunk})[0]))
            else:
                network = model.network.eval()
                with torch.no_grad():
                    outputs.append(network(torch.from_numpy(chunk)).numpy())
        if not outputs:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def eval_clips(self, video: EchoVideo) -> np.ndarray:
        """The normalised evaluation clips (n_clips, T, S, S) of a video at the model's clip settings."""
        return eval_clip_batch(video.frames, video.fps, self.config)

    def video_logits(self, video: EchoVideo) -> np.ndarray:
        """Logits (n_labels,): the mean over the video's evaluation clips (a view fallback is noted in :attr:`notes`)."""
        return self.clip_logits(video.view, self.eval_clips(video)).mean(axis=0)

    def mc_dropout_logits(self, view: str, clips: np.ndarray, n: int | None = None) -> np.ndarray:
        """Monte-Carlo dropout logits (n, batch, n_labels): eager network, only Dropout in train mode.

        ``n`` defaults to ``config.mc_samples``; draws are seeded with ``config.seed`` (reproducible,
        without touching the caller's random state).
        """
        samples = int(n if n is not None else self.config.mc_samples)
        if samples < 1:
            raise ValueError(f"mc_dropout_logits needs n >= 1, got {samples}")
        network = self._resolve(view).network.eval()
        dropouts = [m for m in network.modules() if isinstance(m, torch.nn.Dropout)]
        inputs = torch.from_numpy(clip_tensor_batch(clips))
        draws = []
        try:
            for module in dropouts:
                module.train()
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(self.config.seed)
                for _ in range(samples):
                    draws.append(network(inputs).numpy())
        finally:
            network.eval()
        return np.stack(draws).astype(np.float32)


def _read_id_key(path: Path) -> str:
    key_path = path / ID_KEY_FILE
    if not key_path.is_file():
        raise MissingDataError(key_path, "pseudonym key missing from the model directory")
    key = key_path.read_text(encoding="utf-8").strip()
    if not key:
        raise DataError(key_path, "pseudonym key file is empty")
    return key


def load_predictor(model_dir: str | Path, prefer_onnx: bool = True) -> Echo2CmrPredictor:
    """Load an ``echo2cmr`` model directory: card, config, pseudonym key and one network per trained view.

    ONNX Runtime runs the networks when it is installed, ``prefer_onnx`` is true and every view has its
    ``model.onnx`` (intra-op threads = ``config.num_threads``); otherwise the eager networks run.

    Raises:
        MissingDataError: not a model directory, or a weights / key file missing.
        UsageError: a model of another system.
        DataError: a malformed card.
    """
    path = Path(model_dir)
    card = read_card(path)
    require_system(card, SYSTEM, path)
    config = Echo2CmrConfig.from_dict(card.config)
    views = [str(v) for v in card.data.get("views", [])]
    if not views:
        raise DataError(path / "model.json", "the model card lists no trained views")
    dirs = dict(card.data.get("view_dirs", {}))
    id_key = _read_id_key(path)
    use_onnx = prefer_onnx and _has_ort() and all((path / VIEWS_DIR / dirs.get(v, view_dir_name(v)) / ONNX_FILE).is_file() for v in views)
    models: dict[str, ViewModel] = {}
    for view in views:
        folder = path / VIEWS_DIR / dirs.get(view, view_dir_name(view))
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise MissingDataError(weights, f"weights of view {view} missing from the model directory")
        network = build_network(config)
        try:
            network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, EOFError) as exc:
            raise DataError(weights, f"cannot load the weights ({exc})") from exc
        session = cpu_session(folder / ONNX_FILE, config.num_threads) if use_onnx else None
        models[view] = ViewModel(view, network.eval(), session)
    return Echo2CmrPredictor(path=path, config=config, card=card, views=views, id_key=id_key, models=models)


__all__ = [
    "Echo2CmrPredictor",
    "ViewModel",
    "build_network",
    "check_onnx",
    "export_onnx",
    "label_pos_weight",
    "load_predictor",
    "masked_bce",
    "view_dir_name",
]
