"""In-plane adjacency for the simulator tests (scipy, independent of synth.phantom's own helper)."""

import numpy as np
from scipy import ndimage


def touching(mask: np.ndarray) -> np.ndarray:
    """Pixels 4-adjacent in-plane (last two axes) to ``mask`` (not in it)."""
    structure = np.zeros((3,) * mask.ndim, dtype=bool)
    centre = (1,) * (mask.ndim - 2)
    structure[(*centre, slice(None), 1)] = True
    structure[(*centre, 1, slice(None))] = True
    return ndimage.binary_dilation(mask, structure) & ~mask
