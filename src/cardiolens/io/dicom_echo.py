"""Echo clips as DICOM Ultrasound Multi-frame Image Storage files.

Reading converts colour (RGB, YBR_*, PALETTE COLOR) to grey with the ITU-R
BT.601 luma weights (0.299 R + 0.587 G + 0.114 B) and MONOCHROME1 to
MONOCHROME2. The frame rate comes from, in order: the tag named by
FrameIncrementPointer, FrameTime (ms per frame), FrameTimeVector (ms between
frames; the first entry is 0), CineRate (frames per second). Pixel spacing
comes from the first SequenceOfUltrasoundRegions item whose physical units are
cm in both directions (PhysicalUnits*Direction = 3), converted to mm; other
units (or no regions) give ``pixel_spacing_mm=None``.

Writing stores uint8 MONOCHROME2 frames with FrameTime (pointed to by
FrameIncrementPointer), CineRate and, when the spacing is known, one 2-D
tissue ultrasound region covering the image with PhysicalDeltaX/Y in cm.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import (
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from cardiolens.data.echo import EchoClip
from cardiolens.errors import MissingDataError, UnreadableVideoError, UsageError
from cardiolens.io.atomic import atomic_path
from cardiolens.io.dicom_read import decode_pixels, read_dicom_file
from cardiolens.io.dicom_write import file_meta, new_dataset

_FRAME_TIME = Tag("FrameTime")  # (0018,1063)
_FRAME_TIME_VECTOR = Tag("FrameTimeVector")  # (0018,1065)
_CINE_RATE = Tag("CineRate")  # (0018,0040)
_CM_UNITS = 3  # PhysicalUnitsX/YDirection code for cm

_VIEW_MEANINGS = [
    (re.compile(r"apical\s+(four|4)"), "A4C"),
    (re.compile(r"apical\s+(two|2)"), "A2C"),
    (re.compile(r"apical\s+(three|3)|apical\s+long"), "A3C"),
    (re.compile(r"apical\s+(five|5)"), "A5C"),
    (re.compile(r"parasternal\s+long"), "PLAX"),
    (re.compile(r"parasternal\s+short"), "PSAX"),
    (re.compile(r"subcostal"), "SC"),
]
_VIEW_TOKENS = re.compile(r"\b(A4C|A2C|A3C|A5C|PLAX|PSAX|SC)\b")


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _fps_from(ds: Dataset, tag: Any) -> float | None:
    if tag not in ds:
        return None
    value = ds[tag].value
    if tag == _FRAME_TIME:
        frame_time_ms = _positive(value)
        return 1000.0 / frame_time_ms if frame_time_ms else None
    if tag == _FRAME_TIME_VECTOR:
        values = [value] if isinstance(value, (int, float, str)) else list(value)
        steps = [_positive(v) for v in values[1:]]  # the first entry is the 0 of the first frame
        if not steps or any(s is None for s in steps):
            return None
        return 1000.0 / float(np.mean(steps))  # type: ignore[arg-type]
    if tag == _CINE_RATE:
        return _positive(value)
    return None


def echo_frame_rate(ds: Dataset, path: str | os.PathLike[str]) -> tuple[float, str]:
    """Frame rate in frames per second and the tag it came from.

    Raises:
        MissingDataError: none of FrameTime, FrameTimeVector, CineRate is usable.
    """
    order = [_FRAME_TIME, _FRAME_TIME_VECTOR, _CINE_RATE]
    pointer = ds.get("FrameIncrementPointer")
    if pointer is not None:
        pointed = [Tag(t) for t in (pointer if isinstance(pointer, list) else [pointer])]
        order = [t for t in pointed if t in order] + [t for t in order if t not in pointed]
    for tag in order:
        fps = _fps_from(ds, tag)
        if fps is not None:
            return fps, str(ds[tag].keyword)
    raise MissingDataError(path, "no frame timing (FrameTime, FrameTimeVector or CineRate)")


def echo_pixel_spacing_mm(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm from the first ultrasound region calibrated in cm, else None."""
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        units = (region.get("PhysicalUnitsXDirection"), region.get("PhysicalUnitsYDirection"))
        if units != (_CM_UNITS, _CM_UNITS):
            continue
        dx, dy = _positive(abs(region.get("PhysicalDeltaX", 0))), _positive(abs(region.get("PhysicalDeltaY", 0)))
        if dx and dy:
            return (dy * 10.0, dx * 10.0)
    return None


def _view_of(ds: Dataset) -> str:
    for item in ds.get("ViewCodeSequence", []):
        meaning = str(item.get("CodeMeaning", "")).lower()
        for pattern, view in _VIEW_MEANINGS:
            if pattern.search(meaning):
                return view
    match = _VIEW_TOKENS.search(str(ds.get("SeriesDescription", "")).upper())
    return match.group(1) if match else "unknown"


def _to_grey(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        stored = apply_color_lut(stored, ds)
    if stored.ndim == 4:  # (t, y, x, 3) RGB; decode_pixels has already turned YBR into RGB
        grey = stored[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        if stored.dtype == np.uint8:
            return np.clip(np.round(grey), 0, 255).astype(np.uint8)
        return grey.astype(np.float32)
    if photometric == "MONOCHROME1":  # bright = low value; flip to the usual convention
        max_value = 2 ** int(ds.get("BitsStored", 8)) - 1
        return (max_value - stored.astype(np.int64)).astype(stored.dtype)
    return stored


def read_dicom_echo(path: str | os.PathLike[str], view: str | None = None) -> EchoClip:
    """Read an Ultrasound Multi-frame DICOM file into an :class:`EchoClip`.

    Args:
        path: the DICOM file.
        view: echo view ("A4C", ...); by default from ViewCodeSequence or a
            view token in SeriesDescription, else "unknown".

    Returns:
        frames (t, y, x): uint8 for 8-bit sources, else the stored dtype
        (float32 after colour conversion); ``fps`` in frames per second;
        ``pixel_spacing_mm`` (row, column) in mm or None.

    Raises:
        EmptyFileError / CorruptFileError: 0-byte, not DICOM, truncated pixel data.
        UnreadableVideoError: fewer than 2 frames.
        MissingDataError: no frame timing.
    """
    ds = read_dicom_file(path)
    p = Path(path)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames < 2:
        raise UnreadableVideoError(p, f"{n_frames} frame(s); an echo clip needs at least 2")
    fps, timing_tag = echo_frame_rate(ds, p)
    frames = _to_grey(ds, decode_pixels(ds, p))
    metadata = {
        "patient_id": str(ds.get("PatientID", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "series_description": str(ds.get("SeriesDescription", "")),
        "sop_class": getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID)),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
        "frame_rate_source": timing_tag,
    }
    if str(ds.get("PatientName", "")).upper().startswith("SIMULATED"):
        metadata["simulated"] = True
    return EchoClip(
        frames=frames,
        fps=fps,
        pixel_spacing_mm=echo_pixel_spacing_mm(ds),
        view=view or _view_of(ds),
        subject_id=metadata["patient_id"] or p.stem,
        source=str(p),
        metadata=metadata,
    )


def _region(rows: int, cols: int, spacing_mm: tuple[float, float]) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2-D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = _CM_UNITS
    region.PhysicalUnitsYDirection = _CM_UNITS
    region.PhysicalDeltaX = spacing_mm[1] / 10.0
    region.PhysicalDeltaY = spacing_mm[0] / 10.0
    return region


def _as_uint8(clip: EchoClip) -> np.ndarray:
    frames = np.asarray(clip.frames)
    if frames.dtype == np.uint8:
        return frames
    if frames.min() < 0 or frames.max() > 255:
        raise UsageError(
            f"{clip.source}: echo values span {frames.min():g}..{frames.max():g}; "
            "8-bit ultrasound DICOM needs 0..255 (rescale the clip first)"
        )
    return np.round(frames).astype(np.uint8)


def write_dicom_echo(clip: EchoClip, path: str | os.PathLike[str]) -> Path:
    """Write ``clip`` as an uint8 MONOCHROME2 Ultrasound Multi-frame file, atomically; return the path.

    UIDs derive from the subject id and view, so rewriting gives the same UIDs.
    When ``clip.metadata["simulated"]`` is true, PatientName starts with
    "SIMULATED" and SeriesDescription says so.
    """
    target = Path(path)
    frames = _as_uint8(clip)
    n_frames, rows, cols = frames.shape
    patient_id = clip.subject_id or target.stem
    simulated = bool(clip.metadata.get("simulated"))
    description = f"{'SIMULATED ' if simulated else ''}echo {clip.view}"
    series_uid = generate_uid(entropy_srcs=["cardiolens-echo-series", patient_id, clip.view, target.name])

    ds = new_dataset(
        sop_class=UltrasoundMultiFrameImageStorage,
        modality="US",
        patient_id=patient_id,
        simulated=simulated,
        description=description,
        series_uid=series_uid,
        study_uid=generate_uid(entropy_srcs=["cardiolens-study", patient_id]),
    )
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[series_uid, "instance"])
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "PRIMARY", "CARDIAC", "0001"]  # value 4 "0001": 2-D imaging
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = n_frames
    ds.FrameIncrementPointer = _FRAME_TIME
    ds.FrameTime = format_number_as_ds(1000.0 / float(clip.fps))
    ds.CineRate = int(round(float(clip.fps)))
    if clip.pixel_spacing_mm is not None:
        ds.SequenceOfUltrasoundRegions = DicomSequence([_region(rows, cols, clip.pixel_spacing_mm)])
    ds.PixelData = np.ascontiguousarray(frames).tobytes()

    ds.file_meta = file_meta(ds.SOPClassUID, ds.SOPInstanceUID)
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target
