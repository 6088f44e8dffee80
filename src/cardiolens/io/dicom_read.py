"""Read a folder of DICOM MR images into a :class:`CineCMR` or :class:`CMRVolume`.

Handles classic single-frame MR Image Storage files and Enhanced MR
multi-frame files (per-frame and shared functional groups), or a mix of both
within one series. Geometry follows the DICOM patient coordinate system (LPS)
and is converted to the RAS+ affine the containers use.

How a folder becomes an array:

1. Candidate files are ``*.dcm``/``*.dicom``/``*.ima``, files without an
   extension and files named by a UID (``1.2.3.4``); other files (``.txt``,
   ``.json``, ``.nii.gz``, hidden files, ``DICOMDIR``) are skipped. A
   candidate that is not DICOM is an error naming that file.
2. One series is chosen (``series_uid`` or the only one present); every image
   must share one orientation, pixel spacing and matrix size.
3. Slices are ordered by the projection of ImagePositionPatient on the slice
   normal (row x column direction), ascending; frames within a slice by
   TriggerTime (or NominalCardiacTriggerDelayTime), with InstanceNumber (or
   the temporal position index) as fallback.
4. More than one image per slice position makes a cine (t, z, y, x);
   one image per position makes a volume (z, y, x).

Pixel values have RescaleSlope/RescaleIntercept applied and are float32.
Vendor-private scalings (e.g. Philips' private scale slope) are not applied.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cardiolens.data.cine import CineCMR
from cardiolens.data.volume import MODALITY_UNITS, CMRVolume, Modality
from cardiolens.errors import (
    CorruptFileError,
    DataError,
    InconsistentGeometryError,
    MissingDataError,
    MixedSeriesError,
    UsageError,
)
from cardiolens.io.files import require_dir, require_file

#: DICOM LPS <-> NIfTI RAS: negate x and y (the matrix is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Direction cosines may differ this much (about 0.6 degrees) and still count as one orientation.
ORIENTATION_TOL = 1e-2
#: Pixel spacings that differ by more than this (mm) are inconsistent.
PIXEL_SPACING_TOL_MM = 1e-3
#: Images closer than this along the slice normal share a slice position (mm).
POSITION_TOL_MM = 0.1
#: A gap this many times the typical gap means a slice is missing.
MISSING_GAP_RATIO = 1.5
#: Gaps may differ from the typical gap by max(abs, rel * gap) before the stack is non-uniform.
GAP_TOL_MM, GAP_TOL_REL = 0.1, 0.02
#: Slices may be shifted in plane by at most this fraction of a pixel.
IN_PLANE_SHIFT_TOL_PX = 1.0

#: Marker a writer puts in ImageComments when the spacing is a placeholder.
SPACING_UNKNOWN_MARKER = "spacing unknown"

_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}


def is_dicom_candidate(path: Path) -> bool:
    """True for names that may hold DICOM: ``.dcm``/``.dicom``/``.ima``, no extension, or a UID name."""
    if path.name.startswith(".") or path.name.upper() == "DICOMDIR":
        return False
    suffix = path.suffix.lower()
    return suffix in _DICOM_SUFFIXES or suffix == "" or suffix[1:].isdigit()


def read_dicom_file(path: str | os.PathLike[str], *, header_only: bool = False) -> Dataset:
    """Read one DICOM file; errors name the file.

    Files without the 128-byte preamble are retried with ``force=True`` and
    accepted only if they carry a SOP Class UID (old ACR-NEMA-style exports).

    Raises:
        EmptyFileError: 0-byte file.
        CorruptFileError: not DICOM, or a header that cannot be parsed or is truncated.
    """
    p = require_file(path)
    try:
        ds = pydicom.dcmread(p, stop_before_pixels=header_only)
    except InvalidDicomError:
        ds = _read_without_preamble(p, header_only)
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise CorruptFileError(p, f"cannot read DICOM header ({type(exc).__name__}: {exc})") from exc
    if "SOPClassUID" not in ds:
        raise CorruptFileError(p, "DICOM header has no SOP Class UID (file truncated or not an image object)")
    if "TransferSyntaxUID" not in ds.file_meta:
        raise CorruptFileError(p, "DICOM file meta has no Transfer Syntax UID (file truncated?)")
    return ds


def _read_without_preamble(p: Path, header_only: bool) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # junk parsed as tags warns on every element
            ds = pydicom.dcmread(p, force=True, stop_before_pixels=header_only)
        ok = "SOPClassUID" in ds and "Rows" in ds
    except Exception:  # garbage can fail in any way once forced
        ok = False
    if not ok:
        raise CorruptFileError(p, "not a DICOM file (no 'DICM' prefix and no readable DICOM header)")
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit = ds.original_encoding[0]
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ds


def decode_pixels(ds: Dataset, path: str | os.PathLike[str]) -> np.ndarray:
    """Stored pixel values as (frames, rows, columns[, samples]); YBR is converted to RGB.

    Raises:
        CorruptFileError: no pixel data, pixel data shorter than
            Rows x Columns x frames x samples, or undecodable compressed data.
    """
    if "PixelData" not in ds:
        raise CorruptFileError(path, "no pixel data (file truncated?)")
    rows, cols = int(ds.Rows), int(ds.Columns)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        n_values = rows * cols * n_frames * samples
        expected = (n_values + 7) // 8 if bits == 1 else n_values * (bits // 8)
        got = len(ds.PixelData)
        if got < expected:
            raise CorruptFileError(
                path,
                f"truncated pixel data: {got} bytes, expected {expected} for "
                f"{n_frames} frame(s) of {rows}x{cols}x{samples} at {bits} bits",
            )
    try:
        array = np.asarray(ds.pixel_array)
    except Exception as exc:  # decoders raise ValueError, RuntimeError, NotImplementedError...
        raise CorruptFileError(path, f"cannot decode pixel data ({type(exc).__name__}: {exc})") from exc
    shape = (n_frames, rows, cols) if samples == 1 else (n_frames, rows, cols, samples)
    return array.reshape(shape)


# --------------------------------------------------------------------------- frames


@dataclass
class _Frame:
    """One 2-D image of a series: a classic file or one frame of a multi-frame file."""

    path: Path
    frame_index: int  # index within the file (0 for single-frame files)
    series_uid: str
    description: str
    orientation: np.ndarray  # (6,) row then column direction cosines, LPS
    position: np.ndarray  # (3,) ImagePositionPatient, LPS mm
    pixel_spacing: tuple[float, float]  # (row, column) mm
    matrix: tuple[int, int]  # (rows, columns)
    trigger_ms: float | None
    order: tuple[int, int]  # fallback temporal order (instance number, frame position)
    slope: float
    intercept: float
    thickness_mm: float | None
    comments: str


def _first_item(container: Dataset | None, sequence: str) -> Dataset | None:
    if container is None or sequence not in container:
        return None
    seq = container[sequence].value
    return seq[0] if len(seq) else None


def _group_value(per_frame: Dataset | None, shared: Dataset | None, sequence: str, keyword: str) -> Any:
    """A functional-group attribute: per-frame group first, then the shared group."""
    for group in (per_frame, shared):
        item = _first_item(group, sequence)
        if item is not None and keyword in item and item[keyword].value not in (None, ""):
            return item[keyword].value
    return None


def _float_or_none(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _require(value: Any, path: Path | str, what: str) -> Any:
    if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
        raise MissingDataError(path, f"no {what}")
    return value


def numeric_tag(value: Any, size: int, path: Path | str, what: str) -> np.ndarray:
    """A required numeric multi-value tag as a float array of ``size`` values."""
    values = _require(value, path, what)
    try:
        array = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(path, f"{what} is not numeric ({values!r})") from exc
    if array.size != size or not np.isfinite(array).all():
        raise CorruptFileError(path, f"{what} must hold {size} finite numbers, got {values!r}")
    return array


def _pair(values: np.ndarray) -> tuple[float, float]:
    return (float(values[0]), float(values[1]))


def _frames_of(ds: Dataset, path: Path) -> list[_Frame]:
    """The 2-D images a dataset holds, with the geometry each one needs."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        photometric = ds.get("PhotometricInterpretation")
        raise DataError(path, f"colour MR images are not supported (PhotometricInterpretation {photometric})")
    common: dict[str, Any] = dict(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        description=str(ds.get("SeriesDescription", "")),
        matrix=(int(_require(ds.get("Rows"), path, "Rows")), int(_require(ds.get("Columns"), path, "Columns"))),
        comments=str(ds.get("ImageComments", "")),
    )
    if "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced_frames(ds, path, common)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise DataError(path, "multi-frame file without per-frame functional groups is not supported")
    return [
        _Frame(
            frame_index=0,
            orientation=numeric_tag(ds.get("ImageOrientationPatient"), 6, path, "ImageOrientationPatient"),
            position=numeric_tag(ds.get("ImagePositionPatient"), 3, path, "ImagePositionPatient"),
            pixel_spacing=_pair(numeric_tag(ds.get("PixelSpacing"), 2, path, "PixelSpacing")),
            trigger_ms=_float_or_none(ds.get("TriggerTime")),
            order=(int(ds.get("InstanceNumber", 0) or 0), 0),
            slope=float(ds.get("RescaleSlope", 1.0) or 1.0),
            intercept=float(ds.get("RescaleIntercept", 0.0) or 0.0),
            thickness_mm=_float_or_none(ds.get("SliceThickness")),
            **common,
        )
    ]


def _enhanced_frames(ds: Dataset, path: Path, common: dict[str, Any]) -> list[_Frame]:
    """Frames of an enhanced multi-frame file: per-frame groups, falling back to shared groups."""
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame_groups = ds.PerFrameFunctionalGroupsSequence
    n_frames = int(ds.get("NumberOfFrames", len(per_frame_groups)) or 0)
    if len(per_frame_groups) != n_frames:
        raise CorruptFileError(path, f"{len(per_frame_groups)} per-frame functional groups for {n_frames} frames")
    instance = int(ds.get("InstanceNumber", 0) or 0)
    frames = []
    for index, group in enumerate(per_frame_groups):

        def value(sequence: str, keyword: str, group: Dataset = group) -> Any:
            return _group_value(group, shared, sequence, keyword)

        def vector(sequence: str, keyword: str, size: int, index: int = index) -> np.ndarray:
            return numeric_tag(value(sequence, keyword), size, path, f"{keyword} of frame {index + 1}")

        temporal = value("FrameContentSequence", "TemporalPositionIndex")
        slope = value("PixelValueTransformationSequence", "RescaleSlope")
        intercept = value("PixelValueTransformationSequence", "RescaleIntercept")
        frames.append(
            _Frame(
                frame_index=index,
                orientation=vector("PlaneOrientationSequence", "ImageOrientationPatient", 6),
                position=vector("PlanePositionSequence", "ImagePositionPatient", 3),
                pixel_spacing=_pair(vector("PixelMeasuresSequence", "PixelSpacing", 2)),
                trigger_ms=_float_or_none(value("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime")),
                order=(instance, int(temporal) if temporal not in (None, "") else index),
                slope=float(slope if slope is not None else ds.get("RescaleSlope", 1.0) or 1.0),
                intercept=float(intercept if intercept is not None else ds.get("RescaleIntercept", 0.0) or 0.0),
                thickness_mm=_float_or_none(value("PixelMeasuresSequence", "SliceThickness")),
                **common,
            )
        )
    return frames


# --------------------------------------------------------------------------- series checks


def _list_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    files = sorted(p for p in require_dir(folder).iterdir() if p.is_file() and is_dicom_candidate(p))
    if not files:
        raise MissingDataError(folder, "no DICOM files (*.dcm or files without an extension)")
    return files


def _select_series(folder: Path, frames: list[_Frame], series_uid: str | None) -> list[_Frame]:
    by_series: dict[str, list[_Frame]] = {}
    for frame in frames:
        by_series.setdefault(frame.series_uid, []).append(frame)
    if series_uid is not None:
        if series_uid not in by_series:
            raise MissingDataError(folder, f"no series {series_uid!r}; present: {', '.join(by_series)}")
        return by_series[series_uid]
    if len(by_series) > 1:
        listing = "; ".join(
            f"{uid or '<no uid>'} ({group[0].description!r}, {len({f.path for f in group})} file(s))"
            for uid, group in by_series.items()
        )
        raise MixedSeriesError(folder, f"{len(by_series)} series in one folder, pass series_uid to pick one: {listing}")
    return frames


def _check_same_plane_geometry(folder: Path, frames: list[_Frame]) -> None:
    ref = frames[0]
    for frame in frames[1:]:
        if np.max(np.abs(frame.orientation - ref.orientation)) > ORIENTATION_TOL:
            raise MixedSeriesError(
                folder,
                f"mixed orientations: {frame.path.name} has ImageOrientationPatient "
                f"{np.round(frame.orientation, 4).tolist()}, "
                f"{ref.path.name} has {np.round(ref.orientation, 4).tolist()}",
            )
        if np.max(np.abs(np.subtract(frame.pixel_spacing, ref.pixel_spacing))) > PIXEL_SPACING_TOL_MM:
            raise InconsistentGeometryError(
                folder,
                f"pixel spacing differs: {frame.path.name} has {frame.pixel_spacing} mm, "
                f"{ref.path.name} has {ref.pixel_spacing} mm",
            )
        if frame.matrix != ref.matrix:
            raise InconsistentGeometryError(
                folder, f"matrix size differs: {frame.path.name} is {frame.matrix}, {ref.path.name} is {ref.matrix}"
            )


def _slice_normal(orientation: np.ndarray) -> np.ndarray:
    normal = np.cross(orientation[:3], orientation[3:])
    return normal / np.linalg.norm(normal)


def _group_positions(frames: list[_Frame], normal: np.ndarray) -> list[list[_Frame]]:
    """Frames grouped by slice position, groups in ascending order along the normal."""
    keyed = sorted(frames, key=lambda f: float(f.position @ normal))
    groups: list[list[_Frame]] = []
    last = None
    for frame in keyed:
        pos = float(frame.position @ normal)
        if last is None or pos - last > POSITION_TOL_MM:
            groups.append([])
            last = pos
        groups[-1].append(frame)
    return groups


def _check_slice_gaps(folder: Path, positions: np.ndarray) -> float | None:
    """Centre-to-centre slice spacing in mm (None for a single slice); raise on gaps."""
    if positions.size < 2:
        return None
    gaps = np.diff(positions)
    # The lower median is robust to one large (missing slice) or one small gap.
    typical = float(np.sort(gaps)[(gaps.size - 1) // 2])
    for i, gap in enumerate(gaps):
        if gap > MISSING_GAP_RATIO * typical:
            raise MissingDataError(
                folder,
                f"missing slice: gap of {gap:.2f} mm between slice positions {positions[i]:.2f} and "
                f"{positions[i + 1]:.2f} mm, typical gap {typical:.2f} mm",
            )
    deviation = np.abs(gaps - typical)
    tol = max(GAP_TOL_MM, GAP_TOL_REL * typical)
    if np.any(deviation > tol):
        raise InconsistentGeometryError(
            folder, f"non-uniform slice spacing: gaps {np.round(gaps, 3).tolist()} mm (tolerance {tol:.2f} mm)"
        )
    return float(np.mean(gaps))


def _check_in_plane_alignment(folder: Path, groups: list[list[_Frame]]) -> None:
    ref = groups[0][0]
    row_dir, col_dir = ref.orientation[:3], ref.orientation[3:]
    for group in groups[1:]:
        offset = group[0].position - ref.position
        shift_px = max(abs(offset @ row_dir) / ref.pixel_spacing[1], abs(offset @ col_dir) / ref.pixel_spacing[0])
        if shift_px > IN_PLANE_SHIFT_TOL_PX:
            raise InconsistentGeometryError(
                folder, f"slice {group[0].path.name} is shifted in plane by {shift_px:.1f} pixels from {ref.path.name}"
            )


def _sort_frames(folder: Path, group: list[_Frame]) -> tuple[list[_Frame], bool]:
    """Frames of one slice position in temporal order, and whether trigger times were used."""
    use_trigger = all(f.trigger_ms is not None for f in group)
    if use_trigger:
        ordered = sorted(group, key=lambda f: (f.trigger_ms, f.order))
        times = [f.trigger_ms for f in ordered]
        if len(set(times)) != len(times):
            raise MixedSeriesError(
                folder,
                f"{len(times)} images at one slice position share trigger times "
                f"(e.g. {ordered[0].path.name}); several image types or repeats in one series?",
            )
        return ordered, True
    return sorted(group, key=lambda f: f.order), False


# --------------------------------------------------------------------------- assembly


_MODALITY_PATTERNS: list[tuple[Modality, re.Pattern[str]]] = [
    ("ecv", re.compile(r"\bECV\b")),
    ("t2", re.compile(r"\bT2[\s_-]*MAP")),
    ("t1", re.compile(r"\bT1[\s_-]*MAP|MOLLI")),
    ("lge", re.compile(r"\bLGE\b|PSIR|\bDE\b|\bMDE\b|DELAYED|LATE[\s_-]*(GAD|ENH)")),
    ("os_dsi", re.compile(r"%\s*DSI|OXYGENATION")),
    ("cine_frame", re.compile(r"\bCINE[\s_-]*FRAME")),
]


def infer_modality(series_description: str) -> Modality:
    """Modality from a SeriesDescription: LGE/PSIR/DE/delayed -> "lge", "T1 map"/MOLLI -> "t1",
    "T2 map" -> "t2", ECV -> "ecv"; "other" when nothing matches."""
    text = series_description.upper().replace("_", " ")
    for modality, pattern in _MODALITY_PATTERNS:
        if pattern.search(text):
            return modality
    return "other"


def _pixels_for(frames: list[_Frame]) -> dict[tuple[Path, int], np.ndarray]:
    """Rescaled float32 pixels of every frame, reading each file once."""
    by_path: dict[Path, list[_Frame]] = {}
    for frame in frames:
        by_path.setdefault(frame.path, []).append(frame)
    out: dict[tuple[Path, int], np.ndarray] = {}
    for path, in_file in sorted(by_path.items()):
        stored = decode_pixels(read_dicom_file(path), path)
        for frame in in_file:
            if frame.frame_index >= stored.shape[0]:
                raise CorruptFileError(path, f"frame {frame.frame_index + 1} missing from pixel data")
            # float64 arithmetic so a large intercept does not eat float32 precision before the cast
            image = stored[frame.frame_index].astype(np.float64) * frame.slope + frame.intercept
            out[(path, frame.frame_index)] = image.astype(np.float32)
    return out


def _affine(first: _Frame, normal: np.ndarray, dz_mm: float) -> np.ndarray:
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    lps = np.eye(4)
    lps[:3, 0] = row_dir * first.pixel_spacing[1]  # x = column index moves along the row direction
    lps[:3, 1] = col_dir * first.pixel_spacing[0]  # y = row index moves along the column direction
    lps[:3, 2] = normal * dz_mm
    lps[:3, 3] = first.position
    return LPS_TO_RAS @ lps


def _metadata(ds: Dataset, series_uid: str, n_files: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "series_description": str(ds.get("SeriesDescription", "")),
        "patient_id": str(ds.get("PatientID", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "series_uid": series_uid,
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "sop_class": getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID)),
        "n_files": n_files,
    }
    if ds.get("MagneticFieldStrength") not in (None, ""):
        meta["field_strength_t"] = float(ds.MagneticFieldStrength)
    if ds.get("ProtocolName"):
        meta["protocol_name"] = str(ds.ProtocolName)
    if str(ds.get("PatientName", "")).upper().startswith("SIMULATED"):
        meta["simulated"] = True
    return meta


def read_dicom_series(
    folder: str | os.PathLike[str], series_uid: str | None = None, modality: str | None = None
) -> CineCMR | CMRVolume:
    """Read one DICOM MR series from a folder (or a single enhanced multi-frame file).

    Args:
        folder: folder of DICOM files (only its top level is read), or one file.
        series_uid: SeriesInstanceUID to read when the folder holds several.
        modality: modality of a volume ("lge", "t1", "t2", "ecv", ...); by
            default inferred from SeriesDescription (see :func:`infer_modality`).

    Returns:
        :class:`CineCMR` (t, z, y, x) when slice positions hold several frames,
        with ``trigger_times_ms`` (mean over slices; None when the files carry
        no trigger times) and ``ed_index=0``; otherwise :class:`CMRVolume`
        (z, y, x). Values are float32 after RescaleSlope/Intercept.
        ``spacing_mm`` is (z, y, x) in mm: z from slice positions (centre to
        centre; SpacingBetweenSlices or SliceThickness for a single slice),
        y/x from PixelSpacing (row, column). The affine maps voxel
        (x=column, y=row, z=slice, 1) to RAS+ mm from the first sorted slice.

    Raises:
        EmptyFileError / CorruptFileError: a 0-byte, non-DICOM, truncated or
            undecodable file (named).
        MixedSeriesError: several series without ``series_uid``, mixed
            orientations, or duplicate images at one position and time.
        InconsistentGeometryError: differing pixel spacing or matrix size,
            non-uniform slice spacing, slices shifted in plane.
        MissingDataError: a missing slice, a slice position short of frames,
            or missing geometry tags.
    """
    root = Path(folder)
    if modality is not None and modality not in MODALITY_UNITS:
        raise UsageError(f"unknown modality {modality!r}; known: {', '.join(MODALITY_UNITS)}")
    frames: list[_Frame] = []
    first_ds: dict[str, Dataset] = {}
    for path in _list_files(root):
        ds = read_dicom_file(path, header_only=True)
        if "Rows" not in ds:  # non-image objects (structured reports, presentation states)
            continue
        found = _frames_of(ds, path)
        frames.extend(found)
        first_ds.setdefault(found[0].series_uid, ds)
    if not frames:
        raise MissingDataError(root, "no DICOM images (only non-image DICOM objects)")
    frames = _select_series(root, frames, series_uid)
    _check_same_plane_geometry(root, frames)

    first = frames[0]
    normal = _slice_normal(first.orientation)
    groups = _group_positions(frames, normal)
    positions = np.array([float(g[0].position @ normal) for g in groups])
    dz = _check_slice_gaps(root, positions)
    _check_in_plane_alignment(root, groups)

    sorted_groups = []
    used_trigger = True
    for group in groups:
        ordered, by_trigger = _sort_frames(root, group)
        sorted_groups.append(ordered)
        used_trigger &= by_trigger
    n_t = max(len(g) for g in sorted_groups)
    for pos, group in zip(positions, sorted_groups):
        if len(group) < n_t:
            raise MissingDataError(
                root,
                f"slice position {pos:.2f} mm has {len(group)} frame(s), others have {n_t} "
                f"(first file there: {group[0].path.name})",
            )

    ds0 = first_ds[first.series_uid]
    thickness = first.thickness_mm
    if dz is None:
        spacing_between = _float_or_none(ds0.get("SpacingBetweenSlices"))
        dz = spacing_between or thickness or 1.0
    pixels = _pixels_for(frames)
    image = np.stack(
        [np.stack([pixels[(f.path, f.frame_index)] for f in group]) for group in sorted_groups], axis=1
    )  # (t, z, y, x)
    anchor = sorted_groups[0][0]
    affine = _affine(anchor, normal, dz)
    spacing = (float(dz), float(first.pixel_spacing[0]), float(first.pixel_spacing[1]))
    spacing_known = SPACING_UNKNOWN_MARKER not in first.comments.lower()
    meta = _metadata(ds0, first.series_uid, len({f.path for f in frames}))
    meta["slice_positions_mm"] = positions.tolist()
    subject_id = meta["patient_id"] or root.name

    if n_t > 1:
        trigger = None
        if used_trigger:
            per_slice = np.array([[f.trigger_ms for f in g] for g in sorted_groups], dtype=float)
            trigger = per_slice.mean(axis=0)
            meta["trigger_time_spread_ms"] = float(np.max(np.ptp(per_slice, axis=0)))
        return CineCMR(
            image=image,
            spacing_mm=spacing,
            spacing_known=spacing_known,
            affine=affine,
            trigger_times_ms=trigger,
            ed_index=0,
            slice_thickness_mm=thickness,
            subject_id=subject_id,
            source=str(root),
            metadata=meta,
        )
    if thickness is not None:
        meta["slice_thickness_mm"] = thickness
    chosen = modality or infer_modality(meta["series_description"])
    return CMRVolume(
        image=image[0],
        modality=chosen,  # type: ignore[arg-type]  # checked against MODALITY_UNITS above
        spacing_mm=spacing,
        spacing_known=spacing_known,
        affine=affine,
        subject_id=subject_id,
        source=str(root),
        metadata=meta,
    )
