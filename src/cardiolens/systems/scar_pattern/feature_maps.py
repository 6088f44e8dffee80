"""Feature maps of a ``scar-pattern`` network and their alignment with the manual scar mask.

Grad-CAM (``explain.gradcam``) of the slice's true class at the backbone's
last feature map, and the channel-mean activation of intermediate layers
(``explain.activations``), both upsampled to the input grid and scaled to
[0, 1] per slice. On slices with a scar mask (EMIDEC infarct + MVO; the
simulated abnormal myocardium) the maps are scored with the pointing game and
the IoU of their top ``cam_top_fraction`` pixels (``explain.alignment``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cardiolens.explain.activations import activation_maps
from cardiolens.explain.alignment import alignment_scores
from cardiolens.explain.gradcam import grad_cam, normalise_cam, upsample_cam
from cardiolens.systems.scar_pattern.backbones import ScarNet
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.data import SliceSet

#: The activation layer scored against the scar mask next to Grad-CAM (the deepest one).
SCORED_ACTIVATION = "last"


def grad_cam_maps(network: ScarNet, images: np.ndarray, class_indices: np.ndarray) -> np.ndarray:
    """Grad-CAM of ``class_indices[i]`` for each slice (N, C, H, W) -> (N, H, W) in [0, 1] (each slice scaled by its maximum)."""
    network.eval()
    maps = []
    for image, k in zip(images, np.asarray(class_indices, dtype=int)):
        x = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
        cam = grad_cam(lambda x=x: network(x), network.cam_layer(), int(k))  # called at once, inside grad_cam
        maps.append(normalise_cam(upsample_cam(cam, image.shape[1:]))[0])
    return np.stack(maps) if maps else np.zeros((0, *images.shape[2:]))


def layer_maps(network: ScarNet, image: np.ndarray) -> dict[str, np.ndarray]:
    """Channel-mean activation (H, W) in [0, 1] of each of the network's named intermediate layers for one slice (C, H, W)."""
    network.eval()
    x = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
    return activation_maps(network, network.activation_layers(), x)


def scar_maps(network: ScarNet, slices: SliceSet) -> dict[str, Any] | None:
    """Grad-CAM (true class) and deepest activation maps of the slices with scar; None without scar masks or scar.

    Returns ``{"index", "names", "cams", "activations", "masks", "images"}``: slice positions in
    ``slices``, ``"<subject>#<slice>"`` names, and (n, H, W) arrays (``images``: the first channel).
    """
    if slices.scar_masks is None:
        return None
    index = np.flatnonzero(slices.scar_masks.reshape(len(slices.labels), -1).any(axis=1))
    if index.size == 0:
        return None
    return {
        "index": index,
        "names": [f"{slices.subject_ids[i]}#{int(slices.slice_index[i])}" for i in index],
        "cams": grad_cam_maps(network, slices.images[index], slices.labels[index]),
        "activations": np.stack([layer_maps(network, slices.images[i])[SCORED_ACTIVATION] for i in index]),
        "masks": slices.scar_masks[index],
        "images": slices.images[index, 0],
    }


def merge_maps(parts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Concatenate :func:`scar_maps` results of disjoint slice sets (e.g. cross-validation folds); ``index`` is dropped."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    merged: dict[str, Any] = {"names": [n for p in parts for n in p["names"]]}
    for key in ("cams", "activations", "masks", "images"):
        merged[key] = np.concatenate([p[key] for p in parts])
    return merged


def score_alignment(maps: dict[str, Any] | None, config: ScarPatternConfig) -> dict[str, Any] | None:
    """Pointing game and top-fraction IoU of the Grad-CAM and the deepest activation maps (None without maps)."""
    if maps is None:
        return None
    kwargs = {"fraction": config.cam_top_fraction, "tolerance_px": config.pointing_tolerance_px}
    return {
        **maps,
        "grad_cam": alignment_scores(maps["cams"], maps["masks"], **kwargs),
        f"activation_{SCORED_ACTIVATION}": alignment_scores(maps["activations"], maps["masks"], **kwargs),
    }
