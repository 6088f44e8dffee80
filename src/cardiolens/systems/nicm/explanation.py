"""``explain nicm``: why the model classified one study as it did.

Written to OUT (each file atomically):
- ``gradcam.gif``: the mid-ventricular crop over the cycle with the Grad-CAM
  heat map of the predicted class (Selvaraju et al. 2017) on every frame
  (fused / cine variants; the CNN of the CNN-LSTM is the explained layer);
- ``gradcam_ed.png``, ``gradcam_es.png``: the ED and ES frames (and, for the
  ResNet/VGG baselines, the Grad-CAM of their ED/ES input);
- ``temporal_profile.png``: the share of Grad-CAM energy per frame across
  the cycle, with the occlusion profile (probability drop when a frame is
  replaced by the mean frame) in ``explanation.json`` as a check;
- ``ivpg_saliency.png``: |d logit / d input| on each IVPG / volume curve
  (fused / ivpg variants; SmoothGrad, 16 samples);
- ``explanation.json``: probabilities, profiles and where the saliency peaks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardiolens.errors import UsageError
from cardiolens.explain.gradcam import grad_cam, normalise_cam, upsample_cam
from cardiolens.explain.overlays import plot_series_saliency, plot_temporal_profile, save_cam_png, write_cam_gif
from cardiolens.explain.saliency import input_gradient, occlusion_profile, temporal_profile
from cardiolens.io.atomic import write_text_atomic
from cardiolens.systems.cine_seg.data import read_cine_input
from cardiolens.systems.cine_seg.model import load_segmenter
from cardiolens.systems.nicm.features import SERIES_CHANNELS
from cardiolens.systems.nicm.fitting import stack_inputs
from cardiolens.systems.nicm.networks import grad_cam_layer
from cardiolens.systems.nicm.prediction import study_features
from cardiolens.systems.nicm.training import SEG_DIR, load_model


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """Write the explanation files of one study into ``out``."""
    card, fitted = load_model(model_dir)
    if fitted.network is None:
        raise UsageError(f"variant {fitted.config.variant!r} is a scikit-learn model; explain works on the deep variants "
                         "(fused, cine, ivpg, resnet50, vgg16)")
    cine = read_cine_input(input_path)
    features = study_features(cine, load_segmenter(Path(model_dir) / SEG_DIR), fitted)
    network = fitted.network.eval()
    frames, series, ed_es = stack_inputs([features], fitted.scaler)  # type: ignore[arg-type]
    with torch.no_grad():
        proba = torch.softmax(network(frames, series, ed_es), dim=1)[0].numpy()
    target = int(proba.argmax())
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_cine = cine.image.shape[0]
    frame_pct = ((np.asarray(features.frame_indices) - cine.ed_index) % n_cine) / n_cine * 100.0
    summary: dict[str, Any] = {"subject_id": cine.subject_id, "variant": fitted.config.variant, "predicted": card.class_names[target],
                               "probabilities": dict(zip(card.class_names, proba.round(4).tolist())), "files": []}
    mid = features.frames.shape[1] // 2
    es_frame = int(np.argmin(np.abs(np.asarray(features.frame_indices) - (cine.es_index or 0))))
    if network.variant in ("fused", "cine"):
        cam = grad_cam(lambda: network(frames, series, ed_es), grad_cam_layer(network), target)
        cam = normalise_cam(upsample_cam(cam, features.frames.shape[-2:]))
        profile = temporal_profile(cam)
        occlusion = occlusion_profile(lambda f: network(f, series, ed_es), frames, target)
        write_cam_gif(features.frames[:, mid], cam, out_dir / "gradcam.gif", title=f"Grad-CAM: {card.class_names[target]}")
        save_cam_png(features.frames[0, mid], cam[0], out_dir / "gradcam_ed.png", title="ED")
        save_cam_png(features.frames[es_frame, mid], cam[es_frame], out_dir / "gradcam_es.png", title="ES (nearest sampled frame)")
        plot_temporal_profile(profile, frame_pct, out_dir / "temporal_profile.png", title="Grad-CAM energy per frame",
                              ed_es_pct=(0.0, float(frame_pct[es_frame])))
        summary.update(frame_cycle_pct=frame_pct.round(1).tolist(), temporal_profile=profile.round(4).tolist(),
                       occlusion_profile=np.asarray(occlusion).round(4).tolist())
        summary["files"] += ["gradcam.gif", "gradcam_ed.png", "gradcam_es.png", "temporal_profile.png"]
    if network.variant in ("fused", "ivpg"):
        saliency = input_gradient(lambda s: network(frames, s, ed_es), series, target, smooth_samples=16, seed=0)[0]
        plot_series_saliency(features.series, saliency, list(SERIES_CHANNELS), features.cycle_pct, out_dir / "ivpg_saliency.png",
                             title=f"Gradient saliency on the curves: {card.class_names[target]}")
        peak = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
        summary.update(series_saliency_peak={"channel": SERIES_CHANNELS[peak[0]], "cycle_pct": float(features.cycle_pct[peak[1]])},
                       series_saliency_by_channel=dict(zip(SERIES_CHANNELS, saliency.sum(axis=1).round(5).tolist())))
        summary["files"].append("ivpg_saliency.png")
    if network.reads_image:
        cam = normalise_cam(upsample_cam(grad_cam(lambda: network(frames, series, ed_es), grad_cam_layer(network), target),
                                         features.ed_es_image.shape[-2:]))[0]
        save_cam_png(features.ed_es_image[0], cam, out_dir / "gradcam_ed.png", title="ED (input channel 1)")
        save_cam_png(features.ed_es_image[1], cam, out_dir / "gradcam_es.png", title="ES (input channel 2)")
        summary["files"] += ["gradcam_ed.png", "gradcam_es.png"]
    write_text_atomic(out_dir / "explanation.json", json.dumps(summary, indent=1))
    return out_dir
