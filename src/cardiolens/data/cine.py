"""Cine CMR container: a short-axis stack over the cardiac cycle with its geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cardiolens.data._checks import (
    default_affine,
    require_finite,
    require_ndim,
    require_positive_spacing,
)
from cardiolens.errors import InconsistentGeometryError, MissingDataError


@dataclass(eq=False)
class CineCMR:
    """A cine short-axis stack.

    Attributes:
        image: intensities, shape (t, z, y, x); z runs along the stack in the
            order the slices were acquired or sorted (base/apex order is
            recorded in ``metadata["slice_order"]`` when known).
        spacing_mm: voxel spacing in array-axis order (z, y, x), in mm; z is
            the centre-to-centre distance between slices (thickness + gap).
        spacing_known: False when the source carried no real spacing (then
            ``spacing_mm`` is a placeholder and volumes are in voxels).
        affine: 4x4 matrix mapping voxel index (x, y, z, 1) to patient
            coordinates in mm (RAS+, the NIfTI convention).
        trigger_times_ms: time of each frame after the R wave, shape (t,), or
            None when the source carries no temporal information.
        ed_index, es_index: 0-based frame indices of end-diastole/end-systole.
        segmentations: frame index -> label mask (z, y, x) with
            :data:`cardiolens.data.labels.CINE_LABELS` values.
        slice_thickness_mm: nominal slice thickness, when known.
        subject_id, source: identity and provenance (file or folder).
        metadata: free-form extras (height_cm, weight_kg, group, simulated...).
    """

    image: np.ndarray
    spacing_mm: tuple[float, float, float]
    spacing_known: bool = True
    affine: np.ndarray | None = None
    trigger_times_ms: np.ndarray | None = None
    ed_index: int = 0
    es_index: int | None = None
    segmentations: dict[int, np.ndarray] = field(default_factory=dict)
    slice_thickness_mm: float | None = None
    subject_id: str = ""
    source: str = "<memory>"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image)
        require_ndim(self.image, 4, self.source, "cine image", "t, z, y, x")
        require_finite(self.image, self.source, "cine image")
        self.spacing_mm = require_positive_spacing(self.spacing_mm, self.source)  # type: ignore[assignment]
        if len(self.spacing_mm) != 3:
            raise InconsistentGeometryError(self.source, "cine spacing must have 3 values (z, y, x)")
        self.affine = default_affine(self.spacing_mm) if self.affine is None else np.asarray(self.affine, float)
        if self.affine.shape != (4, 4):
            raise InconsistentGeometryError(self.source, f"affine must be 4x4, got {self.affine.shape}")
        n_frames = self.image.shape[0]
        if self.trigger_times_ms is not None:
            self.trigger_times_ms = np.asarray(self.trigger_times_ms, dtype=float)
            if self.trigger_times_ms.shape != (n_frames,):
                raise MissingDataError(
                    self.source,
                    f"{self.trigger_times_ms.size} trigger times for {n_frames} frames",
                )
            if np.any(np.diff(self.trigger_times_ms) <= 0):
                raise InconsistentGeometryError(self.source, "trigger times are not increasing")
        for name in ("ed_index", "es_index"):
            index = getattr(self, name)
            if index is not None and not 0 <= index < n_frames:
                raise MissingDataError(self.source, f"{name}={index} outside 0..{n_frames - 1}")
        for frame, mask in self.segmentations.items():
            if not 0 <= frame < n_frames:
                raise MissingDataError(self.source, f"segmentation for frame {frame} of {n_frames}")
            if mask.shape != self.image.shape[1:]:
                raise InconsistentGeometryError(
                    self.source,
                    f"segmentation of frame {frame} has shape {mask.shape}, image frames {self.image.shape[1:]}",
                )

    @property
    def n_frames(self) -> int:
        return int(self.image.shape[0])

    @property
    def n_slices(self) -> int:
        return int(self.image.shape[1])

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (meaningful only when ``spacing_known``)."""
        z, y, x = self.spacing_mm
        return z * y * x / 1000.0

    @property
    def rr_interval_ms(self) -> float | None:
        """Cycle length estimated from trigger times (last + one mean frame step)."""
        if self.trigger_times_ms is None or self.n_frames < 2:
            return None
        step = float(np.mean(np.diff(self.trigger_times_ms)))
        return float(self.trigger_times_ms[-1] - self.trigger_times_ms[0] + step)

    def frame(self, index: int) -> np.ndarray:
        """One frame, shape (z, y, x)."""
        return self.image[index]
