"""Overlap metrics against analytic cases: known overlaps, concentric spheres, shifted cubes, empty masks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cardiolens.data.labels import LGE_LABELS
from cardiolens.errors import UsageError
from cardiolens.stats.overlap import (
    OverlapMetrics,
    assd,
    dice,
    hausdorff,
    hd95,
    overlap_metrics,
    overlap_per_label,
    surface_distances,
    surface_voxels,
)


def _ball(shape: tuple[int, ...], radius_mm: float, spacing_mm: tuple[float, ...]) -> np.ndarray:
    """Voxels whose centre lies within radius_mm (physical distance) of the array centre."""
    grid = np.indices(shape).astype(float)
    centre = [(s - 1) / 2 for s in shape]
    dist2 = sum(((grid[i] - centre[i]) * spacing_mm[i]) ** 2 for i in range(len(shape)))
    return np.sqrt(dist2) <= radius_mm


def _shape_for(extent_mm: float, spacing_mm: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(extent_mm / s) + 1 for s in spacing_mm)


def test_dice_of_known_overlaps() -> None:
    a = np.zeros((4, 10), bool)
    b = np.zeros((4, 10), bool)
    a[0, 0:10] = True  # 10 voxels
    b[0, 5:10] = True  # 5 voxels, all inside a
    assert dice(a, b) == pytest.approx(2 * 5 / 15)
    b[1, :] = True  # 15 voxels, still 5 shared
    assert dice(a, b) == pytest.approx(2 * 5 / 25)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0


def test_dice_empty_mask_rules() -> None:
    empty = np.zeros((5, 5), bool)
    full = np.ones((5, 5), bool)
    assert dice(empty, empty) == 1.0
    assert dice(empty, full) == 0.0
    assert dice(full, empty) == 0.0


def test_identical_masks_give_dice_one_and_zero_distances() -> None:
    spacing = (2.5, 1.2, 0.8)
    mask = _ball(_shape_for(30, spacing), 10, spacing)
    metrics = overlap_metrics(mask, mask, spacing)
    assert metrics.dice == 1.0
    assert metrics.hd95_mm == 0.0 and metrics.assd_mm == 0.0 and metrics.hausdorff_mm == 0.0
    assert metrics.pred_volume_ml == metrics.truth_volume_ml == pytest.approx(mask.sum() * 2.5 * 1.2 * 0.8 / 1000)


def test_surface_of_a_cube_is_its_shell() -> None:
    mask = np.zeros((9, 9, 9), bool)
    mask[2:7, 2:7, 2:7] = True  # 5^3 cube: 125 voxels, 27 interior
    surface = surface_voxels(mask)
    assert surface.sum() == 125 - 27
    assert not surface[3:6, 3:6, 3:6].any()
    # Foreground touching the array border is surface too (outside the array is background).
    assert surface_voxels(np.ones((3, 3, 3), bool)).sum() == 26


def test_single_voxel_distance_uses_anisotropic_spacing() -> None:
    a = np.zeros((6, 6), bool)
    b = np.zeros((6, 6), bool)
    a[0, 0] = True
    b[3, 4] = True
    assert hausdorff(a, b, (1.0, 1.0)) == pytest.approx(5.0)
    assert hausdorff(a, b, (2.0, 1.0)) == pytest.approx(math.sqrt(6.0**2 + 4.0**2))
    assert assd(a, b, (2.0, 1.0)) == pytest.approx(math.sqrt(52.0))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 1.0, 1.0), (3.0, 0.8, 0.8)])
def test_concentric_spheres_give_the_radius_difference(spacing: tuple[float, float, float]) -> None:
    shape = _shape_for(36, spacing)
    inner = _ball(shape, 10.0, spacing)
    outer = _ball(shape, 13.0, spacing)
    metrics = overlap_metrics(inner, outer, spacing)
    tolerance = max(spacing)  # "within a voxel"
    assert metrics.hausdorff_mm == pytest.approx(3.0, abs=tolerance)
    assert metrics.assd_mm == pytest.approx(3.0, abs=tolerance)
    assert metrics.hd95_mm == pytest.approx(3.0, abs=tolerance)
    assert metrics.hd95_mm <= metrics.hausdorff_mm
    # Dice of nested spheres = 2 V_inner / (V_inner + V_outer), up to discretisation.
    assert metrics.dice == pytest.approx(2 * 10**3 / (10**3 + 13**3), abs=0.01)


def test_concentric_discs_in_2d() -> None:
    spacing = (0.5, 0.5)
    shape = _shape_for(50, spacing)
    inner = _ball(shape, 15.0, spacing)
    outer = _ball(shape, 20.0, spacing)
    assert hausdorff(inner, outer, spacing) == pytest.approx(5.0, abs=0.5)
    assert assd(inner, outer, spacing) == pytest.approx(5.0, abs=0.5)
    assert dice(inner, outer) == pytest.approx(2 * 15**2 / (15**2 + 20**2), abs=0.01)


def test_shifted_cube_hausdorff_is_the_shift_in_mm() -> None:
    a = np.zeros((30, 30, 30), bool)
    a[10:20, 10:20, 10:20] = True
    spacing = (2.5, 1.0, 0.8)
    along_z = np.roll(a, 3, axis=0)  # 3 voxels of 2.5 mm
    along_x = np.roll(a, 3, axis=2)  # 3 voxels of 0.8 mm
    assert hausdorff(a, along_z, spacing) == pytest.approx(7.5)
    assert hausdorff(a, along_x, spacing) == pytest.approx(2.4)
    assert 0.0 < hd95(a, along_z, spacing) <= 7.5
    assert dice(a, along_z) == pytest.approx(0.7)
    # Symmetric: swapping prediction and truth does not change any distance.
    forward, backward = overlap_metrics(a, along_z, spacing), overlap_metrics(along_z, a, spacing)
    assert (forward.hd95_mm, forward.assd_mm) == pytest.approx((backward.hd95_mm, backward.assd_mm))


def test_hd95_definitions_pooled_and_max_directed() -> None:
    # A cube and the same cube with a thin spike: only the spike's surface is far from the cube,
    # so the directed P95 (spike side) exceeds the pooled P95.
    truth = np.zeros((40, 40, 40), bool)
    truth[10:20, 10:20, 10:20] = True
    pred = truth.copy()
    pred[14:16, 14:16, 20:34] = True
    spacing = (1.0, 1.0, 1.0)
    d_pred, d_truth = surface_distances(pred, truth, spacing)
    pooled = hd95(pred, truth, spacing)
    directed = hd95(pred, truth, spacing, method="max_directed")
    assert pooled == pytest.approx(np.percentile(np.concatenate([d_pred, d_truth]), 95))
    assert directed == pytest.approx(max(np.percentile(d_pred, 95), np.percentile(d_truth, 95)))
    assert directed > pooled
    assert hausdorff(pred, truth, spacing) == pytest.approx(14.0)  # spike tip to the cube's face
    assert overlap_metrics(pred, truth, spacing, hd95_method="max_directed").hd95_mm == directed


def test_empty_mask_distance_rules() -> None:
    empty = np.zeros((8, 8, 8), bool)
    cube = empty.copy()
    cube[2:5, 2:5, 2:5] = True
    both_empty = overlap_metrics(empty, empty, 1.0)
    assert both_empty.dice == 1.0
    assert math.isnan(both_empty.hd95_mm) and math.isnan(both_empty.assd_mm) and math.isnan(both_empty.hausdorff_mm)
    for pred, truth in ((empty, cube), (cube, empty)):
        assert hd95(pred, truth, 1.0) == math.inf
        assert assd(pred, truth, 1.0) == math.inf
        assert hausdorff(pred, truth, 1.0) == math.inf
        assert dice(pred, truth) == 0.0
    record = overlap_metrics(empty, cube, 1.0).to_dict()
    assert record["hd95_mm"] is None and record["dice"] == 0.0
    json.dumps(record, allow_nan=False)  # strictly valid JSON


def test_cropping_does_not_change_distances_near_the_border() -> None:
    # Masks touching the array edge: cropping to the union's box must keep edge voxels as surface.
    a = np.zeros((12, 12), bool)
    b = np.zeros((12, 12), bool)
    a[0:6, 0:6] = True
    b[0:6, 0:9] = True
    d_ab, d_ba = surface_distances(a, b, (1.0, 1.0))
    assert hausdorff(a, b, (1.0, 1.0)) == pytest.approx(3.0)
    assert len(d_ab) == surface_voxels(a).sum() and len(d_ba) == surface_voxels(b).sum()


def test_overlap_per_label_with_merged_labels() -> None:
    spacing = (5.0, 1.0, 1.0)
    truth = np.zeros((4, 20, 20), np.uint8)
    truth[:, 2:18, 2:18] = LGE_LABELS["normal_myocardium"]
    truth[:, 6:14, 6:14] = LGE_LABELS["lv_cavity"]
    truth[:, 2:6, 2:18] = LGE_LABELS["infarct"]
    pred = truth.copy()
    pred[pred == LGE_LABELS["infarct"]] = LGE_LABELS["normal_myocardium"]  # infarct missed entirely
    labels = {
        "lv_cavity": LGE_LABELS["lv_cavity"],
        "infarct": LGE_LABELS["infarct"],
        "myocardium": (LGE_LABELS["normal_myocardium"], LGE_LABELS["infarct"], LGE_LABELS["mvo"]),
    }
    result = overlap_per_label(pred, truth, labels, spacing)
    assert list(result) == ["lv_cavity", "infarct", "myocardium"]
    assert all(isinstance(m, OverlapMetrics) for m in result.values())
    assert result["lv_cavity"].dice == 1.0 and result["lv_cavity"].hd95_mm == 0.0
    assert result["infarct"].dice == 0.0 and result["infarct"].hd95_mm == math.inf
    assert result["myocardium"].dice == 1.0  # the merged structure is unchanged
    assert result["infarct"].truth_volume_ml == pytest.approx(4 * 4 * 16 * 5.0 / 1000)


def test_bad_arguments_raise_usage_errors() -> None:
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(UsageError, match="differ in shape"):
        dice(a, np.zeros((4, 4), bool))
    with pytest.raises(UsageError, match="spacing_mm"):
        hd95(a, a, (1.0, 1.0))
    with pytest.raises(UsageError, match="positive"):
        hd95(a, a, (1.0, 0.0, 1.0))
    with pytest.raises(UsageError, match="method"):
        hd95(a, a, 1.0, method="mean")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="labels"):
        overlap_per_label(a, a, {}, 1.0)


@pytest.mark.real_data
def test_acdc_mask_shifted_one_voxel_gives_that_voxel_size(shared_data) -> None:
    """A translation by one voxel moves every surface voxel by exactly that voxel's size in mm."""
    from cardiolens.data.labels import CINE_LABELS
    from cardiolens.io.layouts import load, scan

    cine = load(scan(shared_data / "acdc"), "patient001").cine
    truth = np.pad(cine.segmentations[cine.ed_index], 1)  # zero border: shifting never wraps
    labels = {name: value for name, value in CINE_LABELS.items() if name != "background"}
    spacing = cine.spacing_mm  # (z, y, x): 10 mm slices, 1.5625 mm pixels
    for axis in (0, 2):
        shifted = np.roll(truth, 1, axis=axis)
        result = overlap_per_label(shifted, truth, labels, spacing)
        for name, metrics in result.items():
            assert metrics.hausdorff_mm == pytest.approx(spacing[axis]), (axis, name)
            assert 0.0 < metrics.dice < 1.0
            assert metrics.pred_volume_ml == pytest.approx(metrics.truth_volume_ml)
