"""The classic ``nsd`` and ``fwhm`` routes: thresholds of :mod:`cardiolens.measure.lge` inside a given myocardium.

The myocardium (and LV cavity) come from a label mask: a network's output or
the study's own labels. The result is a label mask of the same scheme, so the
threshold routes are scored and quantified exactly like the networks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from cardiolens.data.labels import LGE_LABELS
from cardiolens.measure.lge import DEFAULT_MIN_ISLAND_VOXELS, lge_thresholds, threshold_by_slice, threshold_scar
from cardiolens.systems.lge.model import MYOCARDIUM_LABELS


def threshold_labels(
    image_zyx: np.ndarray,
    base_labels_zyx: np.ndarray,
    method: Literal["nsd", "fwhm"],
    n_sd: float,
    min_island_voxels: int = DEFAULT_MIN_ISLAND_VOXELS,
) -> np.ndarray:
    """Labels with scar (3) and MVO (4) re-drawn by ``method`` inside the myocardium of ``base_labels_zyx``.

    Per-slice remote region and threshold (the lowest-mean sector), islands
    under ``min_island_voxels`` dropped, MVO = the dark core enclosed by scar.
    An empty myocardium returns the base cavity only.
    """
    base = np.asarray(base_labels_zyx)
    myocardium = np.isin(base, MYOCARDIUM_LABELS)
    cavity = base == LGE_LABELS["lv_cavity"]
    out = np.zeros(base.shape, dtype=np.uint8)
    out[cavity] = LGE_LABELS["lv_cavity"]
    if not myocardium.any():
        return out
    out[myocardium] = LGE_LABELS["normal_myocardium"]
    image = np.asarray(image_zyx, dtype=float)
    thresholds = lge_thresholds(image, myocardium, method=method, n_sd=n_sd, lv_cavity=cavity if cavity.any() else None,
                                min_island_voxels=min_island_voxels)
    scar = threshold_scar(image, myocardium, threshold_by_slice(thresholds, image.shape[0]), min_island_voxels=min_island_voxels,
                          lv_cavity=cavity if cavity.any() else None)
    out[scar.scar] = LGE_LABELS["infarct"]
    out[scar.mvo] = LGE_LABELS["mvo"]
    return out
