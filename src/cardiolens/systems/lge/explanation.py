"""``explain lge``: Grad-CAM of the infarct channel of a U-Net, in 3-D for ``unet3d`` (per slice for ``unet2d``).

Segmentation Grad-CAM: the explained score is the sum of the infarct logits
over the predicted scar (the predicted myocardium when no scar is predicted,
the whole crop when neither is), so the map shows which features raised the
scar evidence where the model drew scar. The target layer is the decoder
block at 1/4 of the input resolution (fine enough to follow the wall, deep
enough to carry context). Outputs in ``out``: ``gradcam.nii.gz`` (map in
[0, 1] on the input grid), ``gradcam_slice_ZZ.png`` overlays,
``lge_seg.nii.gz`` and ``explanation.json`` (how much of the map falls in the
predicted scar and myocardium, per slice and overall).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data.labels import LGE_LABELS
from cardiolens.errors import UsageError
from cardiolens.explain.gradcam import grad_cam, normalise_cam, upsample_cam
from cardiolens.explain.overlays import save_cam_png
from cardiolens.io.atomic import write_text_atomic
from cardiolens.io.lge_study import read_lge_study
from cardiolens.io.nifti import write_nifti
from cardiolens.systems.lge.data import centre_crop, network_input, uncrop
from cardiolens.systems.lge.model import MYOCARDIUM_LABELS, SCAR_LABELS, load_segmenter

TARGET_LAYER = "decoder block at 1/4 of the input resolution (1/2 for a 3-level U-Net)"


def target_layer(network: Any) -> Any:
    """The decoder block at 1/4 of the input resolution of a MONAI ``UNet`` (1/2 when it has only 3 levels)."""
    from torch import nn

    try:
        level_1 = network.model[1].submodule  # (encoder block, skip connection to deeper levels, decoder block)
        deeper = level_1[1].submodule
        return deeper[2] if isinstance(deeper, nn.Sequential) and len(deeper) == 3 else level_1[2]
    except (AttributeError, IndexError, TypeError) as exc:
        raise UsageError("Grad-CAM needs a MONAI UNet with at least 3 levels") from exc


def scar_grad_cam(network: Any, image_zyx: np.ndarray, labels_zyx: np.ndarray, *, three_d: bool, size_px: int,
                  percentiles: tuple[float, float]) -> np.ndarray:
    """Grad-CAM (z, y, x) in [0, 1] on the input grid of the infarct score over the predicted region."""
    import torch

    x = torch.from_numpy(network_input(image_zyx, size_px, percentiles))
    labels = centre_crop(np.asarray(labels_zyx), size_px)
    region_mask = np.isin(labels, SCAR_LABELS)
    if not region_mask.any():
        region_mask = np.isin(labels, MYOCARDIUM_LABELS)
    if not region_mask.any():
        region_mask = np.ones_like(region_mask)
    region = torch.from_numpy(region_mask.astype(np.float32))

    def forward() -> torch.Tensor:
        logits = network(x[None, None]) if three_d else network(x[:, None]).transpose(0, 1)[None]
        return (logits[0, LGE_LABELS["infarct"]] * region).sum().reshape(1, 1)

    network.eval()
    cam = grad_cam(forward, target_layer(network), 0)  # (1, z, h, w) for 3-D, (z, h, w) for 2-D
    cam = upsample_cam(cam, (x.shape[0], size_px, size_px))[0] if three_d else upsample_cam(cam, (size_px, size_px))
    return uncrop(normalise_cam(cam), np.asarray(image_zyx).shape[-2:])


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """Write the Grad-CAM outputs of one study (see the module docstring) into ``out``; returns ``out``."""
    segmenter = load_segmenter(model_dir, "torch")  # refuses a threshold model
    config = segmenter.config
    volume = read_lge_study(input_path)
    labels = segmenter.segment(volume.image)
    cam = scar_grad_cam(segmenter.network, volume.image, labels, three_d=config.variant == "unet3d",
                        size_px=config.inplane_px, percentiles=config.intensity_percentiles)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    write_nifti(target / "gradcam.nii.gz", cam.astype(np.float32), volume.spacing_mm, volume.affine)
    write_nifti(target / "lge_seg.nii.gz", labels, volume.spacing_mm, volume.affine)
    scar, myocardium = np.isin(labels, SCAR_LABELS), np.isin(labels, MYOCARDIUM_LABELS)
    per_slice = []
    for z in range(cam.shape[0]):
        png = save_cam_png(volume.image[z], cam[z], target / f"gradcam_slice_{z:02d}.png",
                           title=f"{volume.subject_id} slice {z}: infarct Grad-CAM ({config.variant})")
        total = float(cam[z].sum())
        per_slice.append({"slice": z, "png": png.name, "cam_max": float(cam[z].max()),
                          "cam_share_in_predicted_scar": float(cam[z][scar[z]].sum() / total) if total > 0 else None,
                          "predicted_scar_voxels": int(scar[z].sum())})
    total = float(cam.sum())
    document = {"subject_id": volume.subject_id, "source": volume.source, "variant": config.variant, "target_layer": TARGET_LAYER,
                "explained_score": "sum of infarct logits over the predicted scar (myocardium if none)",
                "cam_share_in_predicted_scar": float(cam[scar].sum() / total) if total > 0 else None,
                "cam_share_in_predicted_myocardium": float(cam[myocardium].sum() / total) if total > 0 else None,
                "predicted_scar_voxels": int(scar.sum()), "slices": per_slice}
    write_text_atomic(target / "explanation.json", json.dumps(document, indent=1))
    return target
