"""Pointing game and top-fraction IoU of explanation maps against masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiolens.errors import UsageError
from cardiolens.explain.alignment import (
    alignment_scores,
    pointing_game_hit,
    top_fraction_iou,
    top_fraction_region,
)


def square_mask(shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def peak_map(shape: tuple[int, int], y: int, x: int) -> np.ndarray:
    cam = np.zeros(shape)
    cam[y, x] = 1.0
    return cam


def test_pointing_game_hit_and_miss() -> None:
    mask = square_mask((10, 10), 2, 5, 2, 5)
    assert pointing_game_hit(peak_map((10, 10), 3, 4), mask)
    assert not pointing_game_hit(peak_map((10, 10), 7, 7), mask)
    # Integer masks (label maps) count their non-zero pixels.
    assert pointing_game_hit(peak_map((10, 10), 2, 2), mask.astype(np.uint8) * 3)


def test_pointing_game_tolerance_is_euclidean() -> None:
    mask = square_mask((12, 12), 2, 5, 2, 5)  # rows and columns 2-4
    straight = peak_map((12, 12), 3, 7)  # 3 px right of column 4
    assert not pointing_game_hit(straight, mask, tolerance_px=2)
    assert pointing_game_hit(straight, mask, tolerance_px=3)
    diagonal = peak_map((12, 12), 7, 7)  # (3, 3) from the corner (4, 4): 4.24 px
    assert not pointing_game_hit(diagonal, mask, tolerance_px=4)
    assert pointing_game_hit(diagonal, mask, tolerance_px=5)
    with pytest.raises(UsageError, match="tolerance_px"):
        pointing_game_hit(straight, mask, tolerance_px=-1)


def test_pointing_game_ties_take_the_first_pixel_in_row_major_order() -> None:
    cam = np.zeros((6, 6))
    cam[1, 4] = cam[4, 1] = 2.0  # (1, 4) comes first
    assert pointing_game_hit(cam, square_mask((6, 6), 0, 2, 3, 6))
    assert not pointing_game_hit(cam, square_mask((6, 6), 3, 6, 0, 3))
    # A constant map points at (0, 0).
    assert pointing_game_hit(np.ones((6, 6)), square_mask((6, 6), 0, 1, 0, 1))
    assert not pointing_game_hit(np.ones((6, 6)), square_mask((6, 6), 5, 6, 5, 6))


def test_bad_inputs_are_refused() -> None:
    mask = square_mask((8, 8), 1, 3, 1, 3)
    with pytest.raises(UsageError, match="differ"):
        pointing_game_hit(np.zeros((8, 9)), mask)
    with pytest.raises(UsageError, match="empty"):
        pointing_game_hit(np.ones((8, 8)), np.zeros((8, 8), dtype=bool))
    with pytest.raises(UsageError, match="empty"):
        top_fraction_iou(np.ones((8, 8)), np.zeros((8, 8), dtype=bool), 0.1)
    bad = np.ones((8, 8))
    bad[2, 2] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        pointing_game_hit(bad, mask)
    with pytest.raises(UsageError, match="2-D"):
        top_fraction_region(np.ones(8), 0.5)
    for fraction in (0.0, -0.1, 1.5):
        with pytest.raises(UsageError, match="fraction"):
            top_fraction_region(np.ones((8, 8)), fraction)
    with pytest.raises(UsageError, match="same shape"):
        alignment_scores(np.zeros((2, 8, 8)), np.zeros((3, 8, 8), dtype=bool), 0.1)


@pytest.mark.parametrize(("fraction", "n_pixels", "expected"), [(0.05, 100, 5), (0.07, 100, 7), (0.051, 100, 6), (0.01, 50, 1), (1.0, 30, 30)])
def test_top_fraction_region_size_is_ceil_of_fraction_times_pixels(fraction: float, n_pixels: int, expected: int) -> None:
    cam = np.random.default_rng(0).random(n_pixels).reshape(-1, 5)
    region = top_fraction_region(cam, fraction)
    assert region.dtype == bool and region.shape == cam.shape
    assert region.sum() == expected == math.ceil(round(fraction * n_pixels, 9))
    if expected < n_pixels:  # they are the highest values
        assert cam[region].min() > cam[~region].max()


def test_top_fraction_region_ties_are_stable() -> None:
    cam = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]])
    region = top_fraction_region(cam, 0.5)  # 3 pixels of four tied 3.0 values
    assert region.tolist() == [[False, True, True], [True, False, False]]


def test_top_fraction_iou_on_hand_made_cases() -> None:
    cam = np.zeros((10, 10))
    cam[0, :4] = [4.0, 3.0, 2.0, 1.0]  # top 4 % = row 0, columns 0-3
    mask_same = square_mask((10, 10), 0, 1, 0, 4)
    assert top_fraction_iou(cam, mask_same, 0.04) == 1.0
    mask_half = square_mask((10, 10), 0, 1, 2, 6)  # overlaps columns 2-3: 2 / 6
    assert top_fraction_iou(cam, mask_half, 0.04) == pytest.approx(2 / 6)
    assert top_fraction_iou(cam, square_mask((10, 10), 5, 7, 5, 7), 0.04) == 0.0
    # Top 2 % = columns 0-1: inside a 4-pixel mask -> 2 / 4.
    assert top_fraction_iou(cam, mask_same, 0.02) == pytest.approx(0.5)


def test_alignment_scores_counts_skips_empty_masks_and_gives_cis() -> None:
    shape = (10, 10)
    mask = square_mask(shape, 2, 4, 2, 4)
    cams, masks = [], []
    for i in range(5):  # 3 hits, 2 misses
        cams.append(peak_map(shape, 2, 2) + 0.01 * np.arange(100).reshape(shape) / 100 if i < 3 else peak_map(shape, 8, 8))
        masks.append(mask)
    cams.append(peak_map(shape, 2, 2))
    masks.append(np.zeros(shape, dtype=bool))  # skipped
    result = alignment_scores(np.stack(cams), np.stack(masks), fraction=0.04, tolerance_px=0)
    assert result["n"] == 5 and result["pointing_hits"] == 3
    assert result["per_slice_hit"] == [True, True, True, False, False]
    assert result["slice_index"] == [0, 1, 2, 3, 4]
    game = result["pointing_game"]
    assert game.value == pytest.approx(0.6) and game.method == "Wilson" and game.n == 5
    assert 0.0 < game.ci_low < 0.6 < game.ci_high < 1.0
    assert game.ci_low == pytest.approx(0.2307, abs=1e-3) and game.ci_high == pytest.approx(0.8824, abs=1e-3)
    ious = result["per_slice_iou"]
    # Hits: the peak plus the three largest ramp pixels (row 9) against a 4-pixel mask -> 1 / 7;
    # misses: the far peak plus tied zeros at (0, 0)-(0, 2) -> 0.
    assert ious == pytest.approx([1 / 7, 1 / 7, 1 / 7, 0.0, 0.0])
    iou = result["top_fraction_iou"]
    assert iou.value == pytest.approx(np.mean(ious)) and iou.n == 5
    assert min(ious) <= iou.ci_low <= iou.value <= iou.ci_high <= max(ious)
    assert "2000 resamples" in iou.method
    # Deterministic (bootstrap seed 0).
    again = alignment_scores(np.stack(cams), np.stack(masks), fraction=0.04)
    assert again["top_fraction_iou"] == iou
    # A tolerance turns near misses into hits.
    # (8, 8) is sqrt(50) = 7.07 px from the mask's corner (3, 3).
    assert alignment_scores(np.stack(cams), np.stack(masks), fraction=0.04, tolerance_px=7)["pointing_hits"] == 3
    assert alignment_scores(np.stack(cams), np.stack(masks), fraction=0.04, tolerance_px=8)["pointing_hits"] == 5


def test_alignment_scores_without_any_mask() -> None:
    result = alignment_scores(np.ones((2, 4, 4)), np.zeros((2, 4, 4), dtype=bool), fraction=0.1)
    assert result["n"] == 0 and result["pointing_hits"] == 0 and result["per_slice_hit"] == []
    assert math.isnan(result["pointing_game"].value) and result["pointing_game"].ci is None
    assert math.isnan(result["top_fraction_iou"].value) and result["top_fraction_iou"].ci is None
