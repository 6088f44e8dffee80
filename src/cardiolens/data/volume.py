"""3-D CMR volume container: LGE stacks, parametric maps and single cine frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from cardiolens.data._checks import (
    default_affine,
    require_finite,
    require_ndim,
    require_positive_spacing,
)
from cardiolens.errors import InconsistentGeometryError

Modality = Literal["lge", "t1", "t2", "ecv", "os_dsi", "cine_frame", "other"]

#: Unit of the voxel values for each modality.
MODALITY_UNITS: Final[dict[str, str]] = {
    "lge": "a.u.",
    "t1": "ms",
    "t2": "ms",
    "ecv": "%",
    "os_dsi": "%",  # oxygenation-sensitive signal change, %ΔSI
    "cine_frame": "a.u.",
    "other": "a.u.",
}


@dataclass(eq=False)
class CMRVolume:
    """A 3-D short-axis volume with geometry and units.

    Attributes:
        image: voxel values, shape (z, y, x), in ``unit``.
        modality: what the values are (LGE signal, T1 ms, T2 ms, ECV %, %ΔSI...).
        spacing_mm: voxel spacing in array-axis order (z, y, x), in mm.
        spacing_known: False when the source carried no real spacing (then
            volumes must be reported in voxels).
        affine: 4x4 matrix from voxel index (x, y, z, 1) to RAS+ mm.
        labels: optional label mask of the same shape (scheme named in
            ``label_scheme``: "lge" -> LGE_LABELS, "map" -> MAP_LABELS,
            "cine" -> CINE_LABELS).
        subject_id, source, metadata: identity, provenance and extras.
    """

    image: np.ndarray
    modality: Modality
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    spacing_known: bool = True
    affine: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_scheme: str | None = None
    subject_id: str = ""
    source: str = "<memory>"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image)
        require_ndim(self.image, 3, self.source, f"{self.modality} image", "z, y, x")
        require_finite(self.image, self.source, f"{self.modality} image")
        if self.modality not in MODALITY_UNITS:
            raise InconsistentGeometryError(self.source, f"unknown modality {self.modality!r}")
        self.spacing_mm = require_positive_spacing(self.spacing_mm, self.source)  # type: ignore[assignment]
        self.affine = default_affine(self.spacing_mm) if self.affine is None else np.asarray(self.affine, float)
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if self.labels.shape != self.image.shape:
                raise InconsistentGeometryError(
                    self.source, f"labels shape {self.labels.shape} != image shape {self.image.shape}"
                )

    @property
    def unit(self) -> str:
        return MODALITY_UNITS[self.modality]

    @property
    def voxel_volume_ml(self) -> float:
        z, y, x = self.spacing_mm
        return z * y * x / 1000.0
