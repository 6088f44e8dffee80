"""Studies for ``cine-seg`` and ``nicm``: cines from any supported layout or file, and their ground truth.

Sources of a cine (``read_cine_input``): an ACDC patient folder, a simulated
subject folder, a 4-D NIfTI file (t, z, y, x after reading) or a DICOM cine
folder. Ground truth for training/evaluation (``ground_truth_frames``): the
full-size ED/ES frames with their masks (ACDC), or the ED/ES frames of a cine
that carries masks (simulated cohort, or any layout returning a segmented cine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiolens.data.cine import CineCMR
from cardiolens.data.cohort import Cohort
from cardiolens.errors import DataError, MissingDataError, UsageError
from cardiolens.io.files import require_file
from cardiolens.io.layouts import load, scan


@dataclass
class GroundTruthFrame:
    """One segmented frame (z, y, x): the U-Net works in pixels, so no geometry is needed."""

    subject_id: str
    phase: str  # "ed" or "es"
    image_zyx: np.ndarray
    labels_zyx: np.ndarray


def study_cine(cohort: Cohort, subject_id: str) -> CineCMR:
    """The whole-cycle cine of one subject of a scanned cohort."""
    if cohort.layout == "synthetic":  # read only the cine, not every simulated modality
        from cardiolens.io.layouts.synthetic import load_cine

        return load_cine(cohort[subject_id])
    study = load(cohort, subject_id)
    cine = study if isinstance(study, CineCMR) else getattr(study, "cine", None)
    if not isinstance(cine, CineCMR):
        raise UsageError(f"{cohort.root}: layout {cohort.layout!r} holds no cine CMR")
    return cine


def reference_cine(cohort: Cohort, subject_id: str) -> CineCMR:
    """A cine whose ED and ES frames carry the reference masks, at the resolution they were drawn.

    ACDC: the two-frame full-size ED/ES cine (the shared 4-D cine is a crop);
    other layouts: the subject's cine.
    """
    if cohort.layout == "acdc":
        return load(cohort, subject_id).ed_es_cine()  # type: ignore[attr-defined]
    return study_cine(cohort, subject_id)


def ground_truth_frames(cohort: Cohort, subject_id: str) -> list[GroundTruthFrame]:
    """The ED and ES frames with expert (or simulated) masks of one subject (see :func:`reference_cine`)."""
    cine = reference_cine(cohort, subject_id)
    frames = []
    for phase, index in (("ed", cine.ed_index), ("es", cine.es_index)):
        if index is None or index not in cine.segmentations:
            raise MissingDataError(cine.source, f"no reference mask for the {phase.upper()} frame")
        frames.append(
            GroundTruthFrame(subject_id, phase, np.asarray(cine.image[index], np.float32), np.asarray(cine.segmentations[index], np.uint8))
        )
    return frames


def _single_subject(folder: Path, layout: str) -> CineCMR:
    cohort = scan(folder.parent, layout)
    if folder.name not in cohort.subject_ids:
        problems = [b.problem for b in cohort.bad_cases if b.subject_id == folder.name]
        raise DataError(folder, problems[0] if problems else f"not a readable {layout} subject folder")
    return study_cine(cohort, folder.name)


def read_cine_input(path: str | Path) -> CineCMR:
    """A cine from a path: ACDC patient folder, simulated subject folder, 4-D NIfTI or DICOM folder.

    Raises:
        DataError (subclass): unreadable or non-cine input, naming the path.
    """
    p = Path(path)
    if p.is_dir():
        if (p / "Info.cfg").is_file():
            return _single_subject(p, "acdc")
        if (p / "subject.json").is_file():
            return _single_subject(p, "synthetic")
        from cardiolens.io.dicom_read import read_dicom_series

        series = read_dicom_series(p)
        if not isinstance(series, CineCMR):
            raise DataError(p, "DICOM series holds one frame per slice, not a cine")
        return series
    require_file(p)
    if p.name.endswith((".nii", ".nii.gz")):
        from cardiolens.io.nifti import read_nifti

        nii = read_nifti(p, dtype=np.float32)
        if nii.array.ndim != 4:
            raise DataError(p, f"expected a 4-D cine (x, y, z, t), got a {nii.array.ndim}-D image")
        known = not np.allclose(nii.spacing_mm, 1.0)
        return CineCMR(image=nii.array, spacing_mm=nii.spacing_mm, spacing_known=known, affine=nii.affine,
                       subject_id=p.name.split(".")[0], source=str(p))
    from cardiolens.io.dicom_read import read_dicom_series

    series = read_dicom_series(p)  # a single enhanced multi-frame file
    if not isinstance(series, CineCMR):
        raise DataError(p, "DICOM file holds no cine (one frame per slice)")
    return series
