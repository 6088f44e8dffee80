"""Echocardiography clip container."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cardiolens.data._checks import require_finite
from cardiolens.errors import InconsistentGeometryError, UnreadableVideoError


@dataclass(eq=False)
class EchoClip:
    """A greyscale echo clip.

    Attributes:
        frames: pixel values, shape (t, y, x) (colour sources are converted to grey).
        fps: frame rate in frames per second.
        pixel_spacing_mm: (row, column) spacing in mm, or None when unknown.
        view: echo view, e.g. "A4C", "A2C", "PLAX", or "unknown".
        subject_id, source, metadata: identity, provenance, extras.
    """

    frames: np.ndarray
    fps: float
    pixel_spacing_mm: tuple[float, float] | None = None
    view: str = "unknown"
    subject_id: str = ""
    source: str = "<memory>"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        if self.frames.ndim != 3:
            raise InconsistentGeometryError(self.source, f"echo clip must be (t, y, x), got {self.frames.shape}")
        if self.frames.shape[0] < 2:
            raise UnreadableVideoError(self.source, f"clip has {self.frames.shape[0]} frame(s); need at least 2")
        require_finite(self.frames, self.source, "echo frames")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise InconsistentGeometryError(self.source, f"frame rate must be positive, got {self.fps}")
        if self.pixel_spacing_mm is not None:
            self.pixel_spacing_mm = tuple(float(s) for s in self.pixel_spacing_mm)  # type: ignore[assignment]

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps
