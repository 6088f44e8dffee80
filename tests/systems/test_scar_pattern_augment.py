"""scar-pattern augmentation: rotation angles within +-range and covering it, left-right flips at flip_prob, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolens.errors import UsageError
from cardiolens.systems.scar_pattern.augment import (
    augmentation_description,
    training_augmentation,
)

SIZE = 41  # odd: the rotation centre is the centre pixel
CENTRE = SIZE // 2


def ray_image() -> np.ndarray:
    """A bright ray from the centre towards the right edge (angle 0), as (1, H, W)."""
    image = np.zeros((1, SIZE, SIZE), np.float32)
    image[0, CENTRE, CENTRE + 4 : SIZE - 2] = 1.0
    return image


def ray_angle_deg(image: np.ndarray) -> float:
    """Direction of the ray's intensity centroid about the centre, degrees in (-180, 180]."""
    y, x = np.mgrid[:SIZE, :SIZE]
    w = np.clip(image[0], 0, None)
    cy, cx = (w * y).sum() / w.sum() - CENTRE, (w * x).sum() / w.sum() - CENTRE
    return float(np.degrees(np.arctan2(cy, cx)))


@pytest.mark.parametrize("rotation_deg", [20, 60, 180])
def test_rotation_angles_stay_within_and_cover_the_range(rotation_deg):
    augment = training_augmentation(rotation_deg, flip_prob=0.0)
    augment.set_random_state(seed=rotation_deg)
    image = ray_image()
    angles = np.array([ray_angle_deg(augment(image)) for _ in range(150)])
    assert np.all(np.abs(angles) <= rotation_deg + 1.5)  # never beyond the range (1.5 deg: pixel rounding)
    if rotation_deg < 180:
        assert angles.min() < -0.8 * rotation_deg and angles.max() > 0.8 * rotation_deg  # both directions, near the ends
        assert np.mean(np.abs(angles) > rotation_deg / 2) == pytest.approx(0.5, abs=0.15)  # uniform, not bunched at 0
    else:
        counts, _ = np.histogram(angles, bins=4, range=(-180, 180))
        assert counts.min() >= 20  # all four quadrants of the full turn


def test_no_rotation_and_no_flip_leave_the_image_unchanged():
    augment = training_augmentation(0, flip_prob=0.0)
    augment.set_random_state(seed=0)
    image = np.random.default_rng(0).normal(size=(2, 24, 24)).astype(np.float32)
    for _ in range(20):
        out = augment(image)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        assert np.array_equal(out, image)


@pytest.mark.parametrize("flip_prob", [0.5, 0.2])
def test_flip_is_left_right_at_the_given_probability(flip_prob):
    augment = training_augmentation(0, flip_prob=flip_prob)
    augment.set_random_state(seed=3)
    image = np.arange(2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8)
    flipped = 0
    for _ in range(400):
        out = augment(image)
        if np.array_equal(out, image[:, :, ::-1]):  # left-right: the last axis reversed, every channel alike
            flipped += 1
        else:
            assert np.array_equal(out, image)
    sd = np.sqrt(400 * flip_prob * (1 - flip_prob))
    assert abs(flipped - 400 * flip_prob) < 4 * sd


def test_same_seed_same_draws_and_shape_kept():
    image = np.random.default_rng(1).normal(size=(3, 32, 32)).astype(np.float32)
    first, second, other = (training_augmentation(40, 0.5) for _ in range(3))
    first.set_random_state(seed=7)
    second.set_random_state(seed=7)
    other.set_random_state(seed=8)
    a = [first(image) for _ in range(5)]
    b = [second(image) for _ in range(5)]
    c = [other(image) for _ in range(5)]
    assert all(x.shape == image.shape for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_bad_settings_and_description():
    with pytest.raises(UsageError, match="rotation_deg"):
        training_augmentation(-5, 0.5)
    with pytest.raises(UsageError, match="flip_prob"):
        training_augmentation(20, 1.5)
    text = augmentation_description(40, 0.5)
    assert "±40°" in text and "0.5" in text
    assert augmentation_description(0, 0.0).startswith("no rotation; no flip")
