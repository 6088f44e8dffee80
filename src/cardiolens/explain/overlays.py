"""Explanation figures: Grad-CAM over cine frames (GIF, PNG), temporal profiles and curve saliency.

Every file is written through :mod:`cardiolens.io.atomic` (no half-written
output). Figures use matplotlib's object API with the Agg canvas (no pyplot
state, no display needed); GIFs are assembled with Pillow.

Heat maps: a map value m in [0, 1] (see
:func:`cardiolens.explain.gradcam.normalise_cam`) is drawn with the ``jet``
colormap, blended at :data:`CAM_ALPHA` over the greyscale image where
m > :data:`CAM_THRESHOLD` (weaker values are left out so the anatomy stays
visible). Greyscale images are windowed to their 1st-99th percentile.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cardiolens.errors import UsageError
from cardiolens.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CAM_THRESHOLD = 0.1
CAM_ALPHA = 0.5
_DPI = 100


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{name} contains NaN or Inf")
    return values


def _check_cam(name: str, cam: np.ndarray) -> np.ndarray:
    cam = _finite(name, cam)
    if cam.size and (cam.min() < -1e-6 or cam.max() > 1 + 1e-6):
        raise UsageError(f"{name} must be normalised to [0, 1] (see normalise_cam), found [{cam.min():.3g}, {cam.max():.3g}]")
    return np.clip(cam, 0.0, 1.0)


def _window(images: np.ndarray) -> np.ndarray:
    """Greyscale in [0, 1] from the 1st-99th percentile of all pixels (robust to a few bright ones)."""
    low, high = np.percentile(images, [1, 99])
    if high <= low:
        high = low + 1.0
    return np.clip((images - low) / (high - low), 0.0, 1.0)


def _blend(grey_yx: np.ndarray, cam_yx: np.ndarray) -> np.ndarray:
    """RGB float image (y, x, 3) in [0, 1]: grey with the jet heat map where the map exceeds the threshold."""
    from matplotlib import colormaps

    heat = colormaps["jet"](cam_yx)[..., :3]
    alpha = np.where(cam_yx > CAM_THRESHOLD, CAM_ALPHA, 0.0)[..., None]
    return grey_yx[..., None] * (1.0 - alpha) + heat * alpha


def write_cam_gif(
    frames_tyx: np.ndarray,
    cams_tyx: np.ndarray,
    path: str | os.PathLike[str],
    *,
    fps: float = 8.0,
    title: str | None = None,
) -> Path:
    """Animated GIF of greyscale cine frames with their Grad-CAM blended on top; returns ``path``.

    Args:
        frames_tyx: (T, y, x) image intensities (any scale; windowed jointly).
        cams_tyx: (T, y, x) maps in [0, 1] at the image size (see
            :func:`~cardiolens.explain.gradcam.upsample_cam` and
            :func:`~cardiolens.explain.gradcam.normalise_cam`).
        fps: frames per second of the animation (GIF delays are in 10 ms steps).
        title: text drawn at the top-left of every frame.

    One GIF frame per cine frame, x by y pixels, looping forever. Each frame
    is stamped "t/T" at the bottom-left (it also keeps Pillow from merging
    identical frames, which would change the frame count).
    """
    from PIL import Image, ImageDraw, ImageFont

    frames = _finite("frames_tyx", frames_tyx)
    cams = _check_cam("cams_tyx", cams_tyx)
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise UsageError(f"frames_tyx must be (T, y, x) with T >= 1, got shape {frames.shape}")
    if cams.shape != frames.shape:
        raise UsageError(f"cams_tyx shape {cams.shape} does not match frames_tyx shape {frames.shape}")
    if not fps > 0:
        raise UsageError(f"fps must be > 0, got {fps}")
    grey = _window(frames)
    font = ImageFont.load_default()
    n_frames, height, _ = frames.shape
    images = []
    for t in range(n_frames):
        rgb = np.round(_blend(grey[t], cams[t]) * 255).astype(np.uint8)
        image = Image.fromarray(rgb)
        draw = ImageDraw.Draw(image)
        if title:
            draw.text((2, 1), title, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        draw.text((2, max(0, height - 12)), f"{t + 1}/{n_frames}", fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        images.append(image)
    duration_ms = max(10, round(1000.0 / fps))
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0, disposal=1)
    return Path(path)


def _figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, bbox_inches="tight")
    return Path(path)


def save_cam_png(
    image_yx: np.ndarray, cam_yx: np.ndarray, path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """PNG of one greyscale image with its map in [0, 1] blended on top (and a colour bar); returns ``path``."""
    from matplotlib import cm, colors

    image = _finite("image_yx", image_yx)
    cam = _check_cam("cam_yx", cam_yx)
    if image.ndim != 2:
        raise UsageError(f"image_yx must be 2-D (y, x), got shape {image.shape}")
    if cam.shape != image.shape:
        raise UsageError(f"cam_yx shape {cam.shape} does not match image_yx shape {image.shape}")
    fig = _figure(4.0, 3.6)
    ax = fig.add_subplot()
    ax.imshow(_blend(_window(image), cam), interpolation="nearest")
    fig.colorbar(cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap="jet"), ax=ax, fraction=0.046, label="Grad-CAM (normalised)")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return _save_png(fig, path)


def plot_temporal_profile(
    importance: np.ndarray,
    cycle_pct: np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    ed_es_pct: tuple[float, float] | None = None,
) -> Path:
    """Bar chart of per-frame importance over the cardiac cycle (% of RR), ED/ES marked; returns ``path``."""
    importance = _finite("importance", importance)
    cycle = _finite("cycle_pct", cycle_pct)
    if importance.ndim != 1 or importance.shape != cycle.shape:
        raise UsageError(f"importance shape {importance.shape} and cycle_pct shape {cycle.shape} must be equal and 1-D")
    fig = _figure(6.0, 2.8)
    ax = fig.add_subplot()
    width = 0.8 * float(np.min(np.diff(np.sort(cycle)))) if len(cycle) > 1 else 5.0
    ax.bar(cycle, importance, width=max(width, 1e-3), color="tab:orange", edgecolor="black", linewidth=0.4)
    if ed_es_pct is not None:
        for value, name, colour in zip(ed_es_pct, ("ED", "ES"), ("tab:blue", "tab:red"), strict=True):
            ax.axvline(value, color=colour, linestyle="--", linewidth=1.0, label=name)
        ax.legend(fontsize=8)
    ax.set_xlabel("cardiac cycle (% of RR from ED)")
    ax.set_ylabel("frame importance (share)")
    if title:
        ax.set_title(title, fontsize=9)
    return _save_png(fig, path)


def plot_series_saliency(
    series_cp: np.ndarray,
    saliency_cp: np.ndarray,
    channel_names: Sequence[str],
    cycle_pct: np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """One panel per curve (channels x phases) with its saliency as a colour band behind it; returns ``path``.

    The saliency (>= 0, e.g. from :func:`~cardiolens.explain.saliency.input_gradient`)
    is scaled by its maximum over all channels, so panels compare; the points
    of each curve are also coloured by it. Put units in ``channel_names``
    (e.g. ``"total (mmHg)"``).
    """
    from matplotlib import cm, colors

    series = _finite("series_cp", series_cp)
    saliency = _finite("saliency_cp", saliency_cp)
    cycle = _finite("cycle_pct", cycle_pct)
    if series.ndim != 2:
        raise UsageError(f"series_cp must be 2-D (channels, phases), got shape {series.shape}")
    if saliency.shape != series.shape:
        raise UsageError(f"saliency_cp shape {saliency.shape} does not match series_cp shape {series.shape}")
    if len(channel_names) != series.shape[0]:
        raise UsageError(f"{len(channel_names)} channel_names for {series.shape[0]} channels")
    if cycle.shape != (series.shape[1],):
        raise UsageError(f"cycle_pct shape {cycle.shape} does not match the {series.shape[1]} phases of series_cp")
    if saliency.size and saliency.min() < 0:
        raise UsageError(f"saliency_cp must be >= 0, found {saliency.min():.3g}")
    top = float(saliency.max()) if saliency.size else 0.0
    scaled = saliency / top if top > 0 else np.zeros_like(saliency)
    n_channels = series.shape[0]
    fig = _figure(6.5, 1.5 * n_channels + 0.6)
    axes = fig.subplots(n_channels, 1, sharex=True, squeeze=False)[:, 0]
    for c, ax in enumerate(axes):
        low, high = float(series[c].min()), float(series[c].max())
        pad = 0.1 * (high - low) or 0.5
        # Each saliency cell centred on its phase.
        half = 0.5 * (float(cycle[-1] - cycle[0]) / (len(cycle) - 1) if len(cycle) > 1 else 1.0)
        extent = (float(cycle[0]) - half, float(cycle[-1]) + half, low - pad, high + pad)
        ax.imshow(scaled[c][None, :], aspect="auto", cmap="Reds", vmin=0, vmax=1, extent=extent, origin="lower", alpha=0.7)
        ax.plot(cycle, series[c], color="black", linewidth=0.9)
        ax.scatter(cycle, series[c], c=scaled[c], cmap="Reds", vmin=0, vmax=1, s=12, edgecolors="black", linewidths=0.3, zorder=3)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_ylabel(channel_names[c], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("cardiac cycle (% of RR from ED)")
    fig.colorbar(cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap="Reds"), ax=list(axes), fraction=0.03,
                 label="saliency (/ max)")
    if title:
        fig.suptitle(title, fontsize=9)
    return _save_png(fig, path)
