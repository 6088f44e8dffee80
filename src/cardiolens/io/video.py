"""Echo video reading and writing with PyAV (FFmpeg).

Reading turns any video FFmpeg decodes (AVI, MP4, MKV, MJPEG, H.264, FFV1...)
into a greyscale :class:`~cardiolens.data.echo.EchoClip`: colour frames become
luma (BT.601 weights for RGB sources, the Y plane for YUV sources, expanded to
full 0-255 range when the stream is limited-range), stored as uint8 (t, y, x).

Truncated or damaged files are errors, never silently short clips. Measured
with FFmpeg 8 / PyAV 18 on files cut at 2-99 % of their size:

- AVI: a cut inside the header, and MP4 without ``faststart`` (index at the
  end), fail to open ("Invalid data found when processing input").
- AVI and ``faststart`` MP4 cut later open, declare their full frame count in
  the header, and decode the frames before the cut; the cut frame itself makes
  the decoder fail ("avcodec_send_packet(): Invalid data") unless the cut falls
  between packets.
- MKV declares no frame count, only a duration; a cut between clusters decodes
  fewer frames without any decoder error.

So :func:`read_video` raises :class:`UnreadableVideoError` when the file
cannot be opened, when any packet fails to decode, when fewer frames decode
than the container declares (frame count; for Matroska/WebM, duration), or
when fewer than 2 frames decode. A cut that removes only trailing index data
(AVI ``idx1``) loses no frame and reads normally. With ``max_frames`` only the
first frames are decoded, so a cut after them goes unnoticed.

Writing picks the codec from the extension: ``.avi`` / ``.mkv`` are lossless
(FFV1, 8-bit grey, exact round trip); ``.mp4`` is H.264 (libx264, CRF 18) when
the FFmpeg build has it, otherwise MPEG-4 Part 2 at fixed quantiser 2; both
store limited-range YUV 4:2:0 (4:4:4 for odd frame sizes with H.264) and lose
a little (mean absolute error about 1.1-1.3 grey levels on the synthetic test
clips). A ``codec`` argument picks any other FFmpeg encoder.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange

from cardiolens.data.echo import EchoClip
from cardiolens.errors import (
    InconsistentGeometryError,
    UnreadableVideoError,
    UsageError,
)
from cardiolens.io.atomic import atomic_path
from cardiolens.io.files import require_file

#: Extension -> FFmpeg container format, for :func:`write_video` (FFV1 / H.264 or MPEG-4).
LOSSLESS_CONTAINERS: dict[str, str] = {".avi": "avi", ".mkv": "matroska"}
LOSSY_CONTAINERS: dict[str, str] = {".mp4": "mp4"}

# Encoder options: FFV1 level 3 adds per-slice CRCs (corruption is detected on
# read) and g=1 makes every frame independently decodable.
_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "ffv1": {"level": "3", "g": "1"},
    "libx264": {"crf": "18"},
    # Equivalent of ``ffmpeg -q:v 2`` (fixed quantiser; lambda = 2 * FF_QP2LAMBDA).
    "mpeg4": {"flags": "+qscale", "global_quality": str(2 * 118)},
}

# Failures PyAV reports from FFmpeg (its errors subclass FFmpegError; a file
# with no usable stream can also surface as a plain OSError/ValueError).
_AV_ERRORS = (av.FFmpegError, OSError, ValueError)


def read_video(
    path: str | os.PathLike[str],
    *,
    view: str = "unknown",
    pixel_spacing_mm: tuple[float, float] | None = None,
    max_frames: int | None = None,
) -> EchoClip:
    """Decode a video file into a greyscale :class:`EchoClip`.

    Args:
        path: any video FFmpeg can decode (AVI, MP4, MKV...).
        view: echo view recorded on the clip ("A4C", "PLAX"...).
        pixel_spacing_mm: (row, column) pixel spacing in mm, if known (video
            files do not carry it).
        max_frames: decode at most this many frames (from the start).

    Returns:
        EchoClip with uint8 frames (t, y, x), ``fps`` in frames per second from
        the stream's average frame rate (fallback: frames / duration), and
        metadata ``codec``, ``container``, ``pix_fmt`` and ``declared_frames``
        (0 when the container does not say).

    Raises:
        MissingDataError, EmptyFileError: missing, folder or 0-byte path.
        UnreadableVideoError: not a video, undecodable, truncated or damaged
            (see the module docstring), or fewer than 2 frames.
        InconsistentGeometryError: frame size changes within the stream.
    """
    if max_frames is not None and max_frames < 2:
        raise UsageError(f"max_frames must be at least 2, got {max_frames}")
    p = require_file(path)
    try:
        container = av.open(str(p), mode="r")
    except _AV_ERRORS as exc:
        raise UnreadableVideoError(p, f"cannot open as video ({_reason(exc)})") from exc
    with container:
        if not container.streams.video:
            raise UnreadableVideoError(p, "file holds no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None or stream.codec_context.codec is None:
            raise UnreadableVideoError(p, "no decoder for the video stream (unknown codec or damaged header)")
        frames = _decode_grey(p, container, stream, max_frames)
        n_frames = len(frames)
        declared = int(stream.frames or 0)
        # With < 2 frames the error below says more than a missing rate would.
        if n_frames >= 2:
            fps = _frame_rate(p, container, stream, n_frames)
        else:
            fps = float(stream.average_rate or 0)
        if max_frames is None or n_frames < max_frames:
            _check_complete(p, container, declared, n_frames, fps)
        metadata: dict[str, Any] = {
            "codec": stream.codec_context.name,
            "container": container.format.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "declared_frames": declared,
        }
    if n_frames < 2:
        raise UnreadableVideoError(p, f"only {n_frames} frame(s) could be decoded; a clip needs at least 2")
    return EchoClip(
        frames=np.stack(frames),
        fps=fps,
        pixel_spacing_mm=pixel_spacing_mm,
        view=view,
        subject_id=p.stem,
        source=str(p),
        metadata=metadata,
    )


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's errno/filename decoration."""
    if isinstance(exc, av.FFmpegError) and getattr(exc, "strerror", None):
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def _decode_grey(
    p: Path, container: Any, stream: Any, max_frames: int | None
) -> list[np.ndarray]:
    """Decode packet by packet so the failing frame can be reported."""
    frames: list[np.ndarray] = []
    try:
        for packet in container.demux(stream):
            for frame in stream.decode(packet):
                grey = _to_grey(frame)
                if frames and grey.shape != frames[0].shape:
                    raise InconsistentGeometryError(
                        p, f"frame size changes from {frames[0].shape} to {grey.shape} at frame {len(frames)}"
                    )
                frames.append(grey)
                if max_frames is not None and len(frames) >= max_frames:
                    return frames
    except _AV_ERRORS as exc:
        raise UnreadableVideoError(
            p,
            f"decoding failed after {len(frames)} frame(s) ({_reason(exc)}); "
            "the file is truncated or damaged",
        ) from exc
    return frames


def _to_grey(frame: av.VideoFrame) -> np.ndarray:
    """Luma as full-range uint8.

    The source range is the decoder's (YUV with unspecified range is treated as
    limited, FFmpeg's convention); asking for full-range grey expands it.
    """
    grey = frame.reformat(format="gray", dst_color_range=ColorRange.JPEG)
    return np.ascontiguousarray(grey.to_ndarray())


def _frame_rate(p: Path, container: Any, stream: Any, n_frames: int) -> float:
    """Average frame rate in frames/s; fallback: decoded frames / duration."""
    rate = stream.average_rate
    if rate is not None and rate > 0:
        return float(rate)
    duration_s = None
    if stream.duration and stream.time_base:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration:
        duration_s = container.duration / av.time_base
    if duration_s and duration_s > 0 and n_frames > 0:
        return n_frames / duration_s
    raise UnreadableVideoError(p, "frame rate unknown: the stream has no average rate and no duration")


def _check_complete(p: Path, container: Any, declared: int, n_decoded: int, fps: float) -> None:
    """Raise if the container promises more frames than were decoded."""
    if declared > 0:
        if n_decoded < declared:
            raise UnreadableVideoError(
                p,
                f"the container declares {declared} frames but only {n_decoded} could be decoded; "
                "the file is truncated or damaged",
            )
        return
    # Matroska/WebM store no frame count but a header duration. Other formats
    # without a count (raw streams, MPEG-TS) only have durations FFmpeg
    # estimates from the bit rate, too rough to judge completeness.
    if "matroska" in container.format.name and container.duration and fps > 0:
        duration_s = container.duration / av.time_base
        expected = duration_s * fps
        if n_decoded < expected - 1:
            raise UnreadableVideoError(
                p,
                f"the container declares {duration_s:.3f} s (about {round(expected)} frames) but only "
                f"{n_decoded} frame(s) could be decoded; the file is truncated or damaged",
            )


def write_video(clip: EchoClip, path: str | os.PathLike[str], *, codec: str | None = None) -> Path:
    """Write a clip's frames as a video file, atomically.

    The extension chooses the container and default codec: ``.avi`` and
    ``.mkv`` -> FFV1 8-bit grey (lossless: :func:`read_video` returns the same
    uint8 frames); ``.mp4`` -> H.264 (libx264) if available, else MPEG-4
    Part 2 (lossy). The frame rate ``clip.fps`` (frames/s) is stored as an
    exact fraction where possible (29.97 -> 2997/100, 30000/1001 kept).

    Args:
        clip: frames (t, y, x) with values in 0..255 (non-uint8 values are
            rounded).
        path: output file; its folder is created.
        codec: an FFmpeg encoder name overriding the default.

    Returns:
        The written path.

    Raises:
        UsageError: unknown extension or codec, values outside 0..255, or a
            codec the container or FFmpeg build cannot use.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    containers = {**LOSSLESS_CONTAINERS, **LOSSY_CONTAINERS}
    if suffix not in containers:
        raise UsageError(
            f"cannot write {target}: unknown video extension {suffix!r} (use {', '.join(containers)})"
        )
    codec_name = codec or ("ffv1" if suffix in LOSSLESS_CONTAINERS else default_mp4_codec())
    try:
        encoder = av.codec.Codec(codec_name, "w")
    except _AV_ERRORS as exc:
        raise UsageError(f"cannot write {target}: FFmpeg has no encoder {codec_name!r}") from exc
    frames = _as_uint8(clip, target)
    height, width = frames.shape[1:]
    pix_fmt = _pick_pix_fmt(encoder, height, width)
    rate = Fraction(clip.fps).limit_denominator(10000)
    try:
        with atomic_path(target) as tmp:
            _encode(tmp, containers[suffix], encoder.name, pix_fmt, rate, frames)
    except (av.FFmpegError, ValueError) as exc:
        raise UsageError(
            f"cannot write {target} with codec {encoder.name} ({pix_fmt}): {_reason(exc)}"
        ) from exc
    return target


def default_mp4_codec() -> str:
    """Name of the default MP4 encoder: libx264 when this FFmpeg build has it, else mpeg4."""
    try:
        av.codec.Codec("libx264", "w")
    except _AV_ERRORS:
        return "mpeg4"
    return "libx264"


def _as_uint8(clip: EchoClip, target: Path) -> np.ndarray:
    frames = np.asarray(clip.frames)
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if frames.size and (frames.min() < 0 or frames.max() > 255):
        raise UsageError(
            f"cannot write {target}: frame values span {frames.min()}..{frames.max()}; "
            "video stores 8-bit grey (0..255), rescale first"
        )
    return np.ascontiguousarray(np.rint(frames).astype(np.uint8))


def _pick_pix_fmt(encoder: av.codec.Codec, height: int, width: int) -> str:
    """Grey when the encoder supports it (except H.264); else the most compatible YUV."""
    supported = [f.name for f in (encoder.video_formats or [])]
    if not supported:  # e.g. rawvideo: any format goes
        return "gray"
    # libx264 accepts "gray" but players and FFmpeg disagree on its range;
    # 4:2:0 needs even sizes, so odd frames go to 4:4:4.
    if "gray" in supported and encoder.name != "libx264":
        return "gray"
    odd = height % 2 or width % 2
    order = ("yuv444p", "yuv420p") if odd else ("yuv420p", "yuv444p")
    if encoder.name == "mjpeg":  # JPEG is full range: the encoder takes only "yuvj" input
        order = tuple(f"yuvj{c[3:]}" for c in order)
    else:
        order = (*order, *(f"yuvj{c[3:]}" for c in order))
    for candidate in order:
        if candidate in supported:
            return candidate
    return supported[0]


def _encode(
    tmp: Path, container_format: str, codec_name: str, pix_fmt: str, rate: Fraction, frames: np.ndarray
) -> None:
    # faststart puts the MP4 index first, so a cut file still declares its frame count.
    options = {"movflags": "+faststart"} if container_format == "mp4" else {}
    with av.open(str(tmp), mode="w", format=container_format, options=options) as container:
        stream = container.add_stream(codec_name, rate=rate)
        stream.height, stream.width = frames.shape[1:]
        stream.pix_fmt = pix_fmt
        stream.options = dict(_CODEC_OPTIONS.get(codec_name, {}))
        convert = pix_fmt != "gray"
        # Limited-range YUV is the universal default; "yuvj" formats are full range.
        color_range = ColorRange.JPEG if pix_fmt.startswith("yuvj") else ColorRange.MPEG
        if convert:
            stream.codec_context.color_range = color_range
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="gray")
            if convert:
                frame = frame.reformat(
                    format=pix_fmt, src_color_range=ColorRange.JPEG, dst_color_range=color_range
                )
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
