"""LGE stacks for ``lge``: reading studies, user spacing, the in-plane centre crop and intensity scaling."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from cardiolens.data.cohort import Cohort, SubjectRecord
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError, MissingDataError, NonFiniteValueError, UsageError
from cardiolens.io.files import require_file
from cardiolens.io.layouts import load as load_subject

_EMIDEC_CASE = re.compile(r"^Case_([NP])\d+$", re.IGNORECASE)


def lge_of(study: object, source: str) -> CMRVolume:
    """The LGE volume of a loaded subject (a simulated full subject, or an LGE volume itself)."""
    volume = getattr(study, "lge", study)
    if not isinstance(volume, CMRVolume):
        raise UsageError(f"{source}: no LGE volume in a {type(study).__name__}")
    return volume


def load_volume(cohort: Cohort, subject_id: str) -> CMRVolume:
    """The LGE volume of ``subject_id`` with its labels, if the cohort has them."""
    volume = lge_of(load_subject(cohort, subject_id), f"{cohort.root}/{subject_id}")
    require_finite(volume.image, volume.source)
    return volume


def require_finite(image: np.ndarray, source: str | Path) -> None:
    if not np.isfinite(image).all():
        n_bad = int(image.size - np.count_nonzero(np.isfinite(image)))
        raise NonFiniteValueError(source, f"image holds {n_bad} NaN/Inf value(s)")


def with_spacing(volume: CMRVolume, spacing_mm: tuple[float, float, float] | None) -> CMRVolume:
    """``volume`` with the user's ``spacing_mm`` (z, y, x) when its own spacing is unknown (noted in metadata)."""
    if volume.spacing_known or spacing_mm is None:
        return volume
    metadata = {**volume.metadata, "spacing_note": f"spacing {list(spacing_mm)} mm given by the user (config spacing_mm)"}
    return dataclasses.replace(volume, spacing_mm=tuple(spacing_mm), spacing_known=True, metadata=metadata)


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
    """Read one LGE study for prediction or explanation.

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
            volume = _emidec_case(p)
        elif (p / "lge.nii.gz").exists():
            volume = _nifti_volume(p / "lge.nii.gz", p / "lge_seg.nii.gz")
        else:
            volume = _dicom_volume(p)
    else:
        require_file(p)
        name = p.name.lower()
        volume = _nifti_volume(p) if name.endswith((".nii", ".nii.gz")) else _dicom_volume(p)
    require_finite(volume.image, volume.source)
    return volume


def _dicom_volume(path: Path) -> CMRVolume:
    from cardiolens.io.dicom_read import read_dicom_series

    series = read_dicom_series(path, modality="lge")
    if not isinstance(series, CMRVolume):
        raise DataError(path, "a cine series (several frames per slice); lge needs one image per slice")
    sid = path.stem if path.is_file() else path.name
    metadata: dict[str, Any] = {**series.metadata, "input_format": "dicom", "input_path": str(path)}
    return dataclasses.replace(series, subject_id=series.subject_id or sid, metadata=metadata)


def myocardium_source(volume: CMRVolume) -> np.ndarray:
    """The study's own label mask (LGE scheme), needed by the threshold variants without a myocardium model."""
    if volume.labels is None or volume.label_scheme != "lge":
        raise MissingDataError(volume.source, "no LGE labels to take the myocardium from; set myocardium_model to a trained unet model")
    return np.asarray(volume.labels)


# --- in-plane geometry and intensities ------------------------------------------------


def centre_window(size: int, target: int) -> tuple[slice, slice, int]:
    """(source slice, destination slice, pad before) mapping a centred ``target`` window onto an axis of ``size``."""
    if size >= target:
        start = (size - target) // 2
        return slice(start, start + target), slice(0, target), 0
    before = (target - size) // 2
    return slice(0, size), slice(before, before + size), before


def centre_crop(stack: np.ndarray, size_px: int, fill: float = 0.0) -> np.ndarray:
    """Centre-crop or zero-pad the last two axes of ``stack`` to ``size_px`` square."""
    ys, yd, _ = centre_window(stack.shape[-2], size_px)
    xs, xd, _ = centre_window(stack.shape[-1], size_px)
    out = np.full(stack.shape[:-2] + (size_px, size_px), fill, dtype=stack.dtype)
    out[..., yd, xd] = stack[..., ys, xs]
    return out


def uncrop(cropped: np.ndarray, shape_yx: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Inverse of :func:`centre_crop`: back onto the original (y, x) grid, ``fill`` outside the window."""
    size = cropped.shape[-1]
    ys, yd, _ = centre_window(shape_yx[0], size)
    xs, xd, _ = centre_window(shape_yx[1], size)
    out = np.full(cropped.shape[:-2] + tuple(shape_yx), fill, dtype=cropped.dtype)
    out[..., ys, xs] = cropped[..., yd, xd]
    return out


def normalise_stack(stack: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scale a whole stack to [0, 1] between its own low/high percentiles (clipped); a flat stack becomes 0."""
    x = np.asarray(stack, dtype=np.float32)
    low, high = np.percentile(x, percentiles)
    if high - low <= 0:
        return np.zeros_like(x)
    return np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32)


def network_input(image_zyx: np.ndarray, size_px: int, percentiles: tuple[float, float]) -> np.ndarray:
    """The centre crop of a stack, scaled with the percentiles of that crop (what the network sees)."""
    return normalise_stack(centre_crop(np.asarray(image_zyx, dtype=np.float32), size_px), percentiles)
