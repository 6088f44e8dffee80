"""Explanation figures: the Grad-CAM GIF, PNG overlays and profile plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cardiolens.errors import UsageError
from cardiolens.explain.overlays import (
    plot_series_saliency,
    plot_temporal_profile,
    save_cam_png,
    write_cam_gif,
)

T, Y, X = 5, 48, 64


def clip() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frames = 100 + 20 * rng.random((T, Y, X))
    cams = np.zeros((T, Y, X))
    cams[:, 16:32, 40:56] = 1.0  # a hot patch away from the text corners
    return frames, cams


def only_target_left(folder: Path, name: str) -> None:
    assert [p.name for p in folder.iterdir()] == [name]  # no temporary files from the atomic write


def test_gif_has_one_frame_per_cine_frame(tmp_path: Path) -> None:
    frames, cams = clip()
    path = write_cam_gif(frames, cams, tmp_path / "cam.gif", fps=8.0, title="DCM")
    assert path == tmp_path / "cam.gif"
    only_target_left(tmp_path, "cam.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == T
        assert gif.size == (X, Y)
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == pytest.approx(125, abs=10)
        rgb = np.asarray(gif.convert("RGB")).astype(int)
    hot = rgb[18:30, 42:54]
    cold = rgb[36:44, 40:60]
    assert np.mean(np.abs(hot[..., 0] - hot[..., 2])) > 40  # coloured heat map
    assert np.mean(np.abs(cold[..., 0] - cold[..., 2])) < 8  # grey anatomy


def test_identical_frames_still_give_t_gif_frames(tmp_path: Path) -> None:
    frames = np.ones((T, Y, X))
    path = write_cam_gif(frames, np.zeros((T, Y, X)), tmp_path / "flat.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == T


def test_gif_rejects_bad_shapes_and_values(tmp_path: Path) -> None:
    frames, cams = clip()
    with pytest.raises(UsageError, match=r"\(5, 48, 32\).*\(5, 48, 64\)"):
        write_cam_gif(frames, cams[..., :32], tmp_path / "a.gif")
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        write_cam_gif(frames, cams * 3, tmp_path / "a.gif")
    with pytest.raises(UsageError, match="NaN"):
        write_cam_gif(np.full_like(frames, np.nan), cams, tmp_path / "a.gif")
    with pytest.raises(UsageError, match="fps"):
        write_cam_gif(frames, cams, tmp_path / "a.gif", fps=0)
    assert not list(tmp_path.iterdir())  # nothing written on failure


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        assert im.size[0] > 100 and im.size[1] > 100


def test_cam_png(tmp_path: Path) -> None:
    frames, cams = clip()
    path = save_cam_png(frames[0], cams[0], tmp_path / "out" / "cam.png", title="frame 1")
    assert_png(path)
    with pytest.raises(UsageError, match="does not match"):
        save_cam_png(frames[0], cams[0, :10], tmp_path / "bad.png")
    with pytest.raises(UsageError, match="2-D"):
        save_cam_png(frames, cams, tmp_path / "bad.png")


def test_temporal_profile_plot(tmp_path: Path) -> None:
    importance = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    cycle = np.linspace(0, 80, 5)
    assert_png(plot_temporal_profile(importance, cycle, tmp_path / "profile.png", title="DCM", ed_es_pct=(0.0, 35.0)))
    assert_png(plot_temporal_profile(importance[:1], cycle[:1], tmp_path / "one.png"))
    with pytest.raises(UsageError, match=r"\(5,\).*\(4,\)"):
        plot_temporal_profile(importance, cycle[:4], tmp_path / "bad.png")


def test_series_saliency_plot(tmp_path: Path) -> None:
    cycle = np.linspace(0, 95, 20)
    series = np.stack([np.sin(cycle / 15), np.cos(cycle / 15), np.zeros(20)])
    saliency = np.abs(np.random.default_rng(0).normal(size=series.shape))
    names = ["total (mmHg)", "inertial (mmHg)", "convective (mmHg)"]
    assert_png(plot_series_saliency(series, saliency, names, cycle, tmp_path / "series.png", title="IVPG saliency"))
    with pytest.raises(UsageError, match="2 channel_names for 3 channels"):
        plot_series_saliency(series, saliency, names[:2], cycle, tmp_path / "bad.png")
    with pytest.raises(UsageError, match="saliency_cp shape"):
        plot_series_saliency(series, saliency[:, :5], names, cycle, tmp_path / "bad.png")
    with pytest.raises(UsageError, match="cycle_pct"):
        plot_series_saliency(series, saliency, names, cycle[:5], tmp_path / "bad.png")
    with pytest.raises(UsageError, match=">= 0"):
        plot_series_saliency(series, -saliency, names, cycle, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
