import gzip

import numpy as np
import pytest

from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    InconsistentGeometryError,
    MissingDataError,
)
from cardiolens.io.atomic import atomic_dir, atomic_path
from cardiolens.io.nifti import read_nifti, write_nifti


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "series"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new").write_text("new")
            raise RuntimeError
    assert [p.name for p in target.iterdir()] == ["old"]
    with atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["series"]


def test_nifti_round_trip_keeps_axis_order_spacing_and_time(tmp_path):
    rng = np.random.default_rng(0)
    cine = rng.normal(size=(5, 3, 7, 9)).astype(np.float32)  # t, z, y, x
    path = write_nifti(tmp_path / "c.nii.gz", cine, (8.0, 1.25, 1.5), frame_time_ms=35.0)
    back = read_nifti(path)
    assert back.array.shape == (5, 3, 7, 9)
    assert np.array_equal(back.array, cine)
    assert back.spacing_mm == (8.0, 1.25, 1.5)
    # voxel (x=1, y=2, z=1) sits at 1.5, 2.5, 8 mm under the default affine
    assert np.allclose(back.affine @ [1, 2, 1, 1], [1.5, 2.5, 8.0, 1])


def test_nifti_bad_inputs_name_the_file(tmp_path):
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.nii.gz"):
        read_nifti(empty)
    with pytest.raises(MissingDataError, match="nope.nii"):
        read_nifti(tmp_path / "nope.nii")
    good = write_nifti(tmp_path / "g.nii.gz", np.ones((2, 3, 4), np.float32), (1, 1, 1))
    truncated = tmp_path / "trunc.nii.gz"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(CorruptFileError, match="trunc.nii.gz"):
        read_nifti(truncated)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(gzip.compress(b"not a nifti header" * 3))
    with pytest.raises(CorruptFileError, match="garbage.nii.gz"):
        read_nifti(garbage)
    with pytest.raises(InconsistentGeometryError):
        write_nifti(tmp_path / "x.nii.gz", np.ones((2, 2)), (1, 1, 1))


def test_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "y").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
