"""NIfTI reading and writing (nibabel) with cardiolens axis order.

NIfTI stores arrays as (x, y, z[, t]); cardiolens containers use (z, y, x) and
(t, z, y, x). These functions transpose at the boundary so that nothing else
has to. Spacing is read from the header zooms (``pixdim``), not from the
affine, because some files (native ACDC ED/ES) keep a placeholder sform.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from cardiolens.errors import CorruptFileError, InconsistentGeometryError
from cardiolens.io.atomic import atomic_path
from cardiolens.io.files import require_file


@dataclass(eq=False)
class NiftiImage:
    """Array in cardiolens order plus geometry from the header.

    Attributes:
        array: (z, y, x) or (t, z, y, x).
        spacing_mm: (z, y, x) spacing in mm from the header zooms.
        affine: voxel (x, y, z, 1) -> RAS+ mm (nibabel's best affine).
        path: the file read.
    """

    array: np.ndarray
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray
    path: Path


def read_nifti(path: str | os.PathLike[str], dtype: type | None = None) -> NiftiImage:
    """Read a 3-D or 4-D NIfTI file; errors name the file and the problem."""
    p = require_file(path)
    try:
        img = nib.load(str(p))
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile, nib.filebasedimages.ImageFileError) as exc:
        raise CorruptFileError(p, f"cannot read NIfTI ({exc})") from exc
    if data.ndim not in (3, 4):
        raise InconsistentGeometryError(p, f"expected a 3-D or 4-D image, got shape {data.shape}")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    array = np.transpose(data, (3, 2, 1, 0) if data.ndim == 4 else (2, 1, 0))
    if dtype is not None:
        array = array.astype(dtype)
    return NiftiImage(
        array=np.ascontiguousarray(array),
        spacing_mm=(zooms[2], zooms[1], zooms[0]),
        affine=np.asarray(img.affine, dtype=float),
        path=p,
    )


def write_nifti(
    path: str | os.PathLike[str],
    array: np.ndarray,
    spacing_mm: tuple[float, float, float],
    affine: np.ndarray | None = None,
    frame_time_ms: float | None = None,
) -> Path:
    """Write a (z, y, x) or (t, z, y, x) array atomically.

    The header zooms carry ``spacing_mm`` (and ``frame_time_ms`` as the 4th
    zoom, with time units set to ms); the affine defaults to the diagonal of
    the spacing.
    """
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise InconsistentGeometryError(path, f"can only write 3-D or 4-D arrays, got shape {array.shape}")
    z, y, x = (float(s) for s in spacing_mm)
    if affine is None:
        affine = np.diag([x, y, z, 1.0])
    data = np.transpose(array, (3, 2, 1, 0) if array.ndim == 4 else (2, 1, 0))
    img = nib.Nifti1Image(np.ascontiguousarray(data), np.asarray(affine, dtype=float))
    zooms: tuple[float, ...] = (x, y, z)
    if array.ndim == 4:
        zooms = (*zooms, float(frame_time_ms) if frame_time_ms else 1.0)
    img.header.set_zooms(zooms)
    img.header.set_xyzt_units("mm", "msec")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)
