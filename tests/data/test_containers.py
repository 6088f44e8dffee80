import numpy as np
import pytest

from cardiolens.data import ECG12, STANDARD_LEADS, CineCMR, CMRVolume, EchoClip
from cardiolens.errors import (
    InconsistentGeometryError,
    LeadConfigurationError,
    MissingDataError,
    NonFiniteValueError,
    UnreadableVideoError,
)


def _cine(**kwargs):
    args = dict(image=np.zeros((4, 3, 8, 9), np.float32), spacing_mm=(10.0, 1.5, 1.5), source="c.nii.gz")
    args.update(kwargs)
    return CineCMR(**args)


def test_cine_geometry_defaults_and_units():
    cine = _cine(trigger_times_ms=[0, 200, 400, 600], es_index=2)
    assert cine.n_frames == 4 and cine.n_slices == 3
    assert cine.voxel_volume_ml == pytest.approx(10 * 1.5 * 1.5 / 1000)
    # default affine maps voxel (x, y, z) to mm with the spacing on the diagonal
    assert np.allclose(cine.affine @ [2, 3, 1, 1], [3.0, 4.5, 10.0, 1])
    assert cine.rr_interval_ms == pytest.approx(800)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"image": np.zeros((3, 8, 9))}, InconsistentGeometryError, "4-D"),
        ({"image": np.full((2, 1, 2, 2), np.nan)}, NonFiniteValueError, "NaN"),
        ({"spacing_mm": (0.0, 1.0, 1.0)}, InconsistentGeometryError, "positive"),
        ({"trigger_times_ms": [0, 1, 2]}, MissingDataError, "3 trigger times for 4 frames"),
        ({"trigger_times_ms": [0, 2, 1, 3]}, InconsistentGeometryError, "not increasing"),
        ({"es_index": 4}, MissingDataError, "es_index"),
        ({"segmentations": {0: np.zeros((3, 8, 8))}}, InconsistentGeometryError, "segmentation"),
    ],
)
def test_cine_rejects_bad_input_naming_the_source(kwargs, error, words):
    with pytest.raises(error) as info:
        _cine(**kwargs)
    assert "c.nii.gz" in str(info.value) and words in str(info.value)


def test_volume_units_and_label_shape():
    vol = CMRVolume(np.ones((2, 4, 4)), "t1", (8.0, 1.0, 1.0))
    assert vol.unit == "ms" and vol.voxel_volume_ml == pytest.approx(0.008)
    with pytest.raises(InconsistentGeometryError, match="labels shape"):
        CMRVolume(np.ones((2, 4, 4)), "lge", labels=np.zeros((2, 4, 5)), source="x")
    with pytest.raises(InconsistentGeometryError, match="unknown modality"):
        CMRVolume(np.ones((2, 4, 4)), "pet")  # type: ignore[arg-type]


def test_ecg_from_leads_reorders_and_normalises_names():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(50, 12))
    shuffled = list(reversed(STANDARD_LEADS))
    names = [n.upper() for n in shuffled]  # 'AVL' spelling
    ecg = ECG12.from_leads(signal, names, fs_hz=500)
    assert ecg.lead_names == STANDARD_LEADS
    assert np.allclose(ecg.lead("aVL"), signal[:, shuffled.index("aVL")])
    assert ecg.duration_s == pytest.approx(0.1)


def test_ecg_rejects_wrong_lead_count_and_missing_leads():
    with pytest.raises(LeadConfigurationError, match="expected 12 leads, got 8"):
        ECG12(np.zeros((10, 8)), 500, source="r.hea")
    with pytest.raises(LeadConfigurationError, match="missing lead"):
        ECG12.from_leads(np.zeros((10, 12)), [*STANDARD_LEADS[:11], "X"], 500, source="r.hea")
    with pytest.raises(LeadConfigurationError, match="sampling frequency"):
        ECG12(np.zeros((10, 12)), 0, source="r.hea")


def test_echo_clip_checks():
    clip = EchoClip(np.zeros((10, 4, 4), np.uint8), fps=50, pixel_spacing_mm=(0.5, 0.5), view="A4C")
    assert clip.duration_s == pytest.approx(0.2)
    with pytest.raises(UnreadableVideoError, match="v.avi"):
        EchoClip(np.zeros((1, 4, 4)), fps=50, source="v.avi")


def test_sex_code_spellings_and_unknown():
    from cardiolens.data.labels import sex_code
    from cardiolens.errors import UsageError

    assert [sex_code(s) for s in ("m", "Male", " F ", "woman")] == ["M", "M", "F", "F"]
    assert [sex_code(s) for s in (None, float("nan"), "", "unknown")] == [None] * 4
    with pytest.raises(UsageError, match="sex"):
        sex_code("x")
