"""One LGE study from any of the forms a user may hand over: an EMIDEC case folder, a simulated subject folder, NIfTI or DICOM."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data.cohort import SubjectRecord
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError
from cardiolens.io.files import require_file

_EMIDEC_CASE = re.compile(r"^Case_([NP])\d+$", re.IGNORECASE)


def _emidec_case(folder: Path) -> CMRVolume:
    from cardiolens.io.layouts import emidec

    match = _EMIDEC_CASE.match(folder.name)
    label = emidec.LABEL_BY_LETTER.get(match.group(1).upper()) if match else None
    return emidec.load(SubjectRecord(subject_id=folder.name, label=label, paths={"folder": folder}))


def _nifti_volume(path: Path, labels_path: Path | None = None) -> CMRVolume:
    from cardiolens.io.nifti import read_nifti

    img = read_nifti(path, dtype=np.float32)
    array = img.array[None] if img.array.ndim == 2 else img.array
    if array.ndim != 3:
        raise DataError(path, f"an LGE study must be a 2-D or 3-D image, got {img.array.ndim}-D")
    labels = None
    if labels_path is not None and labels_path.is_file():
        labels = read_nifti(labels_path).array.astype(np.uint8)
        if labels.shape != array.shape:
            raise DataError(labels_path, f"label shape {labels.shape} differs from the image {array.shape}")
    sid = path.parent.name if labels_path is not None else path.name.split(".")[0]
    return CMRVolume(array, "lge", img.spacing_mm, True, img.affine, labels, "lge" if labels is not None else None, sid, str(path))


def read_lge_study(path: str | Path) -> CMRVolume:
    """Read one LGE study (for predict, explain and measure), with its labels when it has them.

    Accepted: an EMIDEC case folder (``slice_SSS.png`` with ``_gt`` masks), a
    folder holding ``lge.nii.gz`` (a simulated subject; ``lge_seg.nii.gz``
    gives the labels), a 2-D/3-D NIfTI file, or a DICOM series folder or file
    (``metadata["input_format"] == "dicom"``, so a DICOM SEG can be written).

    Raises:
        DataError (subclass): missing, empty, corrupt, cine or non-finite input, naming the file.
    """
    p = Path(path)
    if p.is_dir():
        if any(p.glob("slice_*.png")):
            return _emidec_case(p)
        if (p / "lge.nii.gz").exists():
            return _nifti_volume(p / "lge.nii.gz", p / "lge_seg.nii.gz")
        return _dicom_volume(p)
    require_file(p)
    return _nifti_volume(p) if p.name.lower().endswith((".nii", ".nii.gz")) else _dicom_volume(p)


def _dicom_volume(path: Path) -> CMRVolume:
    from cardiolens.io.dicom_read import read_dicom_series

    series = read_dicom_series(path, modality="lge")
    if not isinstance(series, CMRVolume):
        raise DataError(path, "a cine series (several frames per slice); lge needs one image per slice")
    sid = path.stem if path.is_file() else path.name
    metadata: dict[str, Any] = {**series.metadata, "input_format": "dicom", "input_path": str(path)}
    return dataclasses.replace(series, subject_id=series.subject_id or sid, metadata=metadata)
