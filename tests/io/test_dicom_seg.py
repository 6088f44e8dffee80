"""DICOM SEG output: round trip in slice order, references, segment codes and clear errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip("highdicom")

from cardiolens.data.cine import CineCMR
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import (
    CorruptFileError,
    InconsistentGeometryError,
    MissingDataError,
    MixedSeriesError,
    UsageError,
)
from cardiolens.io.dicom_read import read_dicom_series
from cardiolens.io.dicom_seg import (
    LGE_SEGMENTS,
    read_dicom_seg_labels,
    read_source_datasets,
    segment_codes,
    write_dicom_seg,
)
from cardiolens.io.dicom_write import write_cine_dicom, write_volume_dicom

N_Z, N_Y, N_X = 4, 32, 32
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _volume(flipped: bool = False) -> CMRVolume:
    spacing = (8.0, 1.5, 1.5)
    affine = np.diag([1.5, 1.5, 8.0, 1.0])
    affine[:3, 3] = [-20.0, 10.0, 30.0]
    if flipped:  # slice axis against row x column: the reader sorts the files in reverse
        affine[:3, 2] *= -1
    image = np.random.default_rng(1).integers(0, 3000, size=(N_Z, N_Y, N_X)).astype(np.float64)
    return CMRVolume(image, "lge", spacing, affine=affine, subject_id="P001")


def _mask() -> np.ndarray:
    """All four LGE labels, a different pattern on every slice, and one empty slice."""
    mask = np.random.default_rng(7).integers(0, 5, size=(N_Z, N_Y, N_X)).astype(np.uint8)
    mask[2] = 0  # frames of an empty slice are omitted from the SEG and must read back as 0
    return mask


def _series(tmp_path: Path, *, enhanced: bool = False, flipped: bool = False) -> Path:
    return write_volume_dicom(_volume(flipped), tmp_path / "series", enhanced=enhanced)


def _write(tmp_path: Path, sources: list[pydicom.Dataset], mask: np.ndarray, name: str = "seg.dcm") -> Path:
    return write_dicom_seg(
        mask, sources, tmp_path / "out" / name, LGE_SEGMENTS, algorithm_name="lge-unet3d", algorithm_version="1.2"
    )


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
@pytest.mark.parametrize("flipped", [False, True], ids=["right-handed", "left-handed"])
def test_round_trip_keeps_every_slice_in_read_dicom_series_order(tmp_path: Path, enhanced: bool, flipped: bool) -> None:
    folder = _series(tmp_path, enhanced=enhanced, flipped=flipped)
    volume = read_dicom_series(folder, modality="lge")
    sources = read_source_datasets(folder, n_slices=volume.image.shape[0])
    mask = _mask()
    path = _write(tmp_path, sources, mask)

    back = read_dicom_seg_labels(path, sources)
    assert back.shape == mask.shape and back.dtype == np.uint8
    for z in range(N_Z):
        np.testing.assert_array_equal(back[z], mask[z], err_msg=f"slice {z}")
    np.testing.assert_array_equal(read_dicom_seg_labels(path, folder), mask)  # sources given as a folder


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
@pytest.mark.parametrize("flipped", [False, True], ids=["right-handed", "left-handed"])
def test_seg_frames_lie_on_their_slice_in_mm(tmp_path: Path, enhanced: bool, flipped: bool) -> None:
    """Checked without our reader: each SEG frame's position maps back to the mask slice it came from."""
    folder = _series(tmp_path, enhanced=enhanced, flipped=flipped)
    volume = read_dicom_series(folder, modality="lge")
    mask = _mask()
    seg = pydicom.dcmread(_write(tmp_path, read_source_datasets(folder), mask))
    frames = seg.pixel_array.reshape(-1, N_Y, N_X)
    assert len(frames) == 3 * 4  # 3 non-empty slices x 4 segments; the empty slice is omitted
    ras_to_voxel = np.linalg.inv(volume.affine)
    seen = set()
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        lps = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        voxel = ras_to_voxel @ [-lps[0], -lps[1], lps[2], 1.0]
        z = round(float(voxel[2]))
        np.testing.assert_allclose(voxel[:3], [0, 0, z], atol=1e-3)
        segment = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        np.testing.assert_array_equal(frame, mask[z] == segment, err_msg=f"slice {z} segment {segment}")
        seen.add((z, segment))
    assert seen == {(z, s) for z in (0, 1, 3) for s in (1, 2, 3, 4)}


def test_classic_sources_come_in_the_volume_slice_order(tmp_path: Path) -> None:
    folder = _series(tmp_path, flipped=True)  # files IM_00001.. run against the reading order
    volume = read_dicom_series(folder, modality="lge")
    sources = read_source_datasets(folder)
    assert len(sources) == N_Z
    for z, ds in enumerate(sources):
        full = pydicom.dcmread(ds.filename)
        pixels = full.pixel_array * float(full.RescaleSlope) + float(full.RescaleIntercept)
        np.testing.assert_allclose(pixels, volume.image[z], err_msg=f"slice {z}")
    assert [Path(ds.filename).name for ds in sources] == [f"IM_{i:05d}.dcm" for i in range(N_Z, 0, -1)]


def test_source_order_passed_to_the_writer_does_not_matter(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    sources = read_source_datasets(folder)
    shuffled = sources[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != sources
    mask = _mask()
    path = _write(tmp_path, shuffled, mask)
    np.testing.assert_array_equal(read_dicom_seg_labels(path, sources), mask)


def test_seg_references_sources_and_describes_segments(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    sources = read_source_datasets(folder)
    path = _write(tmp_path, sources, _mask())
    seg = pydicom.dcmread(path)

    assert seg.SOPClassUID == SEG_STORAGE and seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    (series,) = seg.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == sources[0].SeriesInstanceUID
    referenced = {item.ReferencedSOPInstanceUID for item in series.ReferencedInstanceSequence}
    assert referenced == {ds.SOPInstanceUID for ds in sources}

    described = {item.SegmentNumber: item for item in seg.SegmentSequence}
    assert {n: str(item.SegmentLabel) for n, item in described.items()} == LGE_SEGMENTS
    for item in described.values():
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentAlgorithmName == "lge-unet3d"
        assert item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion == "1.2"
    types = {n: (item.SegmentedPropertyTypeCodeSequence[0].CodeValue) for n, item in described.items()}
    assert types == {1: "87612001", 2: "49848007", 3: "22298006", 4: "26036001"}
    assert described[3].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"


def test_absent_labels_keep_their_segments(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    sources = read_source_datasets(folder)
    mask = np.zeros((N_Z, N_Y, N_X), np.uint8)
    mask[1, 4:20, 4:20] = 2  # myocardium only: no cavity, infarct or MVO
    path = _write(tmp_path, sources, mask)
    assert len(pydicom.dcmread(path).SegmentSequence) == 4
    np.testing.assert_array_equal(read_dicom_seg_labels(path, sources), mask)


def test_segments_map_back_to_label_values_by_name(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    sources = read_source_datasets(folder)
    mask = np.zeros((N_Z, N_Y, N_X), np.int16)
    mask[0, :5] = 3
    mask[3, 10:] = 4
    scar_only = {3: "Infarct", 4: "MVO"}
    path = write_dicom_seg(mask, sources, tmp_path / "scar.dcm", scar_only, algorithm_name="a", algorithm_version="0")
    assert [item.SegmentNumber for item in pydicom.dcmread(path).SegmentSequence] == [1, 2]
    np.testing.assert_array_equal(read_dicom_seg_labels(path, sources, segments=scar_only), mask)
    np.testing.assert_array_equal(read_dicom_seg_labels(path, sources), np.where(mask > 0, mask - 2, 0))
    with pytest.raises(MissingDataError, match="Infarct"):
        read_dicom_seg_labels(path, sources, segments={4: "MVO"})


def test_rewriting_the_same_mask_gives_the_same_uids(tmp_path: Path) -> None:
    sources = read_source_datasets(_series(tmp_path))
    mask = _mask()
    first = pydicom.dcmread(_write(tmp_path, sources, mask, "a.dcm"))
    again = pydicom.dcmread(_write(tmp_path, sources, mask, "b.dcm"))
    other = pydicom.dcmread(_write(tmp_path, sources, np.roll(mask, 1, axis=1), "c.dcm"))
    assert first.SOPInstanceUID == again.SOPInstanceUID != other.SOPInstanceUID
    assert first.SeriesInstanceUID == other.SeriesInstanceUID


def test_wrong_mask_shape_raises_naming_the_output(tmp_path: Path) -> None:
    sources = read_source_datasets(_series(tmp_path))
    target = tmp_path / "out" / "seg.dcm"
    for shape in [(N_Z - 1, N_Y, N_X), (N_Z, N_Y, N_X + 1)]:
        with pytest.raises(InconsistentGeometryError, match=r"seg\.dcm.*does not match") as info:
            write_dicom_seg(np.zeros(shape, np.uint8), sources, target, algorithm_name="a", algorithm_version="0")
        assert info.value.path == str(target)
    assert not target.exists()


def test_bad_masks_are_refused(tmp_path: Path) -> None:
    sources = read_source_datasets(_series(tmp_path))
    mask = _mask()
    mask[0, 0, 0] = 7
    with pytest.raises(UsageError, match=r"values \[7\]"):
        write_dicom_seg(mask, sources, tmp_path / "s.dcm", algorithm_name="a", algorithm_version="0")
    with pytest.raises(UsageError, match="non-integer"):
        write_dicom_seg(_mask() + 0.5, sources, tmp_path / "s.dcm", algorithm_name="a", algorithm_version="0")
    assert not (tmp_path / "s.dcm").exists()


def test_seg_read_against_another_series_raises(tmp_path: Path) -> None:
    sources = read_source_datasets(_series(tmp_path))
    path = _write(tmp_path, sources, _mask())
    other = CMRVolume(_volume().image, "lge", (8.0, 1.5, 1.5), subject_id="P002")
    other_sources = read_source_datasets(write_volume_dicom(other, tmp_path / "other"))
    with pytest.raises(InconsistentGeometryError, match="does not reference"):
        read_dicom_seg_labels(path, other_sources)


def test_source_folder_errors_name_the_problem(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    with pytest.raises(InconsistentGeometryError, match="expected 5"):
        read_source_datasets(folder, n_slices=5)

    _write(tmp_path, read_source_datasets(folder), _mask())
    (tmp_path / "out" / "seg.dcm").rename(folder / "seg.dcm")  # an earlier SEG beside its series is skipped
    assert len(read_source_datasets(folder)) == N_Z

    bad = folder / "IM_00002.dcm"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="IM_00002"):
        read_source_datasets(folder)


def test_cine_series_is_refused(tmp_path: Path) -> None:
    cine = CineCMR(np.ones((2, 2, 8, 8)), (8.0, 1.5, 1.5), trigger_times_ms=np.array([0.0, 40.0]), subject_id="C1")
    folder = write_cine_dicom(cine, tmp_path / "cine")
    with pytest.raises(MixedSeriesError, match="single-phase"):
        read_source_datasets(folder)


def test_unreadable_seg_file_raises(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom file at all" * 10)
    with pytest.raises(CorruptFileError, match="junk.dcm"):
        read_dicom_seg_labels(junk, folder)
    # a DICOM image that is not a segmentation
    with pytest.raises(CorruptFileError, match="IM_00001"):
        read_dicom_seg_labels(folder / "IM_00001.dcm", folder)


def test_segment_codes_by_name() -> None:
    assert segment_codes("Normal myocardium")[1].value == "49848007"
    assert segment_codes("lv_cavity")[1].value == "87612001"
    assert segment_codes("Microvascular obstruction")[1].value == "26036001"
    assert segment_codes("Scar")[1].value == "12402003"
    category, kind, region = segment_codes("something else")
    assert category.value == kind.value == "85756007" and region is None
