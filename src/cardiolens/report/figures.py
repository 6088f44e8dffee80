"""Figures for reports, returned as PNG bytes (matplotlib, non-interactive backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cardiolens.data import CINE_LABELS, ECG12, CineCMR, CMRVolume, EchoClip  # noqa: E402


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _contours(ax: plt.Axes, mask: np.ndarray, values: dict[int, str]) -> None:
    for value, colour in values.items():
        if np.any(mask == value):
            ax.contour(mask == value, levels=[0.5], colors=colour, linewidths=0.8)


def cine_grid(cines: Sequence[CineCMR], titles: Sequence[str]) -> bytes:
    """Mid-ventricular slice at ED and ES for each cine, with label contours."""
    colours = {CINE_LABELS["rv_cavity"]: "tab:blue", CINE_LABELS["lv_myocardium"]: "tab:green", CINE_LABELS["lv_cavity"]: "tab:red"}
    fig, axes = plt.subplots(2, len(cines), figsize=(2.2 * len(cines), 4.6), squeeze=False)
    for col, (cine, title) in enumerate(zip(cines, titles, strict=True)):
        z = cine.n_slices // 2
        for row, (phase, t) in enumerate((("ED", cine.ed_index), ("ES", cine.es_index or 0))):
            ax = axes[row, col]
            ax.imshow(cine.image[t, z], cmap="gray")
            if t in cine.segmentations:
                _contours(ax, cine.segmentations[t][z], colours)
            ax.set_title(f"{title} {phase}", fontsize=8)
            ax.axis("off")
    return _png(fig)


def volume_curves(curves_ml: dict[str, np.ndarray], times_ms: dict[str, np.ndarray]) -> bytes:
    """LV cavity volume over the cycle, one line per subject."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, curve in curves_ml.items():
        ax.plot(times_ms[name], curve, label=name, lw=1.2)
    ax.set_xlabel("time after R wave (ms)")
    ax.set_ylabel("LV cavity volume (mL)")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def volume_overlays(volumes: Sequence[CMRVolume], titles: Sequence[str], label_colours: dict[int, str]) -> bytes:
    """Middle slice of each volume with its label contours."""
    fig, axes = plt.subplots(1, len(volumes), figsize=(2.4 * len(volumes), 2.6), squeeze=False)
    for ax, vol, title in zip(axes[0], volumes, titles, strict=True):
        z = vol.image.shape[0] // 2
        ax.imshow(vol.image[z], cmap="gray" if vol.modality in ("lge", "cine_frame") else "viridis")
        if vol.labels is not None:
            _contours(ax, vol.labels[z], label_colours)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    return _png(fig)


def echo_strip(clip: EchoClip, n_frames: int = 6) -> bytes:
    """Evenly spaced frames of an echo clip."""
    picks = np.linspace(0, clip.n_frames - 1, n_frames).astype(int)
    fig, axes = plt.subplots(1, n_frames, figsize=(1.8 * n_frames, 2))
    for ax, t in zip(axes, picks, strict=True):
        ax.imshow(clip.frames[t], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{1000 * t / clip.fps:.0f} ms", fontsize=7)
        ax.axis("off")
    return _png(fig)


def ecg_12lead(ecg: ECG12, seconds: float = 2.5) -> bytes:
    """The first seconds of all 12 leads, in mV."""
    n = min(ecg.n_samples, int(seconds * ecg.fs_hz))
    t = np.arange(n) / ecg.fs_hz
    fig, axes = plt.subplots(6, 2, figsize=(9, 6), sharex=True)
    for i, (ax, name) in enumerate(zip(axes.T.ravel(), ecg.lead_names, strict=True)):
        ax.plot(t, ecg.signal_mv[:n, i], lw=0.7, color="k")
        ax.set_ylabel(name, rotation=0, labelpad=14, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("s", fontsize=8)
    fig.suptitle("mV", fontsize=8, x=0.02, ha="left")
    return _png(fig)


def ivpg_curves(time_ms: np.ndarray, curves_mmhg: dict[str, np.ndarray], title: str) -> bytes:
    """IVPG (apex minus base) over one cycle: total and segment curves, in mmHg."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, curve in curves_mmhg.items():
        ax.plot(time_ms, curve, label=name, lw=1.6 if name == "total" else 0.9)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("time after R wave (ms)")
    ax.set_ylabel("apex - base pressure (mmHg)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)
