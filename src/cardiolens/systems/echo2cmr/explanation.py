"""``explain echo2cmr``: where in space and time the video network looks, for one echo file.

Method: SmoothGrad (Smilkov et al., arXiv:1706.03825, 2017) of each label's
pre-sigmoid logit on the eager network of the clip's view:
:func:`cardiolens.explain.saliency.input_gradient` with 8 noisy copies (noise SD
0.1 of the clip's intensity range), the mean of |d logit / d input| per pixel
and frame. The explained clip is the first evaluation clip of the video (the
clip ``predict`` and ``evaluate`` average first), normalised as in training.

Written to OUT (each file atomically):

- ``saliency_wma.gif``: the clip at the model's image size with the WMA
  saliency on every frame (normalised jointly over the clip to [0, 1]);
- ``temporal_profile.png``: each frame's share of the clip's total saliency,
  one line per label, over time from the clip start (ms) (the cardiac phase of
  an echo file is unknown, so the axis is time, not % of the RR interval);
- ``explanation.json``: probabilities (the video's, as ``predict`` gives them,
  and this clip's), the clip's source frames and times, the per-frame profile of
  every label (raw sum of |gradient| per frame, and each frame's share of the
  clip's total) and its peak frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from cardiolens.io.atomic import atomic_path, write_text_atomic
from cardiolens.systems.echo2cmr.config import LABELS

SMOOTH_SAMPLES: Final[int] = 8
NOISE_STD: Final[float] = 0.1
GIF_FILE: Final[str] = "saliency_wma.gif"
PROFILE_FILE: Final[str] = "temporal_profile.png"
SUMMARY_FILE: Final[str] = "explanation.json"


def clip_saliency(network: Any, clip_tyx: np.ndarray, *, seed: int = 0) -> dict[str, np.ndarray]:
    """SmoothGrad saliency (T, S, S) of every label's logit for one normalised clip (T, S, S) float32."""
    import torch

    from cardiolens.explain.saliency import input_gradient

    x = torch.from_numpy(np.ascontiguousarray(clip_tyx, dtype=np.float32))[None, None]
    return {
        label: input_gradient(network, x, index, smooth_samples=SMOOTH_SAMPLES, noise_std=NOISE_STD, seed=seed)[0, 0]
        for index, label in enumerate(LABELS)
    }


def per_frame_sum(saliency_tyx: np.ndarray) -> np.ndarray:
    """Sum of the saliency of each frame (T,)."""
    return np.asarray(saliency_tyx, dtype=np.float64).reshape(len(saliency_tyx), -1).sum(axis=1)


def plot_profiles(profiles: Mapping[str, np.ndarray], time_ms: np.ndarray, path: Path, title: str) -> Path:
    """PNG of per-frame saliency shares over time (ms from clip start), one line per label (WMA bold)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, share in profiles.items():
        ax.plot(time_ms, share, marker="o", ms=2.5, lw=2.2 if label == "wma" else 1.0, label=label.upper())
    ax.set(xlabel="time from clip start (ms)", ylabel="share of clip saliency")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=len(profiles))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return path


def _peak(share: np.ndarray, source_frames: np.ndarray, time_ms: np.ndarray) -> dict[str, Any]:
    k = int(np.argmax(share))
    return {"clip_frame": k, "source_frame": int(source_frames[k]), "time_ms": round(float(time_ms[k]), 1),
            "share": round(float(share[k]), 4)}


def explain(model_dir: str | Path, input_path: str, out: str | Path) -> Path:
    """Write the saliency GIF, the temporal profile and ``explanation.json`` of one echo file into ``out``.

    Args:
        model_dir: a model directory written by ``echo2cmr`` training.
        input_path: one echo video (.avi/.mp4...) or DICOM ultrasound multi-frame file.
        out: output folder (created; other files in it are left alone).

    Returns:
        ``out``.

    Raises:
        cardiolens.errors.DataError: an unreadable input (the message names the file).
    """
    import torch
    from scipy.special import expit

    from cardiolens.explain.gradcam import normalise_cam
    from cardiolens.explain.overlays import write_cam_gif
    from cardiolens.explain.saliency import temporal_profile
    from cardiolens.systems.echo2cmr.clips import clip_indices, eval_starts, normalise_clip
    from cardiolens.systems.echo2cmr.data import decode_video
    from cardiolens.systems.echo2cmr.model import load_predictor

    predictor = load_predictor(model_dir)
    config = predictor.config
    torch.set_num_threads(max(1, int(config.num_threads)))
    video = decode_video(input_path, None, config, key="input")
    view_used, note = predictor.view_model_for(video.view)

    n_frames = video.frames.shape[0]
    start = eval_starts(n_frames, video.fps, config)[0]
    source_frames = np.asarray(clip_indices(n_frames, video.fps, start, config), dtype=int)
    frames = video.frames[source_frames]
    clip = normalise_clip(frames)
    network = predictor.network(view_used)
    with torch.no_grad():
        clip_logits = network(torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32))[None, None])[0].numpy()
    video_logits = predictor.video_logits(video)
    saliency = clip_saliency(network, clip, seed=config.seed)

    time_ms = (source_frames - source_frames[0]) * 1000.0 / float(video.fps)
    profiles = {label: temporal_profile(s) for label, s in saliency.items()}  # each frame's share
    video_p = dict(zip(LABELS, expit(np.asarray(video_logits, dtype=np.float64)).round(4).tolist(), strict=True))
    clip_p = dict(zip(LABELS, expit(clip_logits.astype(np.float64)).round(4).tolist(), strict=True))

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    step = float(np.mean(np.diff(source_frames))) if len(source_frames) > 1 else 1.0
    gif_fps = max(1.0, float(video.fps) / max(step, 1e-6))  # plays at the clip's real speed
    write_cam_gif(frames.astype(np.float64), normalise_cam(saliency["wma"]), out_dir / GIF_FILE, fps=gif_fps,
                  title=f"WMA p={video_p['wma']:.2f}")
    plot_profiles(profiles, time_ms, out_dir / PROFILE_FILE,
                  f"{Path(input_path).name}: SmoothGrad saliency per frame (view {view_used})")
    summary: dict[str, Any] = {
        "input": Path(input_path).name,
        "view": video.view,
        "view_used": view_used,
        "note": note,
        "probabilities": video_p,
        "clip_probabilities": clip_p,
        "clip": {
            "n_frames": len(source_frames),
            "source_frames": source_frames.tolist(),
            "time_ms": np.round(time_ms, 1).tolist(),
            "source_fps": float(video.fps),
            "image_size_px": int(config.image_size),
        },
        "saliency": {
            "method": f"SmoothGrad: mean |d logit / d input| over {SMOOTH_SAMPLES} noisy copies "
                      f"(noise SD {NOISE_STD} of the clip's range), eager network",
            "per_frame_sum": {label: [float(f"{v:.4g}") for v in per_frame_sum(s)] for label, s in saliency.items()},
            "per_frame_share": {label: np.round(share, 5).tolist() for label, share in profiles.items()},
            "peak_frame": {label: _peak(share, source_frames, time_ms) for label, share in profiles.items()},
        },
        "simulated_training_data": bool(predictor.card.simulated_training_data),
        "files": [GIF_FILE, PROFILE_FILE, SUMMARY_FILE],
    }
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary, indent=1))
    return out_dir



__all__ = ["clip_saliency", "explain", "per_frame_sum", "plot_profiles"]
