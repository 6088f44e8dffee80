import numpy as np

from cardiolens.io.reorient import flip_slices, match_slice_order


def test_flip_keeps_every_voxel_at_the_same_position():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 4, 3, 5))  # t, z, y, x
    affine = np.array([[0, 1.5, 0, 10], [1.5, 0, 0, -4], [0, 0, -8, 30], [0, 0, 0, 1]], float)
    flipped, flipped_affine = flip_slices(image, affine)
    for z in range(4):
        original_mm = affine @ [1, 2, z, 1]
        new_z = 3 - z
        assert np.allclose(flipped_affine @ [1, 2, new_z, 1], original_mm)
        assert np.array_equal(flipped[:, new_z], image[:, z])


def test_match_only_flips_when_directions_oppose():
    image = np.arange(24.0).reshape(4, 2, 3)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    same, same_affine = match_slice_order(image, affine, affine)
    assert np.array_equal(same, image) and np.array_equal(same_affine, affine)
    reference = np.diag([1.0, 1.0, -2.0, 1.0])
    flipped, flipped_affine = match_slice_order(image, affine, reference)
    assert np.array_equal(flipped, image[::-1]) and flipped_affine[2, 2] == -2.0
