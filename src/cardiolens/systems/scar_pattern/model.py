"""The ``scar-pattern`` model directory and its predictor: slice probabilities, MC dropout, case aggregation.

Model directory (written by :mod:`~cardiolens.systems.scar_pattern.training`):
``model.json`` (card: config, class names, channels, training subjects, the
weights' origin and the ImageNet sanity check), ``weights.pt`` (state dict of
the best validation epoch of the fine-tuning phase), ``split.json`` and
``logs/`` (Lightning CSV logs of both phases).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardiolens.errors import CorruptFileError, MissingDataError, UsageError
from cardiolens.systems.model_dir import ModelCard, read_card, require_system
from cardiolens.systems.scar_pattern.backbones import ScarNet, build_scar_net
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.data import resolve_crop_fraction

SYSTEM = "scar-pattern"
WEIGHTS_FILE = "weights.pt"
SPLIT_FILE = "split.json"
#: Slices per forward pass at prediction (bounds memory).
PREDICT_BATCH = 32


def case_aggregation(config: ScarPatternConfig, layout: str, n_classes: int) -> str:
    """The case aggregation actually used: ``auto`` = ``max`` for two classes with mask-derived EMIDEC slice labels."""
    method = config.case_aggregation
    if method == "auto":
        method = "max" if (n_classes == 2 and layout == "emidec" and config.slice_labels == "mask") else "mean"
    if method == "max" and n_classes != 2:
        raise UsageError(f"case_aggregation 'max' needs two classes, the model has {n_classes}")
    return method


def aggregate_cases(probabilities: np.ndarray, subject_ids: Sequence[str], method: str) -> tuple[list[str], np.ndarray]:
    """Case probabilities (n_cases, K) from slice probabilities (n_slices, K), cases in first-seen order.

    ``mean``: the mean over the case's slices. ``max`` (two classes): the
    positive class (column 1) takes the case's largest slice probability, a
    case being positive when any slice is, and column 0 its complement.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    order = list(dict.fromkeys(str(s) for s in subject_ids))
    ids = np.asarray([str(s) for s in subject_ids])
    rows = []
    for case in order:
        block = probabilities[ids == case]
        if method == "max":
            top = float(block[:, 1].max())
            rows.append([1.0 - top, top])
        else:
            rows.append(block.mean(axis=0))
    return order, np.asarray(rows, dtype=float).reshape(len(order), probabilities.shape[1])


def network_logits(network: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Logits (N, K) of preprocessed slices (N, C, H, W), in batches, without gradients.

    The modules' train/eval modes are left as they are (Monte-Carlo dropout sets them).
    """
    with torch.no_grad():
        out = [network(torch.from_numpy(np.ascontiguousarray(images[i : i + PREDICT_BATCH], dtype=np.float32))).numpy()
               for i in range(0, len(images), PREDICT_BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def network_probabilities(network: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of the network in eval mode."""
    return _softmax(network_logits(network.eval(), images))


@dataclass
class ScarPredictor:
    """A loaded model directory: network (eval mode), config, class names and card."""

    network: ScarNet
    config: ScarPatternConfig
    class_names: tuple[str, ...]
    channels: tuple[str, ...]
    layout: str
    card: ModelCard

    @classmethod
    def load(cls, model_dir: str | Path) -> ScarPredictor:
        """Read ``model.json`` and ``weights.pt`` (no pretrained weights are loaded: the trained ones replace them)."""
        card = read_card(model_dir)
        require_system(card, SYSTEM, model_dir)
        layout = str(card.data.get("layout", ""))
        config = ScarPatternConfig.from_dict(card.config)
        config = dataclasses.replace(config, crop_fraction=resolve_crop_fraction(layout, config.crop_fraction))
        channels = tuple(card.data["channels"])
        network, _ = build_scar_net(config.backbone, len(channels), len(card.class_names), dropout=config.dropout, pretrained=False)
        path = Path(model_dir) / WEIGHTS_FILE
        if not path.is_file():
            raise MissingDataError(path, "model weights missing from the model directory")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            network.load_state_dict(state)
        except (RuntimeError, OSError, ValueError) as exc:
            raise CorruptFileError(path, f"cannot load the {config.backbone} weights ({exc})") from exc
        return cls(network.eval(), config, tuple(card.class_names), channels, layout, card)

    @property
    def aggregation(self) -> str:
        return case_aggregation(self.config, self.layout, len(self.class_names))

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Logits (N, K) of preprocessed slices (N, C, H, W), eval mode, in batches."""
        self.network.eval()
        return network_logits(self.network, images)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, K)."""
        return network_probabilities(self.network, images)

    def mc_probabilities(self, images: np.ndarray, n: int | None = None) -> np.ndarray:
        """Monte-Carlo dropout probabilities (n, N, K): only the Dropout layers in train mode, seeded with ``config.seed``."""
        samples = int(n if n is not None else self.config.mc_samples)
        if samples < 1:
            raise UsageError(f"Monte-Carlo dropout needs mc_samples >= 1, got {samples}")
        dropouts = [m for m in self.network.modules() if isinstance(m, torch.nn.Dropout)]
        draws = []
        try:
            for module in dropouts:
                module.train()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed)
                for _ in range(samples):
                    draws.append(_softmax(network_logits(self.network, images)))
        finally:
            self.network.eval()
        return np.stack(draws)

    def weights_origin(self) -> dict[str, Any]:
        return dict(self.card.data.get("weights", {}))


def _softmax(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    return softmax(np.asarray(logits, dtype=np.float64), axis=1)
