"""Explain a ``scar-pattern`` prediction: Grad-CAM and intermediate activation maps per slice, checked against the scar mask.

For one study (any input :func:`~cardiolens.systems.scar_pattern.data.read_input_study`
reads) this writes, into ``out``:

- ``gradcam_slice_SS.png``: each slice with the Grad-CAM of its predicted class;
- ``activations.png``: a grid (slices x layers) of the channel-mean activation
  of the backbone's named intermediate layers, shallow to deep;
- ``explanation.json``: slice probabilities, the explained class of each
  slice and, when the study has a scar mask (an EMIDEC case folder, a PNG with
  its ``_gt`` mask, a simulated subject), the pointing-game hit and the IoU of
  the top ``cam_top_fraction`` pixels for Grad-CAM and for the deepest
  activation map on every slice with scar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.explain.alignment import pointing_game_hit, top_fraction_iou
from cardiolens.explain.overlays import save_cam_png
from cardiolens.io.atomic import atomic_path, write_text_atomic
from cardiolens.systems.scar_pattern.data import (
    preprocess_mask,
    preprocess_stack,
    read_input_study,
)
from cardiolens.systems.scar_pattern.feature_maps import (
    SCORED_ACTIVATION,
    grad_cam_maps,
    layer_maps,
)
from cardiolens.systems.scar_pattern.model import ScarPredictor


def _activation_grid(images: np.ndarray, maps: list[dict[str, np.ndarray]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = list(maps[0])
    fig = Figure(figsize=(1.8 * (len(layers) + 1), 1.8 * len(maps)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(maps), len(layers) + 1, squeeze=False)
    for row, (image, layer_map) in enumerate(zip(images, maps)):
        axes[row, 0].imshow(image[0], cmap="gray")
        axes[row, 0].set_title(f"slice {row}", fontsize=7)
        for col, name in enumerate(layers, start=1):
            axes[row, col].imshow(layer_map[name], cmap="magma", vmin=0, vmax=1)
            axes[row, col].set_title(name, fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    return path


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """Write the Grad-CAM overlays, the activation grid and ``explanation.json`` for one study; returns ``out``."""
    import torch

    predictor = ScarPredictor.load(model_dir)
    config = predictor.config
    torch.set_num_threads(max(1, config.num_threads))
    study = read_input_study(input_path, predictor.channels)
    images = preprocess_stack(study.stack, config.crop_fraction, config.image_size)
    masks = None if study.scar_masks is None else preprocess_mask(study.scar_masks, config.crop_fraction, config.image_size)
    probabilities = predictor.probabilities(images)
    explained = probabilities.argmax(axis=1)
    cams = grad_cam_maps(predictor.network, images, explained)
    maps = [layer_maps(predictor.network, image) for image in images]
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    names = predictor.class_names
    slices: list[dict[str, Any]] = []
    for s, (image, cam) in enumerate(zip(images, cams)):
        title = f"slice {s}: {names[explained[s]]} p={probabilities[s, explained[s]]:.2f}"
        save_cam_png(image[0], cam, target / f"gradcam_slice_{s:02d}.png", title=title)
        entry: dict[str, Any] = {"slice_index": s, "explained_class": names[explained[s]],
                                 "probabilities": {n: float(p) for n, p in zip(names, probabilities[s])}}
        if masks is not None and masks[s].any():
            kwargs = {"fraction": config.cam_top_fraction}
            entry["scar_alignment"] = {
                "grad_cam_pointing_hit": pointing_game_hit(cam, masks[s], config.pointing_tolerance_px),
                "grad_cam_top_fraction_iou": top_fraction_iou(cam, masks[s], **kwargs),
                f"activation_{SCORED_ACTIVATION}_pointing_hit": pointing_game_hit(maps[s][SCORED_ACTIVATION], masks[s], config.pointing_tolerance_px),
                f"activation_{SCORED_ACTIVATION}_top_fraction_iou": top_fraction_iou(maps[s][SCORED_ACTIVATION], masks[s], **kwargs),
            }
        slices.append(entry)
    _activation_grid(images, maps, target / "activations.png")
    document = {
        "system": "scar-pattern",
        "input": str(input_path),
        "subject_id": study.subject_id,
        "backbone": config.backbone,
        "classes": list(names),
        "top_fraction": config.cam_top_fraction,
        "activation_layers": list(maps[0]) if maps else [],
        "simulated_training_data": bool(predictor.card.simulated_training_data),
        "slices": slices,
    }
    write_text_atomic(target / "explanation.json", json.dumps(document, indent=1, default=float))
    return target
