"""One case through a trained ``lge`` model directory: the network, or the thresholds inside a myocardium."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from cardiolens.data.volume import CMRVolume
from cardiolens.systems.lge.classic import threshold_labels
from cardiolens.systems.lge.config import LGEConfig
from cardiolens.systems.lge.data import myocardium_source, with_spacing
from cardiolens.systems.lge.model import StackSegmenter, load_segmenter
from cardiolens.systems.model_dir import ModelCard, read_card, require_system

SYSTEM = "lge"


@dataclasses.dataclass
class LGEPipeline:
    """A loaded model: ``segmenter`` (the network, or the threshold variant's myocardium network, or None)."""

    card: ModelCard
    config: LGEConfig
    segmenter: StackSegmenter | None

    @property
    def uses_study_labels(self) -> bool:
        """Threshold variant without a myocardium network: the myocardium comes from each study's labels."""
        return self.segmenter is None

    def prepare(self, volume: CMRVolume) -> CMRVolume:
        """The volume with the configured spacing applied where its own is unknown."""
        return with_spacing(volume, self.config.spacing_mm)

    def segment(self, volume: CMRVolume) -> np.ndarray:
        """Label mask (z, y, x) of one study in the EMIDEC scheme."""
        if self.config.is_network:
            assert self.segmenter is not None
            return self.segmenter.segment(volume.image)
        base = myocardium_source(volume) if self.segmenter is None else self.segmenter.segment(volume.image)
        return threshold_labels(volume.image, base, self.config.variant, self.config.n_sd)  # type: ignore[arg-type]


def load_pipeline(model_dir: str | Path, backend: str = "onnx", tta_transforms: int | None = None) -> LGEPipeline:
    """Load an ``lge`` model directory of any variant; ``tta_transforms`` overrides its test-time augmentation."""
    card = read_card(model_dir)
    require_system(card, SYSTEM, model_dir)
    config = LGEConfig.from_dict(card.config)
    if tta_transforms is not None:
        config = dataclasses.replace(config, tta_transforms=tta_transforms)
    network_dir = model_dir if config.is_network else config.myocardium_model
    segmenter = load_segmenter(network_dir, backend, config.tta_transforms) if network_dir else None
    return LGEPipeline(card, config, segmenter)
