"""Post-processing helpers the segmentation systems (``cine-seg``, ``lge``) share."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_component(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The face-connected component of ``mask`` with the most voxels (or the largest sum of ``weights``)."""
    components, n = ndimage.label(mask)
    if n <= 1:
        return mask
    score = ndimage.sum_labels(mask if weights is None else weights, components, index=np.arange(1, n + 1))
    return components == 1 + int(np.argmax(score))
