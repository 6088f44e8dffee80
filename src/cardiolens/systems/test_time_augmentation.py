"""Test-time augmentation shared by the segmenters: in-plane symmetries applied, undone and averaged.

A setting ``tta_transforms`` picks one of :data:`TTA_TRANSFORMS`; each
transform is a (90-degree turns, left-right flip) pair acting on the last two
(y, x) axes. The segmentation network is fully convolutional, so a turned
rectangular input only swaps the height and width it sees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import softmax

from cardiolens.errors import UsageError

#: ``tta_transforms`` values: 1 = none, 2 = identity and flip, 4 = the four turns, 8 = turns with and without the flip.
TTA_TRANSFORMS: dict[int, tuple[tuple[int, bool], ...]] = {
    1: ((0, False),),
    2: ((0, False), (0, True)),
    4: tuple((turns, False) for turns in range(4)),
    8: tuple((turns, flip) for flip in (False, True) for turns in range(4)),
}


def check_tta_transforms(value: int) -> int:
    """``value`` as an int if it names a transform set; UsageError otherwise."""
    number = int(value)
    if number not in TTA_TRANSFORMS:
        raise UsageError(f"tta_transforms must be one of {sorted(TTA_TRANSFORMS)}, got {value}")
    return number


def averaged_softmax(logits: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, tta_transforms: int) -> np.ndarray:
    """Softmax over the class axis 1 of ``logits(view)``, averaged over the transformed views of ``batch``.

    Each view's probabilities are turned back before averaging, so the result
    is on the grid of ``batch`` (spatial axes last).
    """

    def undone(turns: int, flip: bool) -> np.ndarray:
        view = np.rot90(batch, turns, axes=(-2, -1))
        probabilities = softmax(logits(np.ascontiguousarray(view[..., ::-1] if flip else view)), axis=1)
        return np.rot90(probabilities[..., ::-1] if flip else probabilities, -turns, axes=(-2, -1))

    transforms = TTA_TRANSFORMS[tta_transforms]
    return sum(undone(turns, flip) for turns, flip in transforms) / len(transforms)  # a running sum: one view in memory at a time
