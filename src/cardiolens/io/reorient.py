"""Put two stacks of the same scan into the same slice order.

DICOM carries no slice order, so readers sort along the slice normal (row x
column direction). A left-handed stack (base-to-apex shown in the standard
view is one) then comes back in reverse, with the geometry still right. To
pair it with masks stored in the original order, flip it back.
"""

from __future__ import annotations

import numpy as np


def flip_slices(image: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reverse the slice axis (third-from-last axis: z of (..., z, y, x)) and fix the affine."""
    n_slices = image.shape[-3]
    flipped = np.array(affine, dtype=float)
    flipped[:3, 3] = affine[:3, 3] + affine[:3, 2] * (n_slices - 1)
    flipped[:3, 2] = -affine[:3, 2]
    return np.ascontiguousarray(np.flip(image, axis=-3)), flipped


def match_slice_order(image: np.ndarray, affine: np.ndarray, reference_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``image`` along z when its slice direction opposes ``reference_affine``'s."""
    if float(np.dot(affine[:3, 2], reference_affine[:3, 2])) < 0:
        return flip_slices(image, affine)
    return image, np.asarray(affine, dtype=float)
