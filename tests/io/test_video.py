"""Video reading/writing: round trips, grey conversion, frame rate and bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cardiolens.data.echo import EchoClip
from cardiolens.errors import (
    EmptyFileError,
    MissingDataError,
    UnreadableVideoError,
    UsageError,
)
from cardiolens.io.video import default_mp4_codec, read_video, write_video


def moving_shapes(n_frames: int = 10, height: int = 32, width: int = 40) -> np.ndarray:
    """A bright disc moving right over a textured background, uint8 (t, y, x)."""
    yy, xx = np.mgrid[:height, :width]
    frames = np.empty((n_frames, height, width), np.uint8)
    for t in range(n_frames):
        frame = (30 + 2 * (xx % 7) + yy).astype(np.uint8)
        frame[(yy - height // 2) ** 2 + (xx - 8 - 2 * t) ** 2 < 36] = 210
        frame[2:6, t : t + 5] = 120 + 3 * t
        frames[t] = frame
    return frames


def make_clip(n_frames: int = 10, fps: float = 25.0, height: int = 32, width: int = 40) -> EchoClip:
    return EchoClip(frames=moving_shapes(n_frames, height, width), fps=fps)


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_lossless_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    clip = make_clip()
    path = write_video(clip, tmp_path / f"clip{suffix}")
    back = read_video(path)
    assert back.frames.dtype == np.uint8
    assert back.frames.shape == (10, 32, 40)
    np.testing.assert_array_equal(back.frames, clip.frames)
    assert back.fps == 25.0
    assert back.metadata["codec"] == "ffv1"


def test_mp4_round_trip_is_close(tmp_path: Path) -> None:
    clip = make_clip()
    back = read_video(write_video(clip, tmp_path / "clip.mp4"))
    assert back.frames.shape == clip.frames.shape
    error = np.abs(back.frames.astype(int) - clip.frames.astype(int))
    # Measured on this clip: 1.28 (libx264, CRF 18) and 1.11 (MPEG-4, q 2) grey levels.
    assert error.mean() < 2.0
    assert back.metadata["declared_frames"] == 10
    assert back.metadata["codec"] == ("h264" if default_mp4_codec() == "libx264" else "mpeg4")


def test_mp4_with_mpeg4_codec_and_odd_size(tmp_path: Path) -> None:
    clip = make_clip(height=33, width=41)
    for codec in ("mpeg4", default_mp4_codec()):
        back = read_video(write_video(clip, tmp_path / f"{codec}.mp4", codec=codec))
        assert back.frames.shape == (10, 33, 41)
        assert np.abs(back.frames.astype(int) - clip.frames.astype(int)).mean() < 2.0  # measured 1.07-1.23


def test_full_range_mjpeg_round_trip(tmp_path: Path) -> None:
    # The MJPEG encoder refuses limited-range input ("Invalid argument"), so the
    # writer must hand it full-range "yuvj" frames. Measured error: 4.6 levels.
    clip = make_clip()
    back = read_video(write_video(clip, tmp_path / "clip.avi", codec="mjpeg"))
    assert back.metadata["pix_fmt"] == "yuvj420p"
    assert np.abs(back.frames.astype(int) - clip.frames.astype(int)).mean() < 6.0


@pytest.mark.parametrize(
    ("suffix", "fps"),
    [(".avi", 50.0), (".avi", 30000 / 1001), (".mkv", 12.5), (".mp4", 29.97), (".mp4", 73.0)],
)
def test_frame_rate_is_preserved(tmp_path: Path, suffix: str, fps: float) -> None:
    back = read_video(write_video(make_clip(fps=fps), tmp_path / f"clip{suffix}"))
    assert back.fps == pytest.approx(fps, rel=1e-6)
    assert back.duration_s == pytest.approx(10 / fps, rel=1e-6)


def test_colour_frames_become_luma(tmp_path: Path) -> None:
    # Lossless RGB video with four flat colour bands; grey must follow BT.601 luma.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    rgb = np.repeat(colours, 10, axis=0)[None, :, None, :].repeat(16, axis=2)  # (1, 40, 16, 3)
    path = tmp_path / "colour.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.height, stream.width = rgb.shape[1:3]
        stream.pix_fmt = "bgr0"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(rgb[0], format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    clip = read_video(path)
    assert clip.frames.shape == (3, 40, 16)
    band_means = [clip.frames[0, 10 * i : 10 * i + 10].mean() for i in range(4)]
    expected = [0.299 * 255, 0.587 * 255, 0.114 * 255, 255]
    np.testing.assert_allclose(band_means, expected, atol=2.0)


def test_options_are_recorded(tmp_path: Path) -> None:
    path = write_video(make_clip(), tmp_path / "clip.avi")
    clip = read_video(path, view="A4C", pixel_spacing_mm=(0.3, 0.4), max_frames=4)
    assert clip.n_frames == 4
    np.testing.assert_array_equal(clip.frames, moving_shapes()[:4])
    assert clip.view == "A4C"
    assert clip.pixel_spacing_mm == (0.3, 0.4)
    assert clip.source == str(path)
    assert clip.subject_id == "clip"


def test_write_is_atomic_and_rejects_bad_requests(tmp_path: Path) -> None:
    clip = make_clip()
    with pytest.raises(UsageError, match="unknown video extension"):
        write_video(clip, tmp_path / "clip.gif")
    with pytest.raises(UsageError, match="no encoder"):
        write_video(clip, tmp_path / "clip.avi", codec="no-such-codec")
    bright = EchoClip(frames=clip.frames.astype(float) * 2, fps=25.0)
    with pytest.raises(UsageError, match="0..255"):
        write_video(bright, tmp_path / "clip.avi")
    assert list(tmp_path.iterdir()) == []


def test_float_frames_are_rounded(tmp_path: Path) -> None:
    frames = moving_shapes().astype(np.float32) + 0.2
    back = read_video(write_video(EchoClip(frames=frames, fps=20.0), tmp_path / "clip.avi"))
    np.testing.assert_array_equal(back.frames, moving_shapes())


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="absent.avi"):
        read_video(tmp_path / "absent.avi")
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.avi"):
        read_video(empty)


def test_random_bytes_are_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnreadableVideoError, match="noise.avi") as info:
        read_video(path)
    assert "cannot open as video" in info.value.problem


def test_single_frame_video_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "one.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.height, stream.width, stream.pix_fmt = 32, 40, "gray"
        frame = av.VideoFrame.from_ndarray(moving_shapes(1)[0], format="gray")
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(UnreadableVideoError, match="one.mkv.*at least 2"):
        read_video(path)


def _packet_positions(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [p.pos for p in container.demux(container.streams.video[0]) if p.size and p.pos >= 0]


def _truncate(source: Path, target: Path, n_bytes: int) -> Path:
    target.write_bytes(source.read_bytes()[:n_bytes])
    return target


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv"])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_truncated_video_is_an_error(tmp_path: Path, suffix: str, fraction: float) -> None:
    full = write_video(make_clip(n_frames=40), tmp_path / f"full{suffix}")
    cut = _truncate(full, tmp_path / f"cut{suffix}", int(full.stat().st_size * fraction))
    with pytest.raises(UnreadableVideoError, match=f"cut{suffix}"):
        read_video(cut)


def test_avi_cut_between_frames_is_caught_by_declared_count(tmp_path: Path) -> None:
    full = write_video(make_clip(n_frames=40), tmp_path / "full.avi")
    # Cut just before the 8-byte chunk header of packet 30: the demuxer ends
    # cleanly after 30 frames and no decoder error occurs.
    cut = _truncate(full, tmp_path / "cut.avi", _packet_positions(full)[30] - 8)
    with pytest.raises(UnreadableVideoError, match="cut.avi") as info:
        read_video(cut)
    assert "declares 40 frames but only 30" in info.value.problem
    # The frames before the cut are intact, so a reader asking only for them succeeds.
    head = read_video(cut, max_frames=20)
    np.testing.assert_array_equal(head.frames, moving_shapes(40)[:20])


def test_mkv_cut_between_frames_is_caught_by_declared_duration(tmp_path: Path) -> None:
    full = write_video(make_clip(n_frames=40), tmp_path / "full.mkv")
    cut = _truncate(full, tmp_path / "cut.mkv", _packet_positions(full)[30])
    with pytest.raises(UnreadableVideoError, match="cut.mkv") as info:
        read_video(cut)
    assert "about 40 frames) but only 30" in info.value.problem


def test_frame_rate_stored_as_exact_fraction(tmp_path: Path) -> None:
    path = write_video(make_clip(fps=30000 / 1001), tmp_path / "ntsc.avi")
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
