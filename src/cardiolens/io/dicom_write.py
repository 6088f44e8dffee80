"""Write cine stacks and 3-D volumes as DICOM MR series (classic or enhanced multi-frame).

Classic output is one MR Image Storage file per (slice, frame), named
``IM_00001.dcm``...; enhanced output is one Enhanced MR Image Storage file
(``enhanced_mr.dcm``) whose per-frame functional groups carry position and
trigger delay. Both are explicit VR little endian with valid file meta and are
written through :func:`cardiolens.io.atomic.atomic_dir`, so a failure leaves
no half-written folder.

Pixel values are stored as unsigned 16-bit with one RescaleSlope/Intercept for
the whole series, chosen from the data range:

- integer-valued data spanning at most 65535 -> slope 1, intercept = minimum:
  the round trip is exact;
- otherwise slope = range / 65534 (written as a 16-character DS) and the
  round trip error is at most half a slope (one quantisation step at most),
  i.e. about range / 131068.

Geometry: ImageOrientationPatient comes from the direction of the affine's x
and y columns and ImagePositionPatient of slice k is ``origin + k * dz *
slice_direction`` (converted RAS -> LPS). PixelSpacing, SliceThickness and
SpacingBetweenSlices come from ``spacing_mm`` (the affine's column lengths are
not trusted, as some NIfTI sources keep a placeholder affine).

Readers sort slices along the normal row x column; if the affine's slice axis
points the other way (a left-handed voxel grid, common in NIfTI), reading the
series back gives the slices in reverse order with an affine that places every
voxel at the same position in mm.

Not written: segmentations and labels (use DICOM SEG, e.g. highdicom), ED/ES
indices. UIDs are derived from the subject/patient id, series kind and
description (``generate_uid`` entropy), so rewriting gives the same UIDs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from cardiolens.data.cine import CineCMR
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import InconsistentGeometryError, UsageError
from cardiolens.io.atomic import atomic_dir
from cardiolens.io.dicom_read import LPS_TO_RAS, SPACING_UNKNOWN_MARKER

_UINT16_MAX = 65535

#: SeriesDescription written for each volume modality; the reader infers the modality back from it.
DEFAULT_DESCRIPTIONS: dict[str, str] = {
    "lge": "LGE",
    "t1": "T1 map",
    "t2": "T2 map",
    "ecv": "ECV map",
    "os_dsi": "OS-CMR %dSI",
    "cine_frame": "cine frame",
    "other": "cardiolens volume",
}

ENHANCED_FILE_NAME = "enhanced_mr.dcm"


def _ds(value: float) -> str:
    """A float as a valid DICOM decimal string (at most 16 characters)."""
    return format_number_as_ds(float(value))


def quantise_uint16(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map ``image`` to uint16 with slope/intercept so that ``stored * slope + intercept ~= image``.

    Returns (stored, slope, intercept) where slope and intercept are exactly the
    values their DS strings encode. Integer data spanning <= 65535 is exact;
    otherwise the error is at most ``slope / 2``.
    """
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    intercept = float(_ds(low))  # what the 16-character DS will actually say
    if intercept == low and high - low <= _UINT16_MAX and np.all(values == np.round(values)):
        slope = 1.0
    else:
        # 65534 leaves one level of headroom for the DS rounding of slope and intercept.
        slope = float(_ds((high - low) / (_UINT16_MAX - 1))) if high > low else 1.0
    stored = np.clip(np.round((values - intercept) / slope), 0, _UINT16_MAX).astype(np.uint16)
    return stored, slope, intercept


def _plane_geometry(
    affine: np.ndarray, spacing_mm: Sequence[float], n_slices: int, source: str
) -> tuple[list[float], list[np.ndarray], np.ndarray]:
    """(IOP, IPP per slice, unit slice normal) in LPS from a RAS affine and (z, y, x) spacing."""
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=float)
    columns = lps[:3, :3]
    lengths = np.linalg.norm(columns, axis=0)
    if np.any(lengths <= 0):
        raise InconsistentGeometryError(source, "affine has a zero-length axis; cannot write DICOM geometry")
    directions = columns / lengths
    row_dir, col_dir, slice_dir = directions[:, 0], directions[:, 1], directions[:, 2]
    if abs(float(row_dir @ col_dir)) > 1e-4:
        raise InconsistentGeometryError(source, "affine x and y axes are not perpendicular; DICOM planes need that")
    dz = float(spacing_mm[0])
    positions = [lps[:3, 3] + k * dz * slice_dir for k in range(n_slices)]
    normal = np.cross(row_dir, col_dir)
    return [*row_dir.tolist(), *col_dir.tolist()], positions, normal


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def new_dataset(
    *,
    sop_class: str,
    modality: str,
    patient_id: str,
    simulated: bool,
    description: str,
    series_uid: str,
    study_uid: str,
) -> Dataset:
    """A dataset with the patient, study and series identity every writer needs.

    Dates and names stay empty: cardiolens writes no identifying information
    beyond the id it is given; simulated data is named SIMULATED.
    """
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = f"SIMULATED^{patient_id}" if simulated else patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.StudyID = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.Modality = modality
    ds.Manufacturer = "cardiolens"
    return ds


def _base_dataset(
    *,
    sop_class: str,
    patient_id: str,
    simulated: bool,
    description: str,
    series_uid: str,
    study_uid: str,
    frame_of_reference_uid: str,
    spacing_known: bool,
) -> Dataset:
    ds = new_dataset(
        sop_class=sop_class,
        modality="MR",
        patient_id=patient_id,
        simulated=simulated,
        description=description,
        series_uid=series_uid,
        study_uid=study_uid,
    )
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    now = dt.datetime.now()
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if not spacing_known:
        ds.ImageComments = f"{SPACING_UNKNOWN_MARKER} (placeholder 1 mm spacing)"
    return ds


def file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _save(ds: Dataset, path: Path) -> None:
    ds.file_meta = file_meta(ds.SOPClassUID, ds.SOPInstanceUID)
    ds.save_as(path, enforce_file_format=True)


def _window(stored: np.ndarray, slope: float, intercept: float) -> tuple[str, str]:
    low = float(stored.min()) * slope + intercept
    high = float(stored.max()) * slope + intercept
    return _ds((low + high) / 2), _ds(max(high - low, 1e-6))


def _write_series(
    image_tzyx: np.ndarray,
    *,
    spacing_mm: Sequence[float],
    spacing_known: bool,
    affine: np.ndarray,
    trigger_times_ms: np.ndarray | None,
    thickness_mm: float,
    folder: str | os.PathLike[str],
    enhanced: bool,
    patient_id: str,
    simulated: bool,
    description: str,
    kind: str,
    source: str,
    field_strength_t: float | None,
) -> Path:
    target = Path(folder)
    if target.is_file():
        raise UsageError(f"{target}: output must be a folder, found a file")
    # atomic_dir replaces the whole folder: never let it delete anything but an earlier DICOM output.
    if target.is_dir() and any(p.suffix.lower() != ".dcm" for p in target.iterdir()):
        raise UsageError(f"{target}: refusing to replace a folder that holds files other than *.dcm")
    n_t, n_z, n_y, n_x = image_tzyx.shape
    orientation, positions, normal = _plane_geometry(affine, spacing_mm, n_z, source)
    stored, slope, intercept = quantise_uint16(image_tzyx)
    centre, width = _window(stored, slope, intercept)
    if simulated and "SIMULATED" not in description.upper():
        description = f"SIMULATED {description}"

    study_uid = _uid("cardiolens-study", patient_id)
    series_uid = _uid("cardiolens-series", patient_id, kind, description, enhanced)
    base = dict(
        patient_id=patient_id,
        simulated=simulated,
        description=description,
        series_uid=series_uid,
        study_uid=study_uid,
        frame_of_reference_uid=_uid("cardiolens-frame-of-reference", patient_id),
        spacing_known=spacing_known,
    )
    pixel_spacing = [_ds(spacing_mm[1]), _ds(spacing_mm[2])]
    with atomic_dir(target) as tmp:
        if enhanced:
            ds = _base_dataset(sop_class=EnhancedMRImageStorage, **base)  # type: ignore[arg-type]
            ds.SOPInstanceUID = _uid(series_uid, "enhanced")
            _fill_enhanced(
                ds,
                stored=stored,
                orientation=orientation,
                positions=positions,
                normal=normal,
                pixel_spacing=pixel_spacing,
                thickness_mm=thickness_mm,
                spacing_z_mm=float(spacing_mm[0]),
                trigger_times_ms=trigger_times_ms,
                slope=slope,
                intercept=intercept,
                window=(centre, width),
            )
            if field_strength_t:
                ds.MagneticFieldStrength = _ds(field_strength_t)
            _save(ds, tmp / ENHANCED_FILE_NAME)
        else:
            for z in range(n_z):
                for t in range(n_t):
                    instance = z * n_t + t + 1
                    ds = _base_dataset(sop_class=MRImageStorage, **base)  # type: ignore[arg-type]
                    ds.SOPInstanceUID = _uid(series_uid, instance)
                    ds.ImageType = ["DERIVED", "SECONDARY"]
                    ds.InstanceNumber = instance
                    ds.ScanningSequence = "RM"  # research mode: not an acquired sequence
                    ds.SequenceVariant = "NONE"
                    ds.ScanOptions = ""
                    ds.MRAcquisitionType = "2D"
                    ds.EchoTime = ""
                    ds.RepetitionTime = ""
                    ds.EchoTrainLength = ""
                    ds.ImageOrientationPatient = [_ds(v) for v in orientation]
                    ds.ImagePositionPatient = [_ds(v) for v in positions[z]]
                    ds.SliceLocation = _ds(float(positions[z] @ normal))
                    ds.PixelSpacing = pixel_spacing
                    ds.SliceThickness = _ds(thickness_mm)
                    ds.SpacingBetweenSlices = _ds(spacing_mm[0])
                    if trigger_times_ms is not None:
                        ds.TriggerTime = _ds(trigger_times_ms[t])
                    if n_t > 1:
                        ds.CardiacNumberOfImages = n_t
                        ds.TemporalPositionIdentifier = t + 1
                        ds.NumberOfTemporalPositions = n_t
                    ds.Rows, ds.Columns = n_y, n_x
                    ds.RescaleIntercept = _ds(intercept)
                    ds.RescaleSlope = _ds(slope)
                    ds.RescaleType = "US"
                    ds.WindowCenter, ds.WindowWidth = centre, width
                    if field_strength_t:
                        ds.MagneticFieldStrength = _ds(field_strength_t)
                    ds.PixelData = stored[t, z].astype("<u2").tobytes()
                    _save(ds, tmp / f"IM_{instance:05d}.dcm")
    return target


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _fill_enhanced(
    ds: Dataset,
    *,
    stored: np.ndarray,
    orientation: list[float],
    positions: list[np.ndarray],
    normal: np.ndarray,
    pixel_spacing: list[str],
    thickness_mm: float,
    spacing_z_mm: float,
    trigger_times_ms: np.ndarray | None,
    slope: float,
    intercept: float,
    window: tuple[str, str],
) -> None:
    """Enhanced MR image attributes: shared geometry, per-frame position/time, multi-frame pixels."""
    n_t, n_z, n_y, n_x = stored.shape
    ds.ImageType = ["DERIVED", "PRIMARY", "NONE", "NONE"]
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.ContentQualification = "RESEARCH"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "UNKNOWN"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.Rows, ds.Columns = n_y, n_x
    ds.NumberOfFrames = n_t * n_z

    dimension_uid = _uid(ds.SeriesInstanceUID, "dimension-organization")
    ds.DimensionOrganizationSequence = DicomSequence([_item(DimensionOrganizationUID=dimension_uid)])
    ds.DimensionOrganizationType = "3D_TEMPORAL" if n_t > 1 else "3D"
    dimensions = [
        _item(
            DimensionOrganizationUID=dimension_uid,
            DimensionIndexPointer=0x00209057,  # InStackPositionNumber
            FunctionalGroupPointer=0x00209111,  # FrameContentSequence
            DimensionDescriptionLabel="slice",
        )
    ]
    if n_t > 1:
        dimensions.append(
            _item(
                DimensionOrganizationUID=dimension_uid,
                DimensionIndexPointer=0x00209128,  # TemporalPositionIndex
                FunctionalGroupPointer=0x00209111,
                DimensionDescriptionLabel="cardiac phase",
            )
        )
    ds.DimensionIndexSequence = DicomSequence(dimensions)

    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence(
        [_item(PixelSpacing=pixel_spacing, SliceThickness=_ds(thickness_mm), SpacingBetweenSlices=_ds(spacing_z_mm))]
    )
    shared.PlaneOrientationSequence = DicomSequence([_item(ImageOrientationPatient=[_ds(v) for v in orientation])])
    shared.PixelValueTransformationSequence = DicomSequence(
        [_item(RescaleIntercept=_ds(intercept), RescaleSlope=_ds(slope), RescaleType="US")]
    )
    shared.FrameVOILUTSequence = DicomSequence([_item(WindowCenter=window[0], WindowWidth=window[1])])
    shared.MRImageFrameTypeSequence = DicomSequence(
        [
            _item(
                FrameType=["DERIVED", "PRIMARY", "NONE", "NONE"],
                PixelPresentation="MONOCHROME",
                VolumetricProperties="VOLUME",
                VolumeBasedCalculationTechnique="NONE",
                ComplexImageComponent="MAGNITUDE",
                AcquisitionContrast="UNKNOWN",
            )
        ]
    )
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per_frame = []
    for z in range(n_z):
        for t in range(n_t):
            group = Dataset()
            content = _item(StackID="1", InStackPositionNumber=z + 1, TemporalPositionIndex=t + 1)
            content.DimensionIndexValues = [z + 1, t + 1] if n_t > 1 else [z + 1]
            group.FrameContentSequence = DicomSequence([content])
            group.PlanePositionSequence = DicomSequence([_item(ImagePositionPatient=[_ds(v) for v in positions[z]])])
            if trigger_times_ms is not None:
                group.CardiacSynchronizationSequence = DicomSequence(
                    [_item(NominalCardiacTriggerDelayTime=float(trigger_times_ms[t]))]  # FD, not DS
                )
            per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    # Frame order matches the per-frame groups: slice-major, time within a slice.
    ds.PixelData = np.ascontiguousarray(stored.transpose(1, 0, 2, 3)).astype("<u2").tobytes()


def _patient(container_subject: str, source: str, patient_id: str | None) -> str:
    return patient_id or container_subject or Path(source).name or "anonymous"


def write_cine_dicom(
    cine: CineCMR,
    folder: str | os.PathLike[str],
    *,
    enhanced: bool = False,
    patient_id: str | None = None,
    series_description: str | None = None,
) -> Path:
    """Write a cine as a DICOM MR series; return the folder.

    Args:
        cine: the stack (t, z, y, x) with spacing_mm (z, y, x), affine and trigger_times_ms.
        folder: output folder (replaced atomically; refused if it holds non-DICOM files).
        enhanced: one Enhanced MR multi-frame file instead of one file per (slice, frame).
        patient_id: PatientID; defaults to ``cine.subject_id``.
        series_description: defaults to "cine" (prefixed "SIMULATED" when
            ``cine.metadata["simulated"]`` is true).

    Values round-trip within one quantisation step (see :func:`quantise_uint16`).
    """
    pid = _patient(cine.subject_id, cine.source, patient_id)
    return _write_series(
        np.asarray(cine.image),
        spacing_mm=cine.spacing_mm,
        spacing_known=cine.spacing_known,
        affine=np.asarray(cine.affine),
        trigger_times_ms=cine.trigger_times_ms,
        thickness_mm=float(cine.slice_thickness_mm or cine.spacing_mm[0]),
        folder=folder,
        enhanced=enhanced,
        patient_id=pid,
        simulated=bool(cine.metadata.get("simulated")),
        description=series_description or "cine",
        kind="cine",
        source=cine.source,
        field_strength_t=cine.metadata.get("field_strength_t"),
    )


def write_volume_dicom(
    volume: CMRVolume,
    folder: str | os.PathLike[str],
    *,
    enhanced: bool = False,
    patient_id: str | None = None,
    series_description: str | None = None,
) -> Path:
    """Write a 3-D volume (LGE, T1/T2/ECV map...) as a DICOM MR series; return the folder.

    The default SeriesDescription names the modality (:data:`DEFAULT_DESCRIPTIONS`)
    so :func:`~cardiolens.io.dicom_read.read_dicom_series` infers it back. The
    slice thickness is ``metadata["slice_thickness_mm"]`` when present, else
    the z spacing. Labels are not written.
    """
    pid = _patient(volume.subject_id, volume.source, patient_id)
    thickness = volume.metadata.get("slice_thickness_mm") or volume.spacing_mm[0]
    return _write_series(
        np.asarray(volume.image)[np.newaxis],
        spacing_mm=volume.spacing_mm,
        spacing_known=volume.spacing_known,
        affine=np.asarray(volume.affine),
        trigger_times_ms=None,
        thickness_mm=float(thickness),
        folder=folder,
        enhanced=enhanced,
        patient_id=pid,
        simulated=bool(volume.metadata.get("simulated")),
        description=series_description or DEFAULT_DESCRIPTIONS.get(volume.modality, "cardiolens volume"),
        kind=volume.modality,
        source=volume.source,
        field_strength_t=volume.metadata.get("field_strength_t"),
    )
