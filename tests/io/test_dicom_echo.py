"""Ultrasound multi-frame DICOM echo clips: round trip, colour/timing/spacing variants, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UltrasoundMultiFrameImageStorage

from cardiolens.data import EchoClip
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    MissingDataError,
    UnreadableVideoError,
    UsageError,
)
from cardiolens.io.dicom_echo import read_dicom_echo, write_dicom_echo


def _clip(**overrides: object) -> EchoClip:
    rng = np.random.default_rng(5)
    values: dict[str, object] = dict(
        frames=rng.integers(0, 256, size=(6, 12, 14), dtype=np.uint8),
        fps=48.0,
        pixel_spacing_mm=(0.31, 0.27),
        view="A4C",
        subject_id="E001",
    )
    values.update(overrides)
    return EchoClip(**values)  # type: ignore[arg-type]


def _rewrite(path: Path, **tags: object) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return ds


def test_round_trip(tmp_path: Path) -> None:
    clip = _clip()
    path = write_dicom_echo(clip, tmp_path / "echo.dcm")
    back = read_dicom_echo(path)
    assert back.frames.dtype == np.uint8
    np.testing.assert_array_equal(back.frames, clip.frames)
    assert back.fps == pytest.approx(48.0)
    assert back.pixel_spacing_mm == pytest.approx((0.31, 0.27))
    assert back.view == "A4C"
    assert back.subject_id == "E001"
    assert back.metadata["frame_rate_source"] == "FrameTime"


def test_written_file_is_ultrasound_multiframe(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "echo.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == UltrasoundMultiFrameImageStorage
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsAllocated == 8
    assert ds.NumberOfFrames == 6
    assert ds.FrameTime == pytest.approx(1000 / 48) and ds.CineRate == 48
    region = ds.SequenceOfUltrasoundRegions[0]
    assert (region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection) == (3, 3)  # cm
    assert region.PhysicalDeltaX == pytest.approx(0.027) and region.PhysicalDeltaY == pytest.approx(0.031)
    assert [p.name for p in tmp_path.iterdir()] == ["echo.dcm"]  # no temporary left behind


def test_unknown_spacing_and_float_frames(tmp_path: Path) -> None:
    frames = np.linspace(0, 255, 2 * 4 * 5).reshape(2, 4, 5)
    back = read_dicom_echo(write_dicom_echo(_clip(frames=frames, pixel_spacing_mm=None), tmp_path / "e.dcm"))
    assert back.pixel_spacing_mm is None
    np.testing.assert_array_equal(back.frames, np.round(frames).astype(np.uint8))


def test_view_argument_and_simulated_label(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(view="PLAX", metadata={"simulated": True}), tmp_path / "e.dcm")
    ds = pydicom.dcmread(path)
    assert str(ds.PatientName).startswith("SIMULATED")
    assert "SIMULATED" in ds.SeriesDescription
    back = read_dicom_echo(path)
    assert back.view == "PLAX" and back.metadata["simulated"] is True
    assert read_dicom_echo(path, view="A2C").view == "A2C"


def test_rewriting_gives_the_same_uids(tmp_path: Path) -> None:
    a = pydicom.dcmread(write_dicom_echo(_clip(), tmp_path / "a" / "echo.dcm"))
    b = pydicom.dcmread(write_dicom_echo(_clip(), tmp_path / "b" / "echo.dcm"))
    assert (a.SOPInstanceUID, a.SeriesInstanceUID) == (b.SOPInstanceUID, b.SeriesInstanceUID)


@pytest.mark.parametrize(
    ("tags", "fps", "source"),
    [
        (
            {"FrameTime": None, "FrameIncrementPointer": None, "FrameTimeVector": [0, 20, 20, 20, 20, 20]},
            50.0,
            "FrameTimeVector",
        ),
        ({"FrameTime": None, "FrameIncrementPointer": None, "CineRate": 25}, 25.0, "CineRate"),
        ({"FrameTime": 40.0, "CineRate": 99}, 25.0, "FrameTime"),  # FrameTime (ms) is more precise than CineRate
    ],
    ids=["frame-time-vector", "cine-rate", "frame-time-first"],
)
def test_frame_rate_sources(tmp_path: Path, tags: dict[str, object], fps: float, source: str) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "e.dcm")
    _rewrite(path, **tags)
    back = read_dicom_echo(path)
    assert back.fps == pytest.approx(fps)
    assert back.metadata["frame_rate_source"] == source


def test_spacing_needs_cm_units(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "e.dcm")
    ds = pydicom.dcmread(path)
    ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsXDirection = 4  # seconds: a Doppler/M-mode axis
    ds.save_as(path, enforce_file_format=True)
    assert read_dicom_echo(path).pixel_spacing_mm is None


def _as_colour(path: Path, rgb: np.ndarray, photometric: str) -> None:
    ds = pydicom.dcmread(path)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.PixelData = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_rgb_is_converted_to_grey(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "e.dcm")
    rng = np.random.default_rng(9)
    rgb = rng.integers(0, 256, size=(6, 12, 14, 3), dtype=np.uint8)
    _as_colour(path, rgb, "RGB")
    back = read_dicom_echo(path)
    expected = np.round(rgb.astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    assert back.frames.shape == (6, 12, 14) and back.frames.dtype == np.uint8
    np.testing.assert_array_equal(back.frames, expected)


def test_ybr_is_converted_to_grey(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "e.dcm")
    ybr = np.zeros((6, 12, 14, 3), dtype=np.uint8)
    ybr[..., 0] = np.arange(14) * 10  # luma ramp, neutral chroma: grey equals Y
    ybr[..., 1:] = 128
    _as_colour(path, ybr, "YBR_FULL")
    back = read_dicom_echo(path)
    assert np.max(np.abs(back.frames.astype(int) - ybr[..., 0])) <= 1


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    clip = _clip()
    path = write_dicom_echo(clip, tmp_path / "e.dcm")
    _rewrite(path, PhotometricInterpretation="MONOCHROME1")
    np.testing.assert_array_equal(read_dicom_echo(path).frames, 255 - clip.frames)


# --------------------------------------------------------------------------- bad inputs


def test_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "clip_garbage.dcm"
    path.write_bytes(b"RIFF....AVI LIST" * 40)
    with pytest.raises(CorruptFileError, match="not a DICOM file") as info:
        read_dicom_echo(path)
    assert "clip_garbage.dcm" in str(info.value)


def test_zero_byte(tmp_path: Path) -> None:
    path = tmp_path / "clip_empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="clip_empty.dcm"):
        read_dicom_echo(path)


def test_truncated(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "clip_cut.dcm")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CorruptFileError, match="truncated pixel data") as info:
        read_dicom_echo(path)
    assert "clip_cut.dcm" in str(info.value)


def test_no_frame_timing(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "clip_untimed.dcm")
    _rewrite(path, FrameTime=None, CineRate=None, FrameIncrementPointer=None)
    with pytest.raises(MissingDataError, match="no frame timing") as info:
        read_dicom_echo(path)
    assert "clip_untimed.dcm" in str(info.value)


def test_single_frame(tmp_path: Path) -> None:
    path = write_dicom_echo(_clip(), tmp_path / "clip_still.dcm")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 1
    ds.PixelData = ds.PixelData[: 12 * 14]
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(UnreadableVideoError, match="at least 2") as info:
        read_dicom_echo(path)
    assert "clip_still.dcm" in str(info.value)


def test_writer_rejects_values_outside_8_bit(tmp_path: Path) -> None:
    clip = _clip(frames=np.full((2, 4, 4), 300.0), source="sixteen_bit_clip")
    with pytest.raises(UsageError, match="sixteen_bit_clip"):
        write_dicom_echo(clip, tmp_path / "e.dcm")
    assert not list(tmp_path.iterdir())
