"""Validation helpers shared by the containers (raise errors that name the source)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cardiolens.errors import InconsistentGeometryError, NonFiniteValueError


def require_finite(array: np.ndarray, source: str, what: str) -> None:
    """Raise :class:`NonFiniteValueError` if ``array`` holds NaN or Inf."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteValueError(source, f"{what} holds {n_bad} NaN/Inf value(s)")


def require_ndim(array: np.ndarray, ndim: int, source: str, what: str, axes: str) -> None:
    if array.ndim != ndim:
        raise InconsistentGeometryError(
            source, f"{what} must be {ndim}-D ({axes}), got shape {array.shape}"
        )


def require_positive_spacing(spacing: Sequence[float], source: str) -> tuple[float, ...]:
    values = tuple(float(s) for s in spacing)
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InconsistentGeometryError(source, f"voxel spacing must be positive, got {values}")
    return values


def default_affine(spacing_zyx_mm: Sequence[float]) -> np.ndarray:
    """Affine for voxel index (x, y, z) -> mm with axis-aligned voxels at the origin."""
    z, y, x = spacing_zyx_mm
    return np.diag([x, y, z, 1.0])
