"""DICOM Segmentation (SEG) output of a (z, y, x) label mask, via highdicom.

When the input was a DICOM series, a predicted mask is written as a DICOM SEG
instance that references the source images, so PACS viewers (OHIF, 3D Slicer,
...) overlay it on the series it came from. NIfTI output stays in
:mod:`cardiolens.io.nifti`.

Choices:

- Segmentation type BINARY (SOP class 1.2.840.10008.5.1.4.1.1.66.4). The
  LABELMAP SOP class that highdicom 0.28 can also write was only added to
  the standard in 2024 and most viewers do not read it yet; BINARY frames are
  bit-packed, so one frame per (segment, slice) stays small.
- One segment per entry of ``segments``, numbered 1..n in ascending order of
  the label value. With the LGE scheme (labels 1-4) segment numbers equal
  label values. Every named segment is described even when the mask lacks
  it; frames that hold no pixels of a segment are omitted (highdicom keeps
  all frames when the whole mask is empty).
- Slice z of the mask is the z-th source image (or frame of one enhanced
  multi-frame file) in ascending position along the slice normal (row x
  column direction), the order :func:`cardiolens.io.dicom_read.read_dicom_series`
  gives its (z, y, x) volume. The writer sorts the sources itself, so their
  order in the sequence passed in does not matter.
- Segmented property codes (SNOMED CT, all from pydicom's code dictionary),
  chosen by the segment name (case, spaces, ``_`` and ``-`` ignored):

  ==================================  =====================================  ==================================
  names                               category                               type
  ==================================  =====================================  ==================================
  LV cavity, LV blood pool            Tissue (85756007)                      Blood (87612001)
  (normal) myocardium, LV myocardium  Anatomical Structure (91723000)        Left Ventricle Myocardium (49848007)
  infarct, myocardial infarction      Morphologically Abnormal Structure     Myocardial Infarction (22298006)
                                      (49755003)
  scar, fibrosis, LGE                 Morphologically Abnormal Structure     Scar tissue (12402003)
  MVO, microvascular obstruction      Morphologically Abnormal Structure     Obstruction (26036001)
  anything else                       Tissue (85756007)                      Tissue (85756007)
  ==================================  =====================================  ==================================

  Cardiac segments carry the anatomic region Left ventricle (87878005).
  SNOMED has no microvascular-obstruction concept in pydicom's dictionary,
  hence the generic morphologic "Obstruction" located in the left ventricle.
- Algorithm type AUTOMATIC, algorithm family "Artificial Intelligence"
  (DCM 123110, CID 7162); ContentQualification RESEARCH.
- UIDs are derived from the source series, the algorithm and the mask
  content, so writing the same mask again gives the same file identity.

highdicom is an optional dependency (the ``ml`` extra) and is imported only
inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from cardiolens import __version__
from cardiolens.data.labels import LGE_LABELS
from cardiolens.errors import (
    CardiolensError,
    CorruptFileError,
    DataError,
    InconsistentGeometryError,
    MissingDataError,
    MixedSeriesError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.io.atomic import atomic_path
from cardiolens.io.dicom_read import ORIENTATION_TOL, POSITION_TOL_MM, is_dicom_candidate, numeric_tag, read_dicom_file
from cardiolens.io.files import require_dir, require_file

if TYPE_CHECKING:
    import highdicom

#: Segment names for the LGE label scheme (:data:`cardiolens.data.labels.LGE_LABELS`).
LGE_SEGMENTS: dict[int, str] = {
    LGE_LABELS["lv_cavity"]: "LV cavity",
    LGE_LABELS["normal_myocardium"]: "Normal myocardium",
    LGE_LABELS["infarct"]: "Infarct",
    LGE_LABELS["mvo"]: "Microvascular obstruction",
}

#: SOP classes of segmentations: skipped when a series folder also holds an earlier SEG output.
_SEGMENTATION_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}

_CAVITY = (codes.SCT.Tissue, codes.SCT.Blood, codes.SCT.LeftVentricle)
_MYOCARDIUM = (codes.SCT.AnatomicalStructure, codes.SCT.LeftVentricleMyocardium, codes.SCT.LeftVentricle)
_INFARCT = (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.MyocardialInfarction, codes.SCT.LeftVentricle)
_SCAR = (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.ScarTissue, codes.SCT.LeftVentricle)
_MVO = (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Obstruction, codes.SCT.LeftVentricle)
_PROPERTY_CODES: dict[str, tuple[Code, Code, Code | None]] = {
    **dict.fromkeys(["lvcavity", "lvbloodpool", "leftventricularcavity", "cavity", "bloodpool"], _CAVITY),
    **dict.fromkeys(["normalmyocardium", "myocardium", "lvmyocardium", "leftventriclemyocardium"], _MYOCARDIUM),
    **dict.fromkeys(["infarct", "myocardialinfarction", "infarction"], _INFARCT),
    **dict.fromkeys(["scar", "fibrosis", "lge"], _SCAR),
    **dict.fromkeys(["mvo", "microvascularobstruction"], _MVO),
}
_GENERIC = (codes.SCT.Tissue, codes.SCT.Tissue, None)


def segment_codes(name: str) -> tuple[Code, Code, Code | None]:
    """(category, type, anatomic region or None) SNOMED codes for a segment name (table in the module doc)."""
    return _PROPERTY_CODES.get(re.sub(r"[\s_\-]", "", name.lower()), _GENERIC)


def _import_highdicom() -> Any:
    try:
        import highdicom
    except ImportError as exc:  # optional dependency of the ml extra
        raise CardiolensError(
            "DICOM SEG output needs highdicom; install cardiolens with the 'ml' extra (pip install 'cardiolens[ml]')"
        ) from exc
    return highdicom


# --------------------------------------------------------------------------- source geometry


@dataclass(frozen=True)
class _SourceFrame:
    """One 2-D source image: a single-frame dataset or one frame of a multi-frame dataset."""

    dataset_index: int
    frame_number: int  # 1-based, as DICOM counts frames
    position_mm: float  # along the slice normal


def _name(ds: Dataset, index: int) -> str:
    return str(getattr(ds, "filename", None) or f"<source dataset {index}>")


def _group_item(group: Dataset | None, sequence: str) -> Dataset | None:
    if group is None or sequence not in group or not len(group[sequence].value):
        return None
    return group[sequence].value[0]


def _plane_geometry(ds: Dataset, where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ImageOrientationPatient, ImagePositionPatient) of every frame of ``ds``, LPS."""
    if "PerFrameFunctionalGroupsSequence" not in ds:
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise DataError(where, "multi-frame file without per-frame functional groups is not supported")
        return [
            (
                numeric_tag(ds.get("ImageOrientationPatient"), 6, where, "ImageOrientationPatient"),
                numeric_tag(ds.get("ImagePositionPatient"), 3, where, "ImagePositionPatient"),
            )
        ]
    shared = _group_item(ds, "SharedFunctionalGroupsSequence")
    out = []
    for index, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        values = {}
        for sequence, keyword in (
            ("PlaneOrientationSequence", "ImageOrientationPatient"),
            ("PlanePositionSequence", "ImagePositionPatient"),
        ):
            # A per-frame value overrides the shared one, as in the enhanced MR IOD.
            items = [_group_item(group, sequence), _group_item(shared, sequence)]
            values[keyword] = next((item.get(keyword) for item in items if item is not None and keyword in item), None)
        out.append(
            (
                numeric_tag(values["ImageOrientationPatient"], 6, where, f"ImageOrientationPatient of frame {index + 1}"),
                numeric_tag(values["ImagePositionPatient"], 3, where, f"ImagePositionPatient of frame {index + 1}"),
            )
        )
    return out


def _slice_order(sources: Sequence[Dataset]) -> list[_SourceFrame]:
    """Source frames in ascending position along the slice normal: entry z is slice z of the volume.

    Raises:
        MixedSeriesError: several series, mixed orientations, or several images at one position.
        DataError: a multi-frame source mixed with other sources.
        InconsistentGeometryError: differing matrix sizes.
    """
    if not sources:
        raise UsageError("no source DICOM datasets given")
    first_name = _name(sources[0], 0)
    multi = [i for i, ds in enumerate(sources) if "PerFrameFunctionalGroupsSequence" in ds]
    if multi and len(sources) > 1:
        raise DataError(
            _name(sources[multi[0]], multi[0]),
            "a multi-frame source must be the only source (DICOM SEG references either single-frame "
            "images or one multi-frame image)",
        )
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in sources}
    if len(series) > 1:
        raise MixedSeriesError(first_name, f"source images belong to {len(series)} series: {', '.join(sorted(series))}")
    matrices = {(int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)) for ds in sources}
    if len(matrices) > 1:
        raise InconsistentGeometryError(first_name, f"source images differ in matrix size: {sorted(matrices)}")

    frames: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for index, ds in enumerate(sources):
        for number, (orientation, position) in enumerate(_plane_geometry(ds, _name(ds, index)), start=1):
            frames.append((index, number, orientation, position))
    reference = frames[0][2]
    for index, number, orientation, _ in frames:
        if np.max(np.abs(orientation - reference)) > ORIENTATION_TOL:
            raise MixedSeriesError(
                _name(sources[index], index), f"frame {number} has another orientation than {first_name}"
            )
    # Same normal as read_dicom_series (row x column), so slice z here is slice z there.
    normal = np.cross(reference[:3], reference[3:])
    normal /= np.linalg.norm(normal)
    ordered = sorted(
        (_SourceFrame(index, number, float(position @ normal)) for index, number, _, position in frames),
        key=lambda f: f.position_mm,
    )
    for before, after in itertools.pairwise(ordered):
        if after.position_mm - before.position_mm <= POSITION_TOL_MM:
            raise MixedSeriesError(
                _name(sources[after.dataset_index], after.dataset_index),
                f"two images at slice position {after.position_mm:.2f} mm: DICOM SEG output needs a "
                "single-phase series (one image per slice), not a cine",
            )
    return ordered


def _is_multiframe(sources: Sequence[Dataset]) -> bool:
    """True for one enhanced multi-frame source (``_slice_order`` refuses it mixed with others)."""
    return "PerFrameFunctionalGroupsSequence" in sources[0]


# --------------------------------------------------------------------------- reading sources


def read_source_datasets(
    series_dir: str | os.PathLike[str], n_slices: int | None = None, *, series_uid: str | None = None
) -> list[Dataset]:
    """Headers of a single-phase DICOM series, in the slice order of ``read_dicom_series``.

    Reads the top level of ``series_dir`` (or one file) like
    :func:`cardiolens.io.dicom_read.read_dicom_series`: the same candidate
    file names, non-image objects and earlier segmentations skipped. Classic
    series give one dataset per slice sorted along the slice normal, so
    ``datasets[z]`` is slice z of the (z, y, x) volume; a single enhanced
    multi-frame file gives a one-item list (its frame order is resolved by
    :func:`write_dicom_seg`). Pixel data is not loaded (highdicom needs only
    the headers).

    Args:
        series_dir: folder of one series, or one enhanced multi-frame file.
        n_slices: expected number of slices (e.g. ``volume.image.shape[0]``); checked when given.
        series_uid: SeriesInstanceUID to pick when the folder holds several series.

    Raises:
        MissingDataError: no DICOM images, an unknown ``series_uid``, or missing geometry tags.
        EmptyFileError / CorruptFileError: a 0-byte or unreadable file (named).
        MixedSeriesError: several series without ``series_uid``, mixed orientations, or a cine.
        InconsistentGeometryError: a slice count other than ``n_slices``, or differing matrix sizes.
    """
    root = Path(series_dir)
    if root.is_file():
        paths = [require_file(root)]
    else:
        paths = sorted(p for p in require_dir(root).iterdir() if p.is_file() and is_dicom_candidate(p))
    datasets = []
    for path in paths:
        ds = read_dicom_file(path, header_only=True)
        if "Rows" not in ds or str(ds.SOPClassUID) in _SEGMENTATION_SOP_CLASSES:
            continue  # structured reports, presentation states, earlier SEG outputs
        datasets.append(ds)
    if not datasets:
        raise MissingDataError(root, "no DICOM images")
    by_series: dict[str, list[Dataset]] = {}
    for ds in datasets:
        by_series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(ds)
    if series_uid is not None:
        if series_uid not in by_series:
            raise MissingDataError(root, f"no series {series_uid!r}; present: {', '.join(by_series)}")
        datasets = by_series[series_uid]
    elif len(by_series) > 1:
        raise MixedSeriesError(root, f"{len(by_series)} series in one folder, pass series_uid to pick one")
    order = _slice_order(datasets)
    found = len(order)
    if n_slices is not None and found != n_slices:
        raise InconsistentGeometryError(root, f"series has {found} slice(s), expected {n_slices}")
    if len(datasets) == 1:
        return datasets
    return [datasets[frame.dataset_index] for frame in order]


# --------------------------------------------------------------------------- writing


def _check_labels(labels_zyx: np.ndarray, segments: Mapping[int, str], path: Path) -> np.ndarray:
    """The mask as non-negative integers whose non-zero values all have a segment name."""
    mask = np.asarray(labels_zyx)
    if mask.ndim != 3:
        raise InconsistentGeometryError(path, f"label mask must be (z, y, x), got shape {mask.shape}")
    if mask.dtype.kind == "f":
        if not np.isfinite(mask).all():
            raise NonFiniteValueError(path, "label mask holds NaN or Inf")
        if np.any(mask != np.round(mask)):
            raise UsageError(f"{path}: label mask holds non-integer values")
    elif mask.dtype.kind not in "iub":
        raise UsageError(f"{path}: label mask must hold integers, got dtype {mask.dtype}")
    mask = mask.astype(np.int64)
    if not segments:
        raise UsageError(f"{path}: no segments named")
    bad_keys = [k for k in segments if int(k) != k or k < 1]
    if bad_keys:
        raise UsageError(f"{path}: segment label values must be integers >= 1, got {bad_keys}")
    unnamed = sorted(set(np.unique(mask).tolist()) - {0} - {int(k) for k in segments})
    if unnamed:
        raise UsageError(f"{path}: label mask holds values {unnamed} that `segments` does not name")
    return mask


def _segment_descriptions(
    hd: Any, segments: Mapping[int, str], algorithm: highdicom.AlgorithmIdentificationSequence
) -> list[highdicom.seg.SegmentDescription]:
    descriptions = []
    for number, value in enumerate(sorted(segments), start=1):
        name = segments[value]
        category, kind, region = segment_codes(name)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name,
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                anatomic_regions=[region] if region is not None else None,
            )
        )
    return descriptions


def write_dicom_seg(
    labels_zyx: np.ndarray,
    source_datasets: Sequence[Dataset],
    path: str | os.PathLike[str],
    segments: Mapping[int, str] = LGE_SEGMENTS,
    *,
    algorithm_name: str,
    algorithm_version: str,
    series_description: str = "cardiolens segmentation",
) -> Path:
    """Write a (z, y, x) label mask as a BINARY DICOM Segmentation of its source series; return ``path``.

    Args:
        labels_zyx: integer label mask; slice z lies on the z-th source image in
            ascending position along the slice normal (the order of
            ``read_dicom_series``), rows and columns as in the source images.
        source_datasets: the series' datasets (headers suffice), e.g. from
            :func:`read_source_datasets`: single-frame images in any order, or
            one enhanced multi-frame image.
        path: output file (``.dcm``), written atomically.
        segments: label value -> segment name (e.g. :data:`LGE_SEGMENTS`).
            Segment numbers are 1..n in ascending label value; names pick the
            SNOMED codes (see the module doc). Mask values other than 0 must be
            named here.
        algorithm_name, algorithm_version: the model that made the mask
            (recorded in the algorithm identification of every segment).
        series_description: SeriesDescription of the SEG series.

    Raises:
        InconsistentGeometryError: the mask shape differs from (slices, rows, columns) of the sources.
        UsageError: a non-integer mask, or mask values without a segment name.
        MixedSeriesError / DataError: sources that do not form one single-phase series.
    """
    target = Path(path)
    mask = _check_labels(labels_zyx, segments, target)
    order = _slice_order(source_datasets)
    first = source_datasets[0]
    expected = (len(order), int(first.Rows), int(first.Columns))
    if mask.shape != expected:
        raise InconsistentGeometryError(
            target,
            f"label mask shape {mask.shape} does not match the source series (slices, rows, columns) {expected}",
        )
    hd = _import_highdicom()
    values = sorted(int(v) for v in segments)
    stacked_zyxs = np.stack([mask == v for v in values], axis=-1).astype(np.uint8)
    if _is_multiframe(source_datasets):
        # highdicom pairs SEG frame i with source frame i: put slice z at its source frame.
        pixels = np.empty_like(stacked_zyxs)
        for z, frame in enumerate(order):
            pixels[frame.frame_number - 1] = stacked_zyxs[z]
        sources = [first]
    else:
        pixels = stacked_zyxs
        sources = [source_datasets[frame.dataset_index] for frame in order]

    series_uid = str(first.get("SeriesInstanceUID", ""))
    seg_series_uid = generate_uid(entropy_srcs=["cardiolens-seg", series_uid, algorithm_name, series_description])
    digest = hashlib.sha256(mask.astype("<i8").tobytes() + repr(sorted(segments.items())).encode()).hexdigest()
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, family=codes.cid7162.ArtificialIntelligence, version=algorithm_version, source="cardiolens"
    )
    with warnings.catch_warnings():
        # Source names such as "P001" (one component) are legal but highdicom warns about them.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        try:
            seg = hd.seg.Segmentation(
                source_images=sources,
                pixel_array=pixels,
                segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=_segment_descriptions(hd, segments, algorithm),
                series_instance_uid=seg_series_uid,
                series_number=1000 + int(first.get("SeriesNumber", 0) or 0),
                sop_instance_uid=generate_uid(entropy_srcs=[seg_series_uid, algorithm_version, digest]),
                instance_number=1,
                manufacturer="cardiolens",
                manufacturer_model_name=algorithm_name,
                software_versions=f"cardiolens {__version__}; {algorithm_name} {algorithm_version}"[:64],
                device_serial_number="none",
                content_description=series_description[:64],
                series_description=series_description[:64],
                content_qualification="RESEARCH",
            )
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # highdicom validates the sources (same study/series, frame of reference, geometry tags).
            raise DataError(_name(first, 0), f"cannot derive a DICOM SEG from these sources: {exc}") from exc
    with atomic_path(target) as tmp:
        seg.save_as(tmp, enforce_file_format=True)
    return target


# --------------------------------------------------------------------------- reading back


def _check_references(seg: Dataset, sources: Sequence[Dataset], path: Path) -> None:
    """Every source image must be referenced by the SEG, else its slices would silently read as empty."""
    referenced = {
        str(instance.ReferencedSOPInstanceUID)
        for series in seg.get("ReferencedSeriesSequence", [])
        for instance in series.get("ReferencedInstanceSequence", [])
    }
    missing = [str(ds.SOPInstanceUID) for ds in sources if str(ds.SOPInstanceUID) not in referenced]
    if missing:
        raise InconsistentGeometryError(
            path,
            f"SEG does not reference {len(missing)} of the {len(sources)} source image(s) "
            f"(e.g. SOP instance {missing[0]}); was it derived from another series?",
        )


def read_dicom_seg_labels(
    path: str | os.PathLike[str],
    sources: Sequence[Dataset] | str | os.PathLike[str],
    *,
    segments: Mapping[int, str] | None = None,
) -> np.ndarray:
    """Read a DICOM SEG back to a (z, y, x) label mask in the slice order of its source series.

    Args:
        path: the SEG file.
        sources: the source series (as for :func:`write_dicom_seg`), or its folder.
        segments: label value -> segment name, as given to the writer: each
            SEG segment is mapped to the value whose name equals its
            SegmentLabel. Without it a pixel's value is its segment number
            (equal to the label value when the labels were 1..n).

    Returns:
        uint8 (uint16 above 255) labels, 0 where no segment covers a pixel.

    Raises:
        EmptyFileError / CorruptFileError: the SEG file is empty or not a readable segmentation.
        InconsistentGeometryError: the SEG does not reference these sources.
        MissingDataError: a SEG segment whose label ``segments`` does not name.
        DataError: overlapping segments that cannot form one label mask.
    """
    target = require_file(path)
    if isinstance(sources, (str, os.PathLike)):
        sources = read_source_datasets(sources)
    order = _slice_order(sources)
    hd = _import_highdicom()
    try:
        seg = hd.seg.segread(target)
    except Exception as exc:  # pydicom/highdicom raise many types on files that are not a SEG
        raise CorruptFileError(target, f"not a readable DICOM Segmentation ({type(exc).__name__}: {exc})") from exc
    _check_references(seg, sources, target)
    numbers = list(seg.segment_numbers)
    if segments is not None:
        by_name = {name: int(value) for value, name in segments.items()}
        relabel = {}
        for number in numbers:
            label = str(seg.get_segment_description(number).segment_label)
            if label not in by_name:
                raise MissingDataError(target, f"segment {number} {label!r} is not named in `segments`")
            relabel[number] = by_name[label]
    else:
        relabel = {number: number for number in numbers}
    options: dict[str, Any] = {"combine_segments": True, "assert_missing_frames_are_empty": True, "dtype": np.uint16}
    try:
        if _is_multiframe(sources):
            combined = seg.get_pixels_by_source_frame(
                str(sources[0].SOPInstanceUID), [f.frame_number for f in order], **options
            )
        else:
            uids = [str(sources[f.dataset_index].SOPInstanceUID) for f in order]
            combined = seg.get_pixels_by_source_instance(uids, **options)
    except RuntimeError as exc:  # highdicom: segments overlap
        raise DataError(target, f"segments overlap; cannot combine them into one label mask ({exc})") from exc
    except (KeyError, ValueError, AttributeError) as exc:
        raise InconsistentGeometryError(target, f"SEG does not match the given source images ({exc})") from exc
    lookup = np.zeros(max(numbers, default=0) + 1, dtype=np.int64)
    for number, value in relabel.items():
        lookup[number] = value
    labels = lookup[np.asarray(combined, dtype=np.int64)]
    return labels.astype(np.uint8 if labels.max(initial=0) <= 255 else np.uint16)
