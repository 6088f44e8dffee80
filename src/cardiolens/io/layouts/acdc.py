"""ACDC layout: cine short-axis MRI with ED/ES ground-truth masks (MICCAI 2017).

::

    ROOT/patientNNN/Info.cfg                      ED, ES (1-based), Group, Height (cm), NbFrame, Weight (kg)
    ROOT/patientNNN/patientNNN_4d.nii.gz          cine (x, y, z, t)
    ROOT/patientNNN/patientNNN_frameEE.nii.gz     ED and ES images (EE = frame number, two digits)
    ROOT/patientNNN/patientNNN_frameEE_gt.nii.gz  their masks (0 bg, 1 RV cavity, 2 LV myocardium, 3 LV cavity)
    ROOT/manifest.csv                             optional (the shared copy): spacing-known flags, seg_source

Both the original release (cine and ED/ES frames on one voxel grid) and the
shared cropped copy are read. In the cropped copy every cine is
``F[50:150, 85:180, 1:1+nz]`` of the full ED/ES image ``F`` in NIfTI (x, y, z)
order, after ``numpy.rot90(F, -1, axes=(0, 1))`` when ``F`` has x > y; the
masks are mapped onto the cine grid with that same crop and checked against
the cine's ED/ES frames at load time. ACDC stores no frame timing (the cine's
4th pixdim is 1), so ``trigger_times_ms`` is always None.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from cardiolens.data.cine import CineCMR
from cardiolens.data.cohort import Cohort, SubjectRecord
from cardiolens.data.labels import CINE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import (
    CorruptFileError,
    InconsistentGeometryError,
    MalformedTableError,
    MissingDataError,
    NonFiniteValueError,
)
from cardiolens.io.files import require_dir, require_file
from cardiolens.io.layouts.base import records_from_folders
from cardiolens.io.nifti import NiftiImage, read_nifti
from cardiolens.io.tables import read_csv_rows

NAME = "acdc"
INFO_FILE = "Info.cfg"
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("patient", "cine_spacing_known", "seg_spacing_known", "seg_source")

#: The documented crop of the shared copy, in NIfTI (x, y, z) voxel indices of the full image.
CROP_X = (50, 150)
CROP_Y = (85, 180)
CROP_FIRST_SLICE = 1

#: Minimum correlation between a mapped ED/ES image and the cine frame it should equal.
MATCH_MIN_CORRELATION = 0.99

_PATIENT_RE = re.compile(r"^patient\d+$")
_PLACEHOLDER_SPACING = (1.0, 1.0, 1.0)
_TEMPORAL_NOTE = "ACDC stores no frame timing (cine pixdim[4] is 1): trigger times unknown"


@dataclass(frozen=True)
class AcdcInfo:
    """Contents of one ``Info.cfg``; frame numbers are 1-based as in the file."""

    ed_frame: int
    es_frame: int
    group: str
    height_cm: float
    n_frames: int
    weight_kg: float


@dataclass(eq=False)
class AcdcStudy:
    """One ACDC patient.

    Attributes:
        cine: the whole cycle, (t, z, y, x), with the ED/ES masks mapped onto
            its grid in ``cine.segmentations`` (keys ``cine.ed_index`` and
            ``cine.es_index``, 0-based).
        ed, es: the ED and ES images at full size (modality "cine_frame"),
            with their ground-truth masks as ``labels`` (label_scheme "cine").
    """

    cine: CineCMR
    ed: CMRVolume
    es: CMRVolume

    @property
    def subject_id(self) -> str:
        return self.cine.subject_id

    def ed_es_cine(self) -> CineCMR:
        """A two-frame cine (ED, ES) at full size with the ground-truth masks.

        The shared cine is cropped and lacks the first (and sometimes the
        last) slices, so volumes and mass must be measured on these frames.
        """
        return CineCMR(
            image=np.stack([self.ed.image, self.es.image]),
            spacing_mm=self.ed.spacing_mm,
            spacing_known=self.ed.spacing_known,
            affine=self.ed.affine,
            ed_index=0,
            es_index=1,
            segmentations={0: np.asarray(self.ed.labels), 1: np.asarray(self.es.labels)},
            subject_id=self.subject_id,
            source=self.ed.source,
            metadata=dict(self.cine.metadata),
        )


# --------------------------------------------------------------------------- Info.cfg / manifest


def _parse_int(path: Path, key: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise MalformedTableError(path, f"{key} value {text!r} is not an integer")
    return int(value)


def _parse_positive_float(path: Path, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise MalformedTableError(path, f"{key} value {text!r} is not a positive number")
    return value


def read_info_cfg(path: str | Path) -> AcdcInfo:
    """Parse an ACDC ``Info.cfg`` (``Key: value`` lines).

    Raises:
        MalformedTableError: a missing key, an unparseable value, or ED/ES
            outside 1..NbFrame (the error names the file).
    """
    p = require_file(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedTableError(p, f"cannot read as text ({exc})") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise MalformedTableError(p, f"line {line.strip()!r} is not 'Key: value'")
        fields[key.strip()] = value.strip()
    missing = [k for k in ("ED", "ES", "Group", "Height", "NbFrame", "Weight") if k not in fields]
    if missing:
        raise MalformedTableError(p, f"missing key(s) {', '.join(missing)}")
    n_frames = _parse_int(p, "NbFrame", fields["NbFrame"])
    if n_frames < 1:
        raise MalformedTableError(p, f"NbFrame must be at least 1, got {n_frames}")
    ed, es = _parse_int(p, "ED", fields["ED"]), _parse_int(p, "ES", fields["ES"])
    for key, frame in (("ED", ed), ("ES", es)):
        if not 1 <= frame <= n_frames:
            raise MalformedTableError(p, f"{key}={frame} outside 1..NbFrame={n_frames}")
    if not fields["Group"]:
        raise MalformedTableError(p, "Group is empty")
    return AcdcInfo(
        ed_frame=ed,
        es_frame=es,
        group=fields["Group"],
        height_cm=_parse_positive_float(p, "Height", fields["Height"]),
        n_frames=n_frames,
        weight_kg=_parse_positive_float(p, "Weight", fields["Weight"]),
    )


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """Rows of ``manifest.csv`` by patient id (values still text; parsed per patient)."""
    rows = read_csv_rows(path, MANIFEST_COLUMNS)
    return {row["patient"].strip(): row for row in rows}


def _parse_bool(path: Path, patient: str, column: str, text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise MalformedTableError(path, f"row {patient}: {column}={text!r} is not true/false")


# --------------------------------------------------------------------------- scan


def _nifti_file(folder: Path, stem: str) -> Path:
    """``stem.nii.gz``, or ``stem.nii`` when only that exists (the checks then name the .nii.gz)."""
    gz = folder / f"{stem}.nii.gz"
    plain = folder / f"{stem}.nii"
    return plain if not gz.exists() and plain.exists() else gz


def _header_spacing_known(path: Path) -> bool:
    """Known unless the header zooms are all exactly 1.0 (the placeholder of lost spacing)."""
    try:
        zooms = nib.load(str(path)).header.get_zooms()[:3]
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile, ImageFileError) as exc:
        raise CorruptFileError(path, f"cannot read NIfTI header ({exc})") from exc
    return not all(float(z) == 1.0 for z in zooms)


def _patient_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and _PATIENT_RE.match(p.name))


def looks_like(root: Path) -> bool:
    """True when ``root`` holds ``patientNNN/Info.cfg`` folders."""
    root = Path(root)
    return root.is_dir() and any((p / INFO_FILE).is_file() for p in _patient_folders(root))


def _scan_patient(folder: Path, manifest_path: Path, row: dict[str, str] | None) -> SubjectRecord:
    pid = folder.name
    info = read_info_cfg(folder / INFO_FILE)
    paths = {
        "info": folder / INFO_FILE,
        "cine": _nifti_file(folder, f"{pid}_4d"),
        "ed": _nifti_file(folder, f"{pid}_frame{info.ed_frame:02d}"),
        "ed_gt": _nifti_file(folder, f"{pid}_frame{info.ed_frame:02d}_gt"),
        "es": _nifti_file(folder, f"{pid}_frame{info.es_frame:02d}"),
        "es_gt": _nifti_file(folder, f"{pid}_frame{info.es_frame:02d}_gt"),
    }
    for path in paths.values():
        require_file(path)
    if row is not None:
        cine_known = _parse_bool(manifest_path, pid, "cine_spacing_known", row.get("cine_spacing_known"))
        seg_known = _parse_bool(manifest_path, pid, "seg_spacing_known", row.get("seg_spacing_known"))
        seg_source = (row.get("seg_source") or "").strip() or "unknown"
    else:
        cine_known = _header_spacing_known(paths["cine"])
        seg_known = _header_spacing_known(paths["ed"])
        seg_source = "unknown"
    return SubjectRecord(
        subject_id=pid,
        label=info.group,
        paths=paths,
        attributes={
            "height_cm": info.height_cm,
            "weight_kg": info.weight_kg,
            "ed_frame": info.ed_frame,
            "es_frame": info.es_frame,
            "n_frames": info.n_frames,
            "cine_spacing_known": cine_known,
            "seg_spacing_known": seg_known,
            "seg_source": seg_source,
        },
    )


def scan(root: Path) -> Cohort:
    """One record per ``patientNNN`` folder; unusable patients go to ``bad_cases``.

    Reads Info.cfg files, ``manifest.csv`` (when present) and, without a
    manifest, the NIfTI headers for the spacing-known flags; no image data is
    decoded. Label = Info.cfg ``Group``.

    Raises:
        MalformedTableError: ``manifest.csv`` exists but cannot be read or
            lacks a required column (it describes every patient).
    """
    root = require_dir(root)
    manifest_path = root / MANIFEST_FILE
    manifest = _read_manifest(manifest_path) if manifest_path.exists() else None
    records, bad = records_from_folders(root, _patient_folders(root), manifest, manifest_path, _scan_patient)
    return Cohort(layout=NAME, root=root, records=records, bad_cases=bad)


# --------------------------------------------------------------------------- grid mapping


def _needs_rotation(frame_shape_zyx: tuple[int, ...]) -> bool:
    """The documented rule: rotate when the full image has x > y."""
    return frame_shape_zyx[2] > frame_shape_zyx[1]


def _rotate_zyx(array: np.ndarray) -> np.ndarray:
    # numpy.rot90(F, -1, axes=(0, 1)) on F in (x, y, z) order is, on the same
    # data in (z, y, x) order, a rotation from axis 2 (x) towards axis 1 (y).
    return np.rot90(array, -1, axes=(2, 1))


def crop_applies(frame_shape_zyx: tuple[int, ...], cine_shape_zyx: tuple[int, ...]) -> bool:
    """Whether the documented crop maps a full frame of this shape onto this cine grid."""
    nz, ny, nx = cine_shape_zyx
    if (ny, nx) != (CROP_Y[1] - CROP_Y[0], CROP_X[1] - CROP_X[0]):
        return False
    z, y, x = frame_shape_zyx
    if _needs_rotation(frame_shape_zyx):
        y, x = x, y
    return x >= CROP_X[1] and y >= CROP_Y[1] and z >= CROP_FIRST_SLICE + nz


def crop_to_cine(array_zyx: np.ndarray, n_slices: int) -> np.ndarray:
    """Map a full-size ED/ES array (z, y, x) onto the cropped cine grid.

    Applies ``numpy.rot90(F, -1, axes=(0, 1))`` (in NIfTI order) when x > y,
    then the crop ``F[50:150, 85:180, 1:1+n_slices]`` translated to (z, y, x):
    ``[1:1+n_slices, 85:180, 50:150]``. Returns an array (n_slices, 95, 100).
    """
    array = _rotate_zyx(array_zyx) if _needs_rotation(array_zyx.shape) else array_zyx
    z0 = CROP_FIRST_SLICE
    return np.ascontiguousarray(
        array[z0 : z0 + n_slices, CROP_Y[0] : CROP_Y[1], CROP_X[0] : CROP_X[1]]
    )


def crop_index_transform(frame_shape_zyx: tuple[int, ...]) -> np.ndarray:
    """4x4 matrix from cine voxel index (x, y, z, 1) to full-frame voxel index (x, y, z, 1)."""
    shift_z = float(CROP_FIRST_SLICE)
    if not _needs_rotation(frame_shape_zyx):
        return np.array(
            [[1, 0, 0, CROP_X[0]], [0, 1, 0, CROP_Y[0]], [0, 0, 1, shift_z], [0, 0, 0, 1]], dtype=float
        )
    # After rot90(F, -1): R[a, b] = F[nx - 1 - b, a] (nx = full-frame x size).
    nx = frame_shape_zyx[2]
    return np.array(
        [[0, -1, 0, nx - 1 - CROP_Y[0]], [1, 0, 0, CROP_X[0]], [0, 0, 1, shift_z], [0, 0, 0, 1]],
        dtype=float,
    )


def _affine_with_spacing(affine: np.ndarray, spacing_zyx_mm: tuple[float, float, float]) -> np.ndarray:
    """Keep the affine's orientation but give its columns the header spacing.

    Native ACDC ED/ES files keep voxel size only in pixdim and carry a sform of
    diag(-1, -1, 1); rescaling the columns makes the affine agree with pixdim.
    """
    z, y, x = spacing_zyx_mm
    fixed = np.array(affine, dtype=float)
    norms = np.linalg.norm(fixed[:3, :3], axis=0)
    if np.allclose(norms, (x, y, z), rtol=1e-4) or np.any(norms == 0):
        return fixed
    fixed[:3, :3] = fixed[:3, :3] / norms * np.array([x, y, z])
    return fixed


# --------------------------------------------------------------------------- load


def _read_mask(path: Path, image_shape: tuple[int, ...], image_path: Path) -> np.ndarray:
    mask = read_nifti(path).array
    if mask.shape != image_shape:
        raise InconsistentGeometryError(
            path, f"mask shape {mask.shape} (z, y, x) differs from image {image_path.name} {image_shape}"
        )
    if np.issubdtype(mask.dtype, np.floating):
        if not np.isfinite(mask).all():
            raise NonFiniteValueError(path, "mask holds NaN/Inf values")
        if not np.array_equal(mask, np.round(mask)):
            raise CorruptFileError(path, "mask holds non-integer values")
    values = np.unique(mask)
    allowed = set(CINE_LABELS.values())
    unexpected = [v for v in values.tolist() if v not in allowed]
    if unexpected:
        raise CorruptFileError(path, f"mask values {unexpected[:5]} outside the ACDC labels 0..3")
    return mask.astype(np.uint8)


def _read_phase(record: SubjectRecord, phase: str, frame: int) -> CMRVolume:
    """The full-size ED or ES image with its mask (``phase`` is "ed" or "es")."""
    image_path = record.paths[phase]
    image = read_nifti(image_path, dtype=np.float32)
    if image.array.ndim != 3:
        raise InconsistentGeometryError(image_path, f"expected a 3-D frame, got shape {image.array.shape}")
    mask = _read_mask(record.paths[f"{phase}_gt"], image.array.shape, image_path)
    known = bool(record.attributes["seg_spacing_known"])
    return CMRVolume(
        image=image.array,
        modality="cine_frame",
        spacing_mm=image.spacing_mm if known else _PLACEHOLDER_SPACING,
        spacing_known=known,
        affine=_affine_with_spacing(image.affine, image.spacing_mm) if known else image.affine,
        labels=mask,
        label_scheme="cine",
        subject_id=record.subject_id,
        source=str(image_path),
        metadata={"phase": phase.upper(), "frame": frame, "group": record.label},
    )


def _read_cine(record: SubjectRecord) -> NiftiImage:
    path = record.paths["cine"]
    cine = read_nifti(path, dtype=np.float32)
    if cine.array.ndim != 4:
        raise InconsistentGeometryError(path, f"expected a 4-D cine, got shape {cine.array.shape}")
    # Checked here (CineCMR checks again) so the ED/ES match test never sees NaN/Inf.
    n_bad = int(cine.array.size - np.count_nonzero(np.isfinite(cine.array)))
    if n_bad:
        raise NonFiniteValueError(path, f"cine image holds {n_bad} NaN/Inf value(s)")
    expected = int(record.attributes["n_frames"])
    if cine.array.shape[0] != expected:
        raise MissingDataError(path, f"cine has {cine.array.shape[0]} frames but Info.cfg NbFrame is {expected}")
    return cine


def _is_cropped(full_grid: tuple[int, ...], cine_grid: tuple[int, ...], cine_path: Path) -> bool:
    """False for the original layout (one grid), True for the documented crop; else raise."""
    if full_grid == cine_grid:
        return False
    if crop_applies(full_grid, cine_grid):
        return True
    raise InconsistentGeometryError(
        cine_path,
        f"cine grid {cine_grid} (z, y, x) is neither the ED/ES grid {full_grid} "
        "nor the documented 100 x 95 crop of it",
    )


def _check_match(mapped: np.ndarray, cine_frame: np.ndarray, image_path: Path, frame: int) -> float:
    """Correlation of a mapped ED/ES image with its cine frame; raise if they do not match."""
    a = mapped.astype(np.float64).ravel()
    b = cine_frame.astype(np.float64).ravel()
    if np.array_equal(a, b):
        return 1.0
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else math.nan
    if not r >= MATCH_MIN_CORRELATION:
        raise InconsistentGeometryError(
            image_path,
            f"does not match cine frame {frame} on the cine grid (correlation {r:.3f}); "
            "wrong ED/ES number in Info.cfg or an undocumented crop",
        )
    return r


def load(record: SubjectRecord) -> AcdcStudy:
    """Read one patient: the 4D cine with mapped masks, and the full-size ED/ES volumes.

    Cine spacing comes from the cine header when known, else from the ED/ES
    header when that is known (the cine is a crop of the same voxel grid),
    else it is a (1, 1, 1) placeholder with ``spacing_known=False``.

    Raises:
        MissingDataError: a missing file, or a cine whose frame count differs
            from Info.cfg NbFrame (names the cine file).
        InconsistentGeometryError: mask/image shape mismatch, a cine grid that
            is neither the ED/ES grid nor the documented crop of it, or an
            ED/ES image that does not match its cine frame.
        CorruptFileError, EmptyFileError, NonFiniteValueError: damaged files.
    """
    attrs: dict[str, Any] = record.attributes
    ed_frame, es_frame = int(attrs["ed_frame"]), int(attrs["es_frame"])
    cine_img = _read_cine(record)
    ed = _read_phase(record, "ed", ed_frame)
    es = _read_phase(record, "es", es_frame)
    full_grid = ed.image.shape
    if es.image.shape != full_grid:
        raise InconsistentGeometryError(record.paths["es"], f"shape {es.image.shape} differs from ED frame {full_grid}")
    cine_grid = cine_img.array.shape[1:]
    cropped = _is_cropped(full_grid, cine_grid, record.paths["cine"])
    rotated = cropped and _needs_rotation(full_grid)

    def to_cine(array: np.ndarray) -> np.ndarray:
        return crop_to_cine(array, cine_grid[0]) if cropped else array

    correlations = {
        volume.metadata["phase"]: _check_match(
            to_cine(volume.image), cine_img.array[frame - 1], Path(volume.source), frame
        )
        for volume, frame in ((ed, ed_frame), (es, es_frame))
    }

    cine_known, seg_known = bool(attrs["cine_spacing_known"]), bool(attrs["seg_spacing_known"])
    if cine_known:
        spacing, affine, spacing_source = cine_img.spacing_mm, cine_img.affine, "cine header"
    elif seg_known:
        sz, sy, sx = ed.spacing_mm
        spacing = (sz, sx, sy) if rotated else (sz, sy, sx)  # rot90 swaps the in-plane axes
        assert ed.affine is not None
        # The ED/ES orientation is itself a placeholder in this copy; composing it
        # with the crop at least keeps the cine and ED/ES volumes in one frame.
        affine = ed.affine @ crop_index_transform(full_grid) if cropped else ed.affine
        spacing_source = "ED/ES header (same voxel grid)"
    else:
        spacing, affine, spacing_source = _PLACEHOLDER_SPACING, cine_img.affine, "unknown (placeholder 1 x 1 x 1)"

    crop_info: dict[str, Any] = {"applied": cropped, "rotated": rotated}
    if cropped:
        crop_info.update(
            x=list(CROP_X),
            y=list(CROP_Y),
            z=[CROP_FIRST_SLICE, CROP_FIRST_SLICE + cine_grid[0]],
            full_shape_zyx=list(full_grid),
            note="voxel ranges of the full ED/ES image, NIfTI (x, y, z) order, after any rotation",
        )
    assert ed.labels is not None and es.labels is not None
    cine = CineCMR(
        image=cine_img.array,
        spacing_mm=spacing,
        spacing_known=cine_known or seg_known,
        affine=affine,
        trigger_times_ms=None,
        ed_index=ed_frame - 1,
        es_index=es_frame - 1,
        segmentations={ed_frame - 1: to_cine(ed.labels), es_frame - 1: to_cine(es.labels)},
        subject_id=record.subject_id,
        source=str(record.paths["cine"]),
        metadata={
            "group": record.label,
            "height_cm": attrs["height_cm"],
            "weight_kg": attrs["weight_kg"],
            "seg_source": attrs["seg_source"],
            "spacing_source": spacing_source,
            "crop": crop_info,
            "frame_match_correlation": correlations,
            "temporal_resolution": _TEMPORAL_NOTE,
        },
    )
    return AcdcStudy(cine=cine, ed=ed, es=es)
