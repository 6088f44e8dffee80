"""DICOM MR series: write/read round trips (classic and enhanced) and one test per bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage
from scipy.spatial.transform import Rotation

from cardiolens.data import CineCMR, CMRVolume
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    InconsistentGeometryError,
    MissingDataError,
    MixedSeriesError,
    UsageError,
)
from cardiolens.io import dicom_write
from cardiolens.io.dicom_read import infer_modality, read_dicom_series
from cardiolens.io.dicom_write import (
    quantise_uint16,
    write_cine_dicom,
    write_volume_dicom,
)

TRIGGERS_MS = np.array([0.0, 37.5, 75.0, 112.5])


def _affine(spacing_zyx: tuple[float, float, float], oblique: bool) -> np.ndarray:
    z, y, x = spacing_zyx
    rotation = Rotation.from_euler("xyz", [25, -40, 65], degrees=True).as_matrix() if oblique else np.eye(3)
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([x, y, z])
    affine[:3, 3] = [12.5, -40.0, 33.0]
    return affine


def _cine(oblique: bool = False, **metadata: object) -> CineCMR:
    rng = np.random.default_rng(1)
    spacing = (8.0, 1.4, 1.25)
    return CineCMR(
        image=rng.normal(300.0, 80.0, size=(4, 3, 16, 20)).astype(np.float32),
        spacing_mm=spacing,
        affine=_affine(spacing, oblique),
        trigger_times_ms=TRIGGERS_MS,
        slice_thickness_mm=7.0,
        subject_id="P001",
        metadata=dict(metadata),
    )


def _lge(n_slices: int = 5, oblique: bool = False) -> CMRVolume:
    rng = np.random.default_rng(2)
    spacing = (10.0, 1.5, 1.5)
    return CMRVolume(
        image=rng.integers(0, 4000, size=(n_slices, 16, 20)).astype(np.float64),
        modality="lge",
        spacing_mm=spacing,
        affine=_affine(spacing, oblique),
        subject_id="P001",
    )


def _step(image: np.ndarray) -> float:
    """The quantisation step the writer uses for ``image``."""
    return quantise_uint16(image)[1]


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def _edit(path: Path, **tags: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
@pytest.mark.parametrize("oblique", [False, True], ids=["axial", "oblique"])
def test_cine_round_trip(tmp_path: Path, enhanced: bool, oblique: bool) -> None:
    cine = _cine(oblique)
    folder = write_cine_dicom(cine, tmp_path / "cine", enhanced=enhanced)
    back = read_dicom_series(folder)

    assert isinstance(back, CineCMR)
    assert back.image.dtype == np.float32
    assert back.image.shape == cine.image.shape
    # Documented tolerance: half a quantisation step (plus float32 rounding of the output).
    assert np.max(np.abs(back.image - cine.image)) <= _step(cine.image) / 2 + 1e-4
    np.testing.assert_allclose(back.spacing_mm, cine.spacing_mm, atol=1e-6)
    np.testing.assert_allclose(back.affine, cine.affine, atol=1e-6)
    np.testing.assert_allclose(back.trigger_times_ms, TRIGGERS_MS)
    assert back.ed_index == 0
    assert back.slice_thickness_mm == pytest.approx(7.0)
    assert back.subject_id == "P001"
    assert back.metadata["series_description"] == "cine"
    assert len(list(folder.iterdir())) == (1 if enhanced else 12)


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
@pytest.mark.parametrize("oblique", [False, True], ids=["axial", "oblique"])
def test_lge_volume_round_trip_is_exact_for_integers(tmp_path: Path, enhanced: bool, oblique: bool) -> None:
    lge = _lge(oblique=oblique)
    back = read_dicom_series(write_volume_dicom(lge, tmp_path / "lge", enhanced=enhanced))

    assert isinstance(back, CMRVolume)
    assert back.modality == "lge"  # inferred from the written SeriesDescription "LGE"
    np.testing.assert_array_equal(back.image, lge.image)
    np.testing.assert_allclose(back.spacing_mm, lge.spacing_mm, atol=1e-6)
    np.testing.assert_allclose(back.affine, lge.affine, atol=1e-6)
    assert back.metadata["slice_thickness_mm"] == pytest.approx(10.0)


def test_float_map_round_trip_within_one_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    t1 = CMRVolume(rng.uniform(-50.5, 1999.3, size=(3, 8, 9)), "t1", (8.0, 2.0, 2.0), subject_id="M1")
    back = read_dicom_series(write_volume_dicom(t1, tmp_path / "t1", enhanced=True))
    assert back.modality == "t1"
    step = _step(t1.image)
    assert step == pytest.approx((1999.3 - 50.5 * -1) / 65534, rel=0.01)
    assert np.max(np.abs(back.image - t1.image)) <= step / 2 + 1e-3


def test_explicit_modality_overrides_description(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "v", series_description="something else")
    assert read_dicom_series(folder).modality == "other"
    assert read_dicom_series(folder, modality="ecv").modality == "ecv"
    with pytest.raises(UsageError, match="unknown modality 'pet'"):
        read_dicom_series(folder, modality="pet")


def test_shuffled_file_names_still_sort(tmp_path: Path) -> None:
    cine = _cine(oblique=True)
    folder = write_cine_dicom(cine, tmp_path / "cine")
    rng = np.random.default_rng(7)
    files = _files(folder)
    # Scanner-style names: UIDs and bare numbers, in an order unrelated to position or time.
    names = [f"1.3.12.2.{n}" if i % 2 else f"{n:08d}" for i, n in enumerate(rng.permutation(len(files)) + 100)]
    for path, name in zip(files, names):
        path.rename(folder / name)
    back = read_dicom_series(folder)
    assert np.max(np.abs(back.image - cine.image)) <= _step(cine.image) / 2 + 1e-4
    np.testing.assert_allclose(back.trigger_times_ms, TRIGGERS_MS)
    np.testing.assert_allclose(back.affine, cine.affine, atol=1e-6)


def test_left_handed_affine_comes_back_sorted_along_the_normal(tmp_path: Path) -> None:
    lge = _lge()
    flipped = lge.affine.copy()
    flipped[:3, 2] *= -1  # slice axis against row x column: readers sort the other way
    lge = CMRVolume(lge.image, "lge", lge.spacing_mm, affine=flipped, subject_id="P001")
    back = read_dicom_series(write_volume_dicom(lge, tmp_path / "lge"))
    np.testing.assert_array_equal(back.image, lge.image[::-1])
    n = lge.image.shape[0]
    for z in range(n):  # each slice keeps its position in mm
        np.testing.assert_allclose(back.affine @ [3, 5, z, 1], lge.affine @ [3, 5, n - 1 - z, 1], atol=1e-6)


def test_files_are_valid_dicom(tmp_path: Path) -> None:
    classic = write_cine_dicom(_cine(), tmp_path / "classic")
    enhanced = write_cine_dicom(_cine(), tmp_path / "enhanced", enhanced=True)
    ds = pydicom.dcmread(_files(classic)[0])  # no force: preamble and file meta present
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == MRImageStorage == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
    assert ds.TriggerTime == 0.0 and ds.SpacingBetweenSlices == 8.0
    multi = pydicom.dcmread(_files(enhanced)[0])
    assert multi.SOPClassUID == EnhancedMRImageStorage
    assert multi.NumberOfFrames == 12
    assert len(multi.PerFrameFunctionalGroupsSequence) == 12
    assert multi.pixel_array.shape == (12, 16, 20)


def test_rewriting_gives_the_same_uids(tmp_path: Path) -> None:
    def uids(folder: Path) -> list[tuple[str, str, str]]:
        return [
            (str(d.StudyInstanceUID), str(d.SeriesInstanceUID), str(d.SOPInstanceUID))
            for d in (pydicom.dcmread(p, stop_before_pixels=True) for p in _files(folder))
        ]

    first = uids(write_cine_dicom(_cine(), tmp_path / "a"))
    second = uids(write_cine_dicom(_cine(), tmp_path / "b"))
    assert first == second
    assert len({u[2] for u in first}) == 12  # every instance has its own UID
    other = uids(write_cine_dicom(_cine(), tmp_path / "c", patient_id="P002"))
    assert {u[1] for u in other}.isdisjoint({u[1] for u in first})


def test_simulated_data_is_labelled(tmp_path: Path) -> None:
    folder = write_cine_dicom(_cine(simulated=True), tmp_path / "sim")
    ds = pydicom.dcmread(_files(folder)[0])
    assert str(ds.PatientName).startswith("SIMULATED")
    assert "SIMULATED" in ds.SeriesDescription.upper()
    assert read_dicom_series(folder).metadata["simulated"] is True
    plain = pydicom.dcmread(_files(write_cine_dicom(_cine(), tmp_path / "real"))[0])
    assert "SIMULATED" not in str(plain.PatientName).upper()


def test_unknown_spacing_survives_round_trip(tmp_path: Path) -> None:
    cine = _cine()
    cine.spacing_known = False
    assert read_dicom_series(write_cine_dicom(cine, tmp_path / "c")).spacing_known is False
    assert read_dicom_series(write_cine_dicom(_cine(), tmp_path / "d")).spacing_known is True


def test_non_dicom_files_are_skipped(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    (folder / "notes.txt").write_text("scanner notes")
    (folder / "meta.json").write_text("{}")
    (folder / "lge.nii.gz").write_bytes(b"\x1f\x8b not really")
    (folder / ".DS_Store").write_bytes(b"junk")
    assert read_dicom_series(folder).image.shape == (5, 16, 20)


def test_series_uid_picks_one_series(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, vol in (("lge", _lge()), ("t1", CMRVolume(_lge().image + 1, "t1", (10.0, 1.5, 1.5), subject_id="P001"))):
        for p in _files(write_volume_dicom(vol, tmp_path / name)):
            p.rename(mixed / f"{name}_{p.name}")
    uid = str(pydicom.dcmread(next(mixed.glob("t1_*")), stop_before_pixels=True).SeriesInstanceUID)
    back = read_dicom_series(mixed, series_uid=uid)
    assert back.modality == "t1"
    np.testing.assert_array_equal(back.image, _lge().image + 1)
    with pytest.raises(MissingDataError, match="no series"):
        read_dicom_series(mixed, series_uid="1.2.3")


def test_infer_modality() -> None:
    cases = {
        "LGE_SAX": "lge",
        "PSIR short axis": "lge",
        "DE 10 min": "lge",
        "delayed enhancement": "lge",
        "T1 map MOCO": "t1",
        "MOLLI 5(3)3": "t1",
        "T2_map_sax": "t2",
        "ECV map": "ecv",
        "localiser": "other",
        "description": "other",  # "DE" only as a whole word
    }
    assert {text: infer_modality(text) for text in cases} == cases


def test_quantise_integer_data_is_exact_and_floats_within_half_step() -> None:
    ints = np.array([[-1024.0, 0.0, 3071.0]])
    stored, slope, intercept = quantise_uint16(ints)
    assert (slope, intercept) == (1.0, -1024.0)
    np.testing.assert_array_equal(stored * slope + intercept, ints)
    floats = np.linspace(-3.3, 7.7, 1001)
    stored, slope, intercept = quantise_uint16(floats)
    assert stored.dtype == np.uint16 and stored.max() <= 65535
    assert np.max(np.abs(stored * slope + intercept - floats)) <= slope / 2 + 1e-12
    constant = np.full((2, 2), 4.25)
    stored, slope, intercept = quantise_uint16(constant)
    np.testing.assert_allclose(stored * slope + intercept, constant)


def test_failed_write_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_save = dicom_write._save

    def failing_save(ds: pydicom.Dataset, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        real_save(ds, path)

    monkeypatch.setattr(dicom_write, "_save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_cine_dicom(_cine(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_to_replace_a_folder_with_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.docx").write_text("do not delete")
    with pytest.raises(UsageError, match="precious"):
        write_cine_dicom(_cine(), folder)
    assert (folder / "thesis.docx").exists()
    # an earlier DICOM output is replaced, not merged
    out = write_cine_dicom(_cine(), tmp_path / "out")
    write_volume_dicom(_lge(), out)
    assert isinstance(read_dicom_series(out), CMRVolume)


# --------------------------------------------------------------------------- bad inputs


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    mixed = tmp_path / "two_series"
    mixed.mkdir()
    for name, description in (("a", "LGE"), ("b", "PSIR")):
        for p in _files(write_volume_dicom(_lge(), tmp_path / name, series_description=description)):
            p.rename(mixed / f"{name}_{p.name}")
    with pytest.raises(MixedSeriesError) as info:
        read_dicom_series(mixed)
    message = str(info.value)
    assert "two_series" in message and "2 series" in message
    assert "'LGE', 5 file(s)" in message and "'PSIR', 5 file(s)" in message


def test_mixed_orientations(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    odd = _files(folder)[2]
    _edit(odd, ImageOrientationPatient=[1, 0, 0, 0, 0, -1])  # a coronal image in an axial stack
    with pytest.raises(MixedSeriesError, match="mixed orientations") as info:
        read_dicom_series(folder)
    assert odd.name in str(info.value) and "lge" in str(info.value)


def test_missing_frame(tmp_path: Path) -> None:
    folder = write_cine_dicom(_cine(), tmp_path / "cine_missing_frame")
    _files(folder)[6].unlink()  # slice 2 (files 5-8), frame 2
    with pytest.raises(MissingDataError, match="has 3 frame") as info:
        read_dicom_series(folder)
    assert "cine_missing_frame" in str(info.value) and "slice position" in str(info.value)


def test_missing_slice(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(n_slices=5), tmp_path / "lge_missing_slice")
    _files(folder)[2].unlink()
    with pytest.raises(MissingDataError, match="missing slice") as info:
        read_dicom_series(folder)
    assert "lge_missing_slice" in str(info.value)


def test_non_uniform_slice_spacing(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(n_slices=5), tmp_path / "lge_uneven")
    path = _files(folder)[3]
    position = [float(v) for v in pydicom.dcmread(path).ImagePositionPatient]
    _edit(path, ImagePositionPatient=[position[0], position[1], position[2] + 2.0])  # 10 -> 12 mm gap
    with pytest.raises(InconsistentGeometryError, match="non-uniform slice spacing") as info:
        read_dicom_series(folder)
    assert "lge_uneven" in str(info.value)


def test_inconsistent_pixel_spacing(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    odd = _files(folder)[1]
    _edit(odd, PixelSpacing=[1.7, 1.7])
    with pytest.raises(InconsistentGeometryError, match="pixel spacing differs") as info:
        read_dicom_series(folder)
    assert odd.name in str(info.value)


def test_inconsistent_matrix_size(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    odd = _files(folder)[4]
    ds = pydicom.dcmread(odd)
    ds.Rows, ds.Columns = 20, 16
    ds.save_as(odd, enforce_file_format=True)
    with pytest.raises(InconsistentGeometryError, match="matrix size differs") as info:
        read_dicom_series(folder)
    assert odd.name in str(info.value)


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
def test_truncated_file(tmp_path: Path, enhanced: bool) -> None:
    folder = write_cine_dicom(_cine(), tmp_path / "cine", enhanced=enhanced)
    victim = _files(folder)[-1]
    data = victim.read_bytes()
    victim.write_bytes(data[:-150])
    with pytest.raises(CorruptFileError, match="truncated pixel data") as info:
        read_dicom_series(folder)
    assert victim.name in str(info.value)


def test_file_cut_inside_the_header(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    victim = _files(folder)[0]
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(CorruptFileError) as info:
        read_dicom_series(folder)
    assert victim.name in str(info.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    (folder / "IM_99999.dcm").write_bytes(b"")
    with pytest.raises(EmptyFileError) as info:
        read_dicom_series(folder)
    assert "IM_99999.dcm" in str(info.value)


@pytest.mark.parametrize("name", ["garbage.dcm", "GARBAGE"])
def test_garbage_file_named_like_dicom(tmp_path: Path, name: str) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    (folder / name).write_bytes(os.urandom(64) + b"this is not a DICOM file" * 20)
    with pytest.raises(CorruptFileError, match="not a DICOM file") as info:
        read_dicom_series(folder)
    assert name in str(info.value)


def test_missing_geometry_tag(tmp_path: Path) -> None:
    folder = write_volume_dicom(_lge(), tmp_path / "lge")
    odd = _files(folder)[0]
    ds = pydicom.dcmread(odd)
    del ds.ImagePositionPatient
    ds.save_as(odd, enforce_file_format=True)
    with pytest.raises(MissingDataError, match="ImagePositionPatient") as info:
        read_dicom_series(folder)
    assert odd.name in str(info.value)


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(MissingDataError, match="no DICOM files") as info:
        read_dicom_series(tmp_path / "empty")
    assert "empty" in str(info.value)


# --------------------------------------------------------------------------- real data


@pytest.mark.real_data
def test_acdc_cine_through_dicom(shared_data: Path, tmp_path: Path) -> None:
    from cardiolens.io.nifti import read_nifti

    nii = read_nifti(shared_data / "acdc" / "patient001" / "patient001_4d.nii.gz", dtype=np.float32)
    cine = CineCMR(
        nii.array, nii.spacing_mm, affine=nii.affine, trigger_times_ms=np.arange(nii.array.shape[0]) * 30.0,
        subject_id="patient001",
    )
    back = read_dicom_series(write_cine_dicom(cine, tmp_path / "p001", enhanced=True))
    assert back.image.shape == cine.image.shape
    np.testing.assert_allclose(back.spacing_mm, (10.0, 1.5625, 1.5625))
    # Scanner integers: exact. This NIfTI grid is left-handed, so DICOM order is reversed.
    assert np.linalg.det(cine.affine[:3, :3]) < 0
    np.testing.assert_array_equal(back.image, cine.image[:, ::-1])
    n_z = cine.n_slices
    np.testing.assert_allclose(back.affine @ [10, 20, 0, 1], cine.affine @ [10, 20, n_z - 1, 1], atol=1e-4)
