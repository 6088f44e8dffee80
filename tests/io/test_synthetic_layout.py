"""Simulated cohort -> disk (NIfTI and DICOM) -> layout scan/load -> same arrays and geometry."""

import numpy as np
import pytest

from cardiolens.data import CINE_GROUPS
from cardiolens.errors import MalformedTableError
from cardiolens.io.layouts import detect_layout, scan
from cardiolens.io.layouts import synthetic as layout
from cardiolens.synth.cohort import simulate_cohort

N = 5


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(N, seed=7)


@pytest.fixture(scope="module", params=["nifti", "dicom"])
def written(cohort, tmp_path_factory, request):
    studies, manifest = cohort
    root = tmp_path_factory.mktemp(request.param) / "cohort"
    layout.write_cohort(studies, manifest, root, request.param)
    return request.param, root


def test_detected_and_labelled_simulated(written):
    _, root = written
    assert detect_layout(root) == "synthetic"
    scanned = scan(root)
    assert scanned.simulated and scanned.bad_cases == []
    assert scanned.class_counts() == {g: 1 for g in CINE_GROUPS}
    assert "SIMULATED" in (root / layout.NOTICE_FILE).read_text()


def test_round_trip_same_arrays_and_geometry(cohort, written):
    fmt, root = written
    studies, _ = cohort
    scanned = scan(root)
    for original in studies:
        back = layout.load(scanned[original.subject_id])
        span = float(np.ptp(original.cine.image))
        # NIfTI float32 is exact; DICOM stores 16-bit integers with a rescale slope
        tol = 0.0 if fmt == "nifti" else span / 65535 + 1e-6
        assert np.max(np.abs(back.cine.image - original.cine.image)) <= tol
        assert np.allclose(back.cine.spacing_mm, original.cine.spacing_mm, atol=1e-4)
        assert np.allclose(back.cine.affine, original.cine.affine, atol=1e-3)
        assert np.allclose(back.cine.trigger_times_ms, original.cine.trigger_times_ms, atol=1e-3)
        assert (back.cine.ed_index, back.cine.es_index) == (original.cine.ed_index, original.cine.es_index)
        for t, mask in original.cine.segmentations.items():
            assert np.array_equal(back.cine.segmentations[t], mask)
        lge_tol = 0.0 if fmt == "nifti" else float(np.ptp(original.lge.image)) / 65535 + 1e-6
        assert np.max(np.abs(back.lge.image - original.lge.image)) <= lge_tol
        assert np.array_equal(back.lge.labels, original.lge.labels)
        assert np.allclose(back.lge.spacing_mm, original.lge.spacing_mm, atol=1e-4)
        for kind in layout.MAP_KINDS:
            assert np.array_equal(back.maps[kind].image, original.maps[kind].image.astype(np.float32))
        assert np.array_equal(back.echo.frames, original.echo.frames)
        assert back.echo.fps == pytest.approx(original.echo.fps, rel=1e-3)
        # WFDB format 16 stores integers: error below half a quantisation step
        assert np.max(np.abs(back.ecg.signal_mv - original.ecg.signal_mv)) < 0.005
        assert back.ecg.fs_hz == original.ecg.fs_hz
        assert back.attributes["cine_group"] == original.attributes["cine_group"]


def test_scan_reports_missing_subject_and_continues(cohort, tmp_path):
    studies, manifest = cohort
    root = layout.write_cohort(studies[:2], manifest.iloc[:2], tmp_path / "c")
    (root / studies[1].subject_id / "subject.json").unlink()
    scanned = scan(root)
    assert scanned.subject_ids == [studies[0].subject_id]
    assert studies[1].subject_id in scanned.bad_cases[0].path


def test_malformed_manifest(cohort, tmp_path):
    studies, manifest = cohort
    root = layout.write_cohort(studies[:1], manifest.iloc[:1], tmp_path / "c")
    (root / layout.MANIFEST_FILE).write_text("id,group\nx,y\n")
    with pytest.raises(MalformedTableError, match="manifest.csv"):
        scan(root)


def test_failed_write_leaves_no_folder(cohort, tmp_path, monkeypatch):
    studies, manifest = cohort

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(layout, "write_text_atomic", fail)
    with pytest.raises(OSError):
        layout.write_cohort(studies[:1], manifest.iloc[:1], tmp_path / "c")
    assert list(tmp_path.iterdir()) == []
