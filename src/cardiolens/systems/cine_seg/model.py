"""The ``cine-seg`` network (MONAI 2-D U-Net) and slice-wise inference with torch or ONNX Runtime.

Labels out: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity (the
ACDC scheme, :data:`cardiolens.data.labels.CINE_LABELS`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from cardiolens.systems.cine_seg.config import CineSegConfig
from cardiolens.systems.masks import largest_component
from cardiolens.systems.test_time_augmentation import averaged_softmax

N_CLASSES = 4
STRUCTURES = {"rv": 1, "myo": 2, "lv": 3}


def build_unet(config: CineSegConfig) -> Any:
    """The MONAI network of ``config.architecture`` for one-channel slices and four classes."""
    if config.architecture == "segresnet":
        from monai.networks.nets import SegResNet

        return SegResNet(spatial_dims=2, init_filters=config.channels[0], in_channels=1, out_channels=N_CLASSES,
                         blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1), dropout_prob=config.dropout or None)
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=N_CLASSES,
        channels=config.channels,
        strides=(2,) * (len(config.channels) - 1),
        num_res_units=config.num_res_units,
        dropout=config.dropout,
    )


def normalise_slices(slices_nyx: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scale each slice to [0, 1] between its own low/high percentiles (clipped); flat slices become 0."""
    x = np.asarray(slices_nyx, dtype=np.float32)
    low, high = np.percentile(x.reshape(len(x), -1), percentiles, axis=1)
    span = np.where(high - low > 0, high - low, 1.0)
    out = (x - low[:, None, None]) / span[:, None, None]
    out[(high - low) <= 0] = 0.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def pad_to_multiple(slices_nyx: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-pad y and x at the end to a multiple of ``multiple``; returns the padded array and the original (y, x)."""
    _, y, x = slices_nyx.shape
    py, px = (-y) % multiple, (-x) % multiple
    return np.pad(slices_nyx, ((0, 0), (0, py), (0, px))), (y, x)


def keep_largest_components(labels_zyx: np.ndarray, rv_search_px: int = 5) -> np.ndarray:
    """Keep one 3-D connected component per ventricle (removes stray islands far from the heart).

    The LV cavity and myocardium are kept together (the largest blood pool +
    wall object), so a thin myocardial ring broken at one slice is not cut.
    The RV is the component with the most voxels within ``rv_search_px``
    in-plane pixels of that LV wall (the largest RV-labelled blob of a full
    field of view can be another bright structure); the largest one when none
    is that close.
    """
    out = labels_zyx.copy()
    lv = np.isin(labels_zyx, (2, 3))
    lv_kept = largest_component(lv)
    out[lv & ~lv_kept] = 0
    rv = labels_zyx == 1
    near_lv = ndimage.binary_dilation(lv_kept, structure=np.ones((1, 3, 3), bool), iterations=rv_search_px)
    rv_components, n = ndimage.label(rv)
    if n > 1:
        touching = ndimage.sum_labels(rv & near_lv, rv_components, index=np.arange(1, n + 1))
        out[rv & ~largest_component(rv, (rv & near_lv) if touching.max() > 0 else None)] = 0
    return out


class SliceSegmenter:
    """Segments stacks of 2-D slices with a trained U-Net (eager torch or ONNX Runtime).

    Args:
        network: the trained torch module (eval mode is set here), or None with ``onnx_path``.
        config: the training config (normalisation and size multiple).
        onnx_path: use ONNX Runtime with this exported model instead of torch.
        batch_size: slices per forward pass.
    """

    def __init__(self, network: Any, config: CineSegConfig, *, onnx_path: str | Path | None = None, batch_size: int = 32) -> None:
        self.config = config
        self.batch_size = batch_size
        self.network = network.eval() if network is not None else None
        self.session = None
        if onnx_path is not None:
            from cardiolens.systems.onnx_runtime import cpu_session

            self.session = cpu_session(onnx_path, config.num_threads)
        if self.network is None and self.session is None:
            raise ValueError("SliceSegmenter needs a network or an ONNX model")

    def probabilities(self, slices_nyx: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 4, y, x) of raw slices (normalised and padded here)."""
        normalised = normalise_slices(slices_nyx, self.config.intensity_percentiles)
        padded, (y, x) = pad_to_multiple(normalised, self.config.size_multiple)
        return averaged_softmax(self._batched_logits, padded[:, None], self.config.tta_transforms)[:, :, :y, :x]

    def _batched_logits(self, slices: np.ndarray) -> np.ndarray:
        """Logits (n, 4, y, x) of (n, 1, y, x) slices, ``batch_size`` slices per forward pass."""
        return np.concatenate([self._logits(slices[start : start + self.batch_size]) for start in range(0, len(slices), self.batch_size)])

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return np.asarray(self.session.run(None, {"image": batch})[0])
        import torch

        with torch.no_grad():
            return self.network(torch.from_numpy(batch)).numpy()  # type: ignore[misc]

    def segment_volume(self, image_zyx: np.ndarray) -> np.ndarray:
        """Label mask (z, y, x) uint8 of one 3-D frame."""
        labels = self.probabilities(np.asarray(image_zyx)).argmax(axis=1).astype(np.uint8)
        return keep_largest_components(labels) if self.config.keep_largest_component else labels

    def segment_cine(self, image_tzyx: np.ndarray) -> np.ndarray:
        """Label masks (t, z, y, x) uint8 of every frame of a cine."""
        t, z, y, x = image_tzyx.shape
        labels = self.probabilities(np.asarray(image_tzyx).reshape(t * z, y, x)).argmax(axis=1).astype(np.uint8).reshape(t, z, y, x)
        if self.config.keep_largest_component:
            labels = np.stack([keep_largest_components(frame) for frame in labels])
        return labels


def export_onnx(network: Any, config: CineSegConfig, path: Path) -> None:
    """Export with dynamic batch, height and width (sizes must stay multiples of ``config.size_multiple``)."""
    import warnings

    import torch

    network.eval()
    example = torch.zeros(1, 1, config.patch_px, config.patch_px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network, (example,), str(path), dynamo=False, input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch", 2: "height", 3: "width"}},
            opset_version=17,
        )


def load_segmenter(model_dir: str | Path, backend: str = "onnx", tta_transforms: int | None = None) -> SliceSegmenter:
    """The segmenter of a ``cine-seg`` model directory; ``backend`` "onnx" (default, faster on CPU) or "torch".

    ``tta_transforms`` overrides the test-time augmentation stored with the model.
    """
    import torch

    from cardiolens.errors import MissingDataError, UsageError
    from cardiolens.systems.model_dir import read_card, require_system

    card = read_card(model_dir)
    require_system(card, "cine-seg", model_dir)
    config = CineSegConfig.from_dict(card.config)
    if tta_transforms is not None:
        config = dataclasses.replace(config, tta_transforms=tta_transforms)
    directory = Path(model_dir)
    if backend == "onnx":
        if not (directory / "model.onnx").is_file():
            raise MissingDataError(directory / "model.onnx", "ONNX model missing (use backend='torch')")
        return SliceSegmenter(None, config, onnx_path=directory / "model.onnx")
    if backend != "torch":
        raise UsageError(f"backend must be 'onnx' or 'torch', got {backend!r}")
    weights = directory / "weights.pt"
    if not weights.is_file():
        raise MissingDataError(weights, "weights missing")
    network = build_unet(config)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return SliceSegmenter(network, config)
