"""Per-case quantification of an ``lge`` label mask: scar, MVO and myocardial volume, %LGE, >15 % flag, AHA segments.

All numbers come from :func:`cardiolens.measure.lge.measure_lge` with the mask
as drawn (method "labels"), so a model's output, a manual mask and the
threshold routes are measured by the same code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cardiolens.data.labels import LGE_LABELS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import DataError
from cardiolens.measure.lge import AHA_SEGMENTS, LGEMeasurements, measure_lge
from cardiolens.systems.lge.model import MYOCARDIUM_LABELS, SCAR_LABELS


def measure_labels(volume: CMRVolume, labels_zyx: np.ndarray, *, segments: bool = True) -> LGEMeasurements:
    """Measurements of ``labels_zyx`` on ``volume``'s grid and spacing.

    Raises:
        DataError: the mask holds no myocardium (%LGE undefined), naming the study.
    """
    labels = np.asarray(labels_zyx)
    myocardium = np.isin(labels, MYOCARDIUM_LABELS)
    if not myocardium.any():
        raise DataError(volume.source, "no myocardium found in the segmentation; %LGE is undefined")
    labelled = dataclasses.replace(volume, labels=labels.astype(np.uint8), label_scheme="lge")
    return measure_lge(labelled, myocardium=myocardium, scar_mask=np.isin(labels, SCAR_LABELS),
                       mvo_mask=labels == LGE_LABELS["mvo"], method="labels", segments=segments)


def measurement_row(measured: LGEMeasurements) -> dict[str, Any]:
    """One flat row: volumes in mL when the spacing is known, else voxel counts (``volume_unit`` says which)."""
    row: dict[str, Any] = {
        "volume_unit": "mL" if measured.spacing_known else "voxels",
        "scar_voxels": measured.scar_voxels,
        "mvo_voxels": measured.mvo_voxels,
        "myocardium_voxels": measured.myocardium_voxels,
        "scar_volume_ml": measured.scar_volume_ml,
        "mvo_volume_ml": measured.mvo_volume_ml,
        "myocardium_volume_ml": measured.myocardium_volume_ml,
        "pct_lge": measured.pct_lge,
        "burden_over_15pct": measured.burden_over_15pct,
        "mi_predicted": measured.scar_voxels > 0,
    }
    for segment in AHA_SEGMENTS:
        row[f"aha{segment}_scar_pct"] = measured.segment_pct_lge.get(segment)
    row["segment_orientation"] = measured.segment_orientation
    row["notes"] = "; ".join(measured.notes)
    return row


def quantification_row(volume: CMRVolume, labels_zyx: np.ndarray, *, segments: bool = True) -> dict[str, Any]:
    """:func:`measurement_row` of :func:`measure_labels` (raises DataError when the mask holds no myocardium)."""
    return measurement_row(measure_labels(volume, labels_zyx, segments=segments))
