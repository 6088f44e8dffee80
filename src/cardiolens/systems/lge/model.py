"""The ``lge`` networks (MONAI 3-D and 2-D U-Nets), inference with torch or ONNX Runtime, and post-processing.

Labels in and out are the EMIDEC scheme :data:`cardiolens.data.labels.LGE_LABELS`:
0 background, 1 LV cavity, 2 normal myocardium, 3 infarct, 4 MVO.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from cardiolens.data.labels import LGE_LABELS
from cardiolens.systems.lge.config import LGEConfig
from cardiolens.systems.lge.data import network_input, uncrop
from cardiolens.systems.masks import largest_component
from cardiolens.systems.test_time_augmentation import averaged_softmax

N_CLASSES = 5
MYOCARDIUM_LABELS: tuple[int, ...] = (LGE_LABELS["normal_myocardium"], LGE_LABELS["infarct"], LGE_LABELS["mvo"])
SCAR_LABELS: tuple[int, ...] = (LGE_LABELS["infarct"], LGE_LABELS["mvo"])
WEIGHTS_FILE = "weights.pt"
ONNX_FILE = "model.onnx"


def build_network(config: LGEConfig) -> Any:
    """MONAI ``UNet``: 3-D with in-plane-only strides for ``unet3d``, 2-D for ``unet2d``."""
    from monai.networks.nets import UNet

    levels = len(config.channels) - 1
    three_d = config.variant == "unet3d"
    return UNet(
        spatial_dims=3 if three_d else 2,
        in_channels=1,
        out_channels=N_CLASSES,
        channels=config.channels,
        strides=[(1, 2, 2)] * levels if three_d else [2] * levels,
        num_res_units=config.num_res_units,
        dropout=config.dropout,
    )


def postprocess(labels_zyx: np.ndarray, min_scar_voxels: int) -> np.ndarray:
    """Keep the largest 3-D LV object; scar islands (infarct + MVO) under ``min_scar_voxels`` become normal myocardium."""
    out = np.asarray(labels_zyx, dtype=np.uint8).copy()
    out[(out > 0) & ~largest_component(out > 0)] = 0
    scar = np.isin(out, SCAR_LABELS)
    if min_scar_voxels > 0 and scar.any():
        components, n = ndimage.label(scar, structure=np.ones((3, 3, 3), bool))
        sizes = ndimage.sum_labels(scar, components, index=np.arange(1, n + 1))
        small = np.isin(components, 1 + np.flatnonzero(sizes < min_scar_voxels))
        out[small] = LGE_LABELS["normal_myocardium"]
    return out


class StackSegmenter:
    """Segments LGE stacks (z, y, x) with a trained ``unet3d`` or ``unet2d`` (eager torch or ONNX Runtime).

    Args:
        network: the trained torch module (eval mode is set here), or None with ``onnx_path``.
        config: the training config (variant, crop, normalisation, test-time augmentation).
        onnx_path: use ONNX Runtime with this exported model instead of torch.
    """

    def __init__(self, network: Any, config: LGEConfig, *, onnx_path: str | Path | None = None) -> None:
        self.config = config
        self.network = network.eval() if network is not None else None
        self.session = None
        if onnx_path is not None:
            from cardiolens.systems.onnx_runtime import cpu_session

            self.session = cpu_session(onnx_path, config.num_threads)
        if self.network is None and self.session is None:
            raise ValueError("StackSegmenter needs a network or an ONNX model")

    def probabilities(self, image_zyx: np.ndarray) -> np.ndarray:
        """Class probabilities (5, z, y, x) on the input grid (background outside the in-plane crop)."""
        image = np.asarray(image_zyx, dtype=np.float32)
        x = network_input(image, self.config.inplane_px, self.config.intensity_percentiles)
        if self.config.variant == "unet3d":
            probabilities = averaged_softmax(self._logits, x[None, None], self.config.tta_transforms)[0]  # (5, z, s, s)
        else:  # slices as the batch
            probabilities = averaged_softmax(self._logits, x[:, None], self.config.tta_transforms).transpose(1, 0, 2, 3)
        full = uncrop(probabilities, image.shape[-2:], fill=0.0)
        full[0] = uncrop(probabilities[0], image.shape[-2:], fill=1.0)
        return full

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return np.asarray(self.session.run(None, {"image": batch})[0])
        import torch

        with torch.no_grad():
            return self.network(torch.from_numpy(np.ascontiguousarray(batch))).numpy()  # type: ignore[misc]

    def segment(self, image_zyx: np.ndarray) -> np.ndarray:
        """Label mask (z, y, x) uint8 of one stack, post-processed."""
        labels = self.probabilities(image_zyx).argmax(axis=0).astype(np.uint8)
        return postprocess(labels, self.config.min_scar_voxels)


def export_onnx(network: Any, config: LGEConfig, path: Path) -> None:
    """Export with a dynamic batch (and slice count for ``unet3d``); in-plane size is ``inplane_px``."""
    import warnings

    import torch

    network.eval()
    s = config.inplane_px
    if config.variant == "unet3d":
        example, axes = torch.zeros(1, 1, 4, s, s), {0: "batch", 2: "slices"}
    else:
        example, axes = torch.zeros(1, 1, s, s), {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (example,), str(path), dynamo=False, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": axes, "logits": axes}, opset_version=17)


def load_segmenter(model_dir: str | Path, backend: str = "onnx", tta_transforms: int | None = None) -> StackSegmenter:
    """The segmenter of an ``lge`` network model directory; ``backend`` "onnx" (default) or "torch".

    ``tta_transforms`` overrides the test-time augmentation stored with the model.
    """
    import torch

    from cardiolens.errors import MissingDataError, UsageError
    from cardiolens.systems.model_dir import read_card, require_system

    card = read_card(model_dir)
    require_system(card, "lge", model_dir)
    config = LGEConfig.from_dict(card.config)
    if tta_transforms is not None:
        config = dataclasses.replace(config, tta_transforms=tta_transforms)
    if not config.is_network:
        raise UsageError(f"{model_dir} is a {config.variant!r} threshold model; this step needs a network model (unet3d or unet2d)")
    directory = Path(model_dir)
    if backend == "onnx":
        if not (directory / ONNX_FILE).is_file():
            raise MissingDataError(directory / ONNX_FILE, "ONNX model missing (use backend='torch')")
        return StackSegmenter(None, config, onnx_path=directory / ONNX_FILE)
    if backend != "torch":
        raise UsageError(f"backend must be 'onnx' or 'torch', got {backend!r}")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise MissingDataError(weights, "weights missing")
    network = build_network(config)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return StackSegmenter(network, config)
