"""scar-pattern slices: simulated maps and EMIDEC -> labelled, preprocessed, mask-aligned slices; bad input named."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from cardiolens.data.labels import SCAR_PATTERNS
from cardiolens.data.volume import CMRVolume
from cardiolens.errors import (
    CorruptFileError,
    MalformedTableError,
    MissingDataError,
    NonFiniteValueError,
    UsageError,
)
from cardiolens.io.nifti import read_nifti, write_nifti
from cardiolens.synth.maps_cohort import write_maps_cohort
from cardiolens.systems.scar_pattern.config import ScarPatternConfig
from cardiolens.systems.scar_pattern.data import (
    class_names_for,
    default_channels,
    load_slice_set,
    preprocess_mask,
    preprocess_stack,
    read_input_study,
)

SIZE = 48
ALL_MAPS = ("os_dsi", "t1", "t2")


def config(**values) -> ScarPatternConfig:
    return ScarPatternConfig(**{"image_size": SIZE, "crop_fraction": 0.8, **values})


@pytest.fixture(scope="module")
def maps_root(tmp_path_factory) -> Path:
    """8 simulated subjects (two per pattern), two slices each."""
    return write_maps_cohort(tmp_path_factory.mktemp("maps") / "cohort", n=8, seed=2, n_slices=2)


@pytest.fixture(scope="module")
def maps_set(maps_root):
    return load_slice_set(maps_root, config(channels=ALL_MAPS))


# --------------------------------------------------------------------------- simulated maps


def test_simulated_slice_set_shapes_labels_and_balance(maps_root, maps_set):
    slices, bad = maps_set
    assert bad == []
    assert slices.images.shape == (16, 3, SIZE, SIZE) and slices.images.dtype == np.float32
    assert slices.labels.dtype == np.int64 and slices.scar_masks.shape == (16, SIZE, SIZE)
    assert slices.class_names == SCAR_PATTERNS and slices.channels == ALL_MAPS
    assert slices.layout == "synthetic" and slices.simulated
    assert np.bincount(slices.labels, minlength=4).tolist() == [4, 4, 4, 4]  # 2 subjects x 2 slices per class
    assert slices.slice_index.tolist() == [0, 1] * 8
    assert slices.subjects == [f"SIM{i:04d}" for i in range(1, 9)]
    import pandas as pd

    manifest = pd.read_csv(maps_root / "manifest.csv").set_index("subject_id")
    for sid, case in slices.case_labels.items():
        assert SCAR_PATTERNS[case] == manifest.loc[sid, "scar_pattern"]
    for sid, label in zip(slices.subject_ids, slices.labels):
        assert label == slices.case_labels[sid]  # every slice carries its subject's class


def test_z_score_per_slice_and_channel(maps_set):
    images = maps_set[0].images
    assert np.allclose(images.mean(axis=(2, 3)), 0.0, atol=1e-4)
    assert np.allclose(images.std(axis=(2, 3)), 1.0, atol=1e-3)


def test_channels_are_stacked_in_the_configured_order(maps_root, maps_set):
    t1_only, _ = load_slice_set(maps_root, config(channels=("t1",)))
    reordered, _ = load_slice_set(maps_root, config(channels=("t2", "os_dsi")))
    full = maps_set[0].images
    assert t1_only.images.shape[1] == 1 and np.allclose(t1_only.images[:, 0], full[:, 1])
    assert np.allclose(reordered.images[:, 0], full[:, 2]) and np.allclose(reordered.images[:, 1], full[:, 0])
    default, _ = load_slice_set(maps_root, config())
    assert default.channels == default_channels("synthetic") == ("os_dsi",)
    assert np.allclose(default.images[:, 0], full[:, 0])


def _myocardium_masks(maps_root: Path, slices) -> np.ndarray:
    """Preprocessed (labels >= 2) and normal-myocardium (labels == 2) masks of every slice, from maps_seg."""
    out = []
    for sid in slices.subjects:
        labels = read_nifti(maps_root / sid / "maps_seg.nii.gz").array
        out.append(np.stack([preprocess_mask(labels >= 2, 0.8, SIZE), preprocess_mask(labels == 2, 0.8, SIZE)], axis=1))
    return np.concatenate(out)


def test_scar_masks_lie_on_the_myocardium_and_match_the_images(maps_root, maps_set):
    slices, _ = maps_set
    masks = _myocardium_masks(maps_root, slices)
    myocardium, normal = masks[:, 0], masks[:, 1]
    healthy = slices.labels == SCAR_PATTERNS.index("healthy")
    assert not slices.scar_masks[healthy].any()
    assert all(m.any() for m in slices.scar_masks[~healthy])
    # the same nearest sampling on both: scar stays inside the myocardium, pixel for pixel
    assert not (slices.scar_masks & ~myocardium).any()
    for scar, myo in zip(slices.scar_masks[~healthy], myocardium[~healthy]):
        cy, cx = (float(v.mean()) for v in np.nonzero(scar))
        ys, xs = np.nonzero(myo)
        # the centroid lies within the ring's extent, about the LV centre
        assert ys.min() <= cy <= ys.max() and xs.min() <= cx <= xs.max()
    # images on the same grid: abnormal myocardium has a longer native T1 than normal myocardium
    t1 = slices.images[:, 1]
    contrast = [t1[i][slices.scar_masks[i]].mean() - t1[i][normal[i]].mean() for i in np.nonzero(~healthy)[0]]
    assert np.mean(contrast) > 0.3 and np.mean(np.array(contrast) > 0) >= 0.75


def test_preprocessing_keeps_images_and_masks_on_one_grid():
    # an image equal to its mask must come back (after z-scoring) as the resized mask
    rng = np.random.default_rng(0)
    for shape, size in (((80, 80), 48), ((60, 90), 96)):  # shrinking (area) and enlarging a non-square image (bilinear)
        mask = np.zeros(shape, bool)
        y, x = np.ogrid[: shape[0], : shape[1]]
        cy, cx = shape[0] / 2 + rng.uniform(-5, 5), shape[1] / 2 + rng.uniform(-5, 5)
        mask[((y - cy) ** 2 + (x - cx) ** 2 < 18**2) & ((y - cy) ** 2 + (x - cx) ** 2 > 10**2)] = True
        image = preprocess_stack(mask[None, None].astype(np.float32), 0.7, size)[0, 0]
        resized = preprocess_mask(mask[None], 0.7, size)[0]
        threshold = (image.max() + image.min()) / 2
        overlap = np.logical_and(image > threshold, resized).sum() / np.logical_or(image > threshold, resized).sum()
        assert image.shape == resized.shape == (size, size)
        assert overlap > 0.85
        # the crop is a centred square of 0.7 x the shorter side: the ring's area scales by (size / side)^2
        side = math.ceil(0.7 * min(shape))
        assert resized.sum() == pytest.approx(mask.sum() * (size / side) ** 2, rel=0.1)


def test_preprocess_stack_rejects_non_finite_and_handles_constant_channels():
    stack = np.ones((2, 2, 20, 20), np.float32)
    stack[1, 1] = np.arange(400).reshape(20, 20)
    out = preprocess_stack(stack, 1.0, 32)
    assert np.isfinite(out).all() and np.all(out[0] == 0)  # a constant slice z-scores to zeros, not NaN
    assert out[1, 1].std() == pytest.approx(1.0, abs=1e-3)
    stack[0, 0, 3, 3] = np.nan
    with pytest.raises(NonFiniteValueError, match="scan.nii.gz.*1 NaN/Inf"):
        preprocess_stack(stack, 1.0, 32, source="scan.nii.gz")


def test_subset_and_subject_selection(maps_root, maps_set):
    slices, _ = maps_set
    part = slices.subset(["SIM0005", "SIM0002"])
    assert part.subject_ids == ["SIM0002", "SIM0002", "SIM0005", "SIM0005"]  # set order kept
    assert set(part.case_labels) == {"SIM0002", "SIM0005"}
    assert np.array_equal(part.images, slices.images[[2, 3, 8, 9]])
    assert np.array_equal(part.scar_masks, slices.scar_masks[[2, 3, 8, 9]])
    with pytest.raises(UsageError, match="SIM0099"):
        slices.subset(["SIM0099"])
    chosen, _ = load_slice_set(maps_root, config(), subject_ids=["SIM0003"])
    assert chosen.subjects == ["SIM0003"] and len(chosen) == 2
    with pytest.raises(UsageError, match="SIM0042"):
        load_slice_set(maps_root, config(), subject_ids=["SIM0042"])


def test_simulated_bad_subjects_are_reported_and_loading_continues(maps_root, tmp_path):
    root = tmp_path / "cohort"
    shutil.copytree(maps_root, root)
    t1 = read_nifti(root / "SIM0002" / "t1.nii.gz")
    broken = t1.array.copy()
    broken[0, 10, 10] = np.nan
    write_nifti(root / "SIM0002" / "t1.nii.gz", broken, t1.spacing_mm, t1.affine)
    (root / "SIM0004" / "os_dsi.nii.gz").write_bytes(b"not a nifti")
    manifest = (root / "manifest.csv").read_text().replace("SIM0006,True,healthy", "SIM0006,True,fibrosis")
    (root / "manifest.csv").write_text(manifest)

    slices, bad = load_slice_set(root, config(channels=ALL_MAPS))
    by_subject = {b.subject_id: b for b in bad}
    assert set(by_subject) == {"SIM0002", "SIM0004", "SIM0006"}
    assert by_subject["SIM0002"].path.endswith("SIM0002/t1.nii.gz") and "NaN" in by_subject["SIM0002"].problem
    assert by_subject["SIM0004"].path.endswith("SIM0004/os_dsi.nii.gz")
    assert by_subject["SIM0006"].path.endswith("manifest.csv") and "fibrosis" in by_subject["SIM0006"].problem
    assert slices.subjects == ["SIM0001", "SIM0003", "SIM0005", "SIM0007", "SIM0008"]

    only_bad = ["SIM0002", "SIM0004"]
    with pytest.raises(MissingDataError, match="no slice could be loaded"):
        load_slice_set(root, config(), subject_ids=only_bad)
    with pytest.raises(MalformedTableError, match="pattern_v2"):
        load_slice_set(root, config(label_column="pattern_v2"))
    with pytest.raises(UsageError, match="lge"):
        load_slice_set(root, config(channels=("lge",)))


# --------------------------------------------------------------------------- EMIDEC-like folders


def _ring_case(folder: Path, scar_slices: list[bool], rng: np.random.Generator) -> None:
    """A tiny EMIDEC-style case: 64 x 64 slices, ring myocardium, an infarct wedge on chosen slices."""
    folder.mkdir(parents=True)
    y, x = np.ogrid[:64, :64]
    r2 = (y - 32) ** 2 + (x - 32) ** 2
    for k, scar in enumerate(scar_slices):
        mask = np.zeros((64, 64), np.uint8)
        mask[r2 < 8**2] = 1
        mask[(r2 >= 8**2) & (r2 < 13**2)] = 2
        if scar:
            mask[(r2 >= 8**2) & (r2 < 13**2) & (x > 36)] = 3
            mask[(r2 >= 8**2) & (r2 < 10**2) & (x > 38)] = 4
        image = (40 + 60 * (mask == 1) + 120 * np.isin(mask, (3, 4)) + rng.integers(0, 20, (64, 64))).astype(np.uint8)
        Image.fromarray(image).save(folder / f"slice_{k + 1:03d}.png")
        Image.fromarray(mask).save(folder / f"slice_{k + 1:03d}_gt.png")


@pytest.fixture
def emidec_like(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "emidec"
    _ring_case(root / "Case_N001", [False, False], rng)
    _ring_case(root / "Case_P001", [True, True, False], rng)
    _ring_case(root / "Case_P002", [True, True], rng)
    (root / "Case_P002" / "slice_002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_emidec_slice_labels_masks_and_a_corrupt_png(emidec_like):
    slices, bad = load_slice_set(emidec_like, config(crop_fraction=1.0))
    assert [(b.subject_id, Path(b.path).name) for b in bad] == [("Case_P002", "slice_002.png")]
    assert "PNG" in bad[0].problem
    assert slices.layout == "emidec" and not slices.simulated
    assert slices.class_names == class_names_for("emidec") == ("normal", "MI") and slices.channels == ("lge",)
    assert slices.subject_ids == ["Case_N001"] * 2 + ["Case_P001"] * 3
    assert slices.labels.tolist() == [0, 0, 1, 1, 0]  # "mask": the remote slice of an MI case is normal
    assert slices.case_labels == {"Case_N001": 0, "Case_P001": 1}
    assert [bool(m.any()) for m in slices.scar_masks] == [False, False, True, True, False]
    # the scar (right-hand wedge) is where the image is bright
    image = slices.images[2, 0]
    assert image[slices.scar_masks[2]].mean() > image[~slices.scar_masks[2]].mean() + 1.0
    by_case, _ = load_slice_set(emidec_like, config(crop_fraction=1.0, slice_labels="case"))
    assert by_case.labels.tolist() == [0, 0, 1, 1, 1]
    forced, _ = load_slice_set(f"emidec:{emidec_like}", config(crop_fraction=1.0))
    assert np.array_equal(forced.images, slices.images)


@pytest.mark.real_data
def test_real_emidec_cases(shared_data):
    cases = ["Case_N006", "Case_P008", "Case_P026"]
    slices, bad = load_slice_set(shared_data / "emidec", ScarPatternConfig(image_size=96), subject_ids=cases)
    assert bad == [] and slices.subjects == cases
    assert slices.images.shape[1:] == (1, 96, 96)
    raw = {}
    for case in cases:
        masks = [np.asarray(Image.open(p)) for p in sorted((shared_data / "emidec" / case).glob("slice_*_gt.png"))]
        raw[case] = np.array([np.isin(m, (3, 4)).sum() for m in masks])
    expected = np.concatenate([(raw[c] > 0).astype(int) for c in cases])
    assert slices.labels.tolist() == expected.tolist()  # MI iff the manual mask holds infarct/MVO
    assert expected[slices.subject_ids.index("Case_P008")] == 0  # P008's first slice is remote myocardium
    assert all(slices.scar_masks[i].any() for i in np.nonzero(slices.labels == 1)[0])
    # the 0.6 crop keeps all scar: pixel counts scale by (96 / 154)^2
    scale = (96 / math.ceil(0.6 * 256)) ** 2
    counts = slices.scar_masks.sum(axis=(1, 2))
    big = expected.astype(bool) & (np.concatenate([raw[c] for c in cases]) > 100)
    assert np.allclose(counts[big], np.concatenate([raw[c] for c in cases])[big] * scale, rtol=0.15)
    by_case, _ = load_slice_set(shared_data / "emidec", ScarPatternConfig(image_size=96, slice_labels="case"), subject_ids=cases)
    assert by_case.labels.tolist() == [0] * len(raw["Case_N006"]) + [1] * (len(raw["Case_P008"]) + len(raw["Case_P026"]))


# --------------------------------------------------------------------------- single studies


def test_read_input_study_simulated_folder(maps_root):
    study = read_input_study(maps_root / "SIM0001", ("t2", "os_dsi"))
    t2 = read_nifti(maps_root / "SIM0001" / "t2.nii.gz").array
    seg = read_nifti(maps_root / "SIM0001" / "maps_seg.nii.gz").array
    assert study.stack.shape == (2, 2, 96, 96) and np.array_equal(study.stack[:, 0], t2)
    assert np.array_equal(study.scar_masks, seg == 3)
    assert study.case_label in SCAR_PATTERNS and study.subject_id == "SIM0001"
    with pytest.raises(MissingDataError, match="lge.nii.gz"):
        read_input_study(maps_root / "SIM0001", ("os_dsi", "lge"))


def test_read_input_study_emidec_case_and_png(emidec_like):
    case = read_input_study(emidec_like / "Case_P001", ("lge",))
    assert case.stack.shape == (3, 1, 64, 64) and case.case_label == "MI"
    assert [bool(m.any()) for m in case.scar_masks] == [True, True, False]
    png = read_input_study(emidec_like / "Case_P001" / "slice_001.png", ("lge",))
    assert png.stack.shape == (1, 1, 64, 64) and png.scar_masks is not None and png.scar_masks.any()
    assert np.array_equal(png.stack[0, 0], np.asarray(Image.open(emidec_like / "Case_P001" / "slice_001.png")))
    (emidec_like / "Case_P001" / "slice_003_gt.png").unlink()
    alone = read_input_study(emidec_like / "Case_P001" / "slice_003.png", ("lge",))
    assert alone.scar_masks is None and alone.case_label is None
    with pytest.raises(CorruptFileError, match="slice_002.png"):
        read_input_study(emidec_like / "Case_P002" / "slice_002.png", ("lge",))
    with pytest.raises(UsageError, match="needs 2"):
        read_input_study(emidec_like / "Case_N001" / "slice_001.png", ("os_dsi", "t1"))


def test_read_input_study_nifti_and_dicom(tmp_path):
    rng = np.random.default_rng(1)
    volume = rng.normal(1000, 50, (3, 40, 36)).astype(np.float32)
    path3d = write_nifti(tmp_path / "t1_map.nii.gz", volume, (8.0, 1.5, 1.5))
    study = read_input_study(path3d, ("t1",))
    assert study.stack.shape == (3, 1, 40, 36) and np.allclose(study.stack[:, 0], volume)
    assert study.scar_masks is None and study.subject_id == "t1_map"

    path2d = tmp_path / "slice.nii"
    nib.save(nib.Nifti1Image(volume[0].T.copy(), np.eye(4)), str(path2d))  # (x, y) on disk
    flat = read_input_study(path2d, ("t1",))
    assert flat.stack.shape == (1, 1, 40, 36) and np.allclose(flat.stack[0, 0], volume[0])

    broken = volume.copy()
    broken[1, 5, 5] = np.inf
    bad_path = write_nifti(tmp_path / "bad.nii.gz", broken, (8.0, 1.5, 1.5))
    with pytest.raises(NonFiniteValueError, match="bad.nii.gz"):
        read_input_study(bad_path, ("t1",))
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(Exception, match="empty.nii.gz"):
        read_input_study(tmp_path / "empty.nii.gz", ("t1",))

    from cardiolens.io.dicom_write import write_volume_dicom

    series = write_volume_dicom(CMRVolume(volume, "t1", (8.0, 1.5, 1.5), subject_id="P1"), tmp_path / "dicom")
    from_dicom = read_input_study(series, ("t1",))
    assert from_dicom.stack.shape == (3, 1, 40, 36)
    assert np.allclose(from_dicom.stack[:, 0], volume, atol=float(np.ptp(volume)) / 65535 + 1e-3)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(MissingDataError, match="nothing"):
        read_input_study(tmp_path / "nothing", ("t1",))
