"""ACDC layout: generated fixtures for every bad input, plus the shared real copy."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    InconsistentGeometryError,
    MalformedTableError,
    MissingDataError,
    NonFiniteValueError,
)
from cardiolens.io import layouts
from cardiolens.io.layouts import acdc
from cardiolens.io.nifti import write_nifti

INFO_TEXT = "ED: {ed}\nES: {es}\nGroup: {group}\nHeight: 170.0\nNbFrame: {n}\nWeight: 70.5\n"


def _masks(shape: tuple[int, int, int], radius: float) -> np.ndarray:
    """LV cavity disc (3) inside a myocardium ring (2), RV blob (1), on every slice."""
    z, y, x = shape
    yy, xx = np.mgrid[:y, :x]
    cy, cx = y / 2, x / 2
    r = np.hypot(yy - cy, xx - cx)
    plane = np.zeros((y, x), np.uint8)
    plane[r < radius + 3] = 2
    plane[r < radius] = 3
    plane[(np.abs(yy - cy) < 3) & (xx < cx - radius - 4) & (xx > cx - radius - 10)] = 1
    return np.repeat(plane[None], z, axis=0)


def _documented_crop(full_zyx: np.ndarray, nz: int) -> np.ndarray:
    """The README's crop written in NIfTI (x, y, z) order, independent of the module."""
    f = np.transpose(full_zyx, (2, 1, 0))
    if f.shape[0] > f.shape[1]:
        f = np.rot90(f, -1, axes=(0, 1))
    return np.transpose(f[50:150, 85:180, 1 : 1 + nz], (2, 1, 0))


def make_patient(
    root: Path,
    pid: str = "patient001",
    *,
    group: str = "NOR",
    n_frames: int = 4,
    ed: int = 1,
    es: int = 3,
    cropped: bool = False,
    rotated: bool = False,
    seg_spacing: tuple[float, float, float] = (10.0, 1.25, 1.5),
    cine_spacing: tuple[float, float, float] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write one ACDC patient; returns the arrays written (z, y, x order)."""
    rng = np.random.default_rng(seed)
    folder = root / pid
    folder.mkdir(parents=True)
    (folder / "Info.cfg").write_text(INFO_TEXT.format(ed=ed, es=es, group=group, n=n_frames))
    if cropped:
        full_shape = (4, 160, 200) if rotated else (4, 190, 160)
        nz = 2
    else:
        full_shape = (3, 24, 20)
    frames = {f: rng.integers(0, 400, size=full_shape).astype(np.int16) for f in (ed, es)}
    masks = {ed: _masks(full_shape, 6.0), es: _masks(full_shape, 4.0)}
    cine_shape = (n_frames, nz, 95, 100) if cropped else (n_frames, *full_shape)
    cine = rng.integers(0, 400, size=cine_shape).astype(np.int16)
    for f in (ed, es):
        cine[f - 1] = _documented_crop(frames[f], nz) if cropped else frames[f]
        write_nifti(folder / f"{pid}_frame{f:02d}.nii.gz", frames[f], seg_spacing)
        write_nifti(folder / f"{pid}_frame{f:02d}_gt.nii.gz", masks[f], seg_spacing)
    write_nifti(folder / f"{pid}_4d.nii.gz", cine, cine_spacing or (1.0, 1.0, 1.0))
    return {"cine": cine, "ed": frames[ed], "es": frames[es], "ed_gt": masks[ed], "es_gt": masks[es]}


def _write_manifest(root: Path, rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["patient,group,cine_spacing_known,seg_spacing_known,seg_source"]
    lines += [f"{p},NOR,{c},{s},{src}" for p, c, s, src in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- generated data


def test_looks_like(tmp_path: Path) -> None:
    assert not acdc.looks_like(tmp_path)
    make_patient(tmp_path)
    assert acdc.looks_like(tmp_path)
    assert not acdc.looks_like(tmp_path / "patient001")


def test_read_info_cfg_values(tmp_path: Path) -> None:
    make_patient(tmp_path, ed=2, es=4, group="DCM")
    info = acdc.read_info_cfg(tmp_path / "patient001" / "Info.cfg")
    assert info == acdc.AcdcInfo(ed_frame=2, es_frame=4, group="DCM", height_cm=170.0, n_frames=4, weight_kg=70.5)


def test_scan_without_manifest_reads_header_spacing(tmp_path: Path) -> None:
    make_patient(tmp_path, "patient001", cine_spacing=(10.0, 1.25, 1.5))
    make_patient(tmp_path, "patient002", group="DCM", seg_spacing=(1.0, 1.0, 1.0))
    cohort = layouts.scan(f"acdc:{tmp_path}")
    assert cohort.layout == "acdc" and cohort.subject_ids == ["patient001", "patient002"]
    assert cohort.bad_cases == []
    first, second = cohort.records
    assert first.label == "NOR" and second.label == "DCM"
    assert first.attributes == {
        "height_cm": 170.0,
        "weight_kg": 70.5,
        "ed_frame": 1,
        "es_frame": 3,
        "n_frames": 4,
        "cine_spacing_known": True,
        "seg_spacing_known": True,
        "seg_source": "unknown",
    }
    assert second.attributes["cine_spacing_known"] is False
    assert second.attributes["seg_spacing_known"] is False
    assert first.paths["ed_gt"].name == "patient001_frame01_gt.nii.gz"
    assert first.paths["es"].name == "patient001_frame03.nii.gz"


def test_scan_with_manifest_uses_its_flags(tmp_path: Path) -> None:
    make_patient(tmp_path, "patient001", cine_spacing=(10.0, 1.25, 1.5))
    make_patient(tmp_path, "patient002")
    # The manifest wins over the headers (patient001's header has real spacing).
    _write_manifest(
        tmp_path,
        [("patient001", "false", "true", "h5_slices"), ("patient002", "true", "false", "native_nifti")],
    )
    cohort = acdc.scan(tmp_path)
    a, b = cohort.records
    assert (a.attributes["cine_spacing_known"], a.attributes["seg_spacing_known"]) == (False, True)
    assert (b.attributes["cine_spacing_known"], b.attributes["seg_spacing_known"]) == (True, False)
    assert a.attributes["seg_source"] == "h5_slices"


def test_load_same_grid_uses_masks_unchanged(tmp_path: Path) -> None:
    written = make_patient(tmp_path, n_frames=5, ed=2, es=4, cine_spacing=(8.0, 1.25, 1.25))
    study = acdc.load(acdc.scan(tmp_path).records[0])
    cine = study.cine
    assert cine.image.dtype == np.float32 and cine.image.shape == (5, 3, 24, 20)
    np.testing.assert_array_equal(cine.image, written["cine"])
    assert (cine.ed_index, cine.es_index) == (1, 3)
    assert cine.trigger_times_ms is None and "timing" in cine.metadata["temporal_resolution"]
    assert cine.spacing_mm == (8.0, 1.25, 1.25) and cine.spacing_known
    np.testing.assert_array_equal(cine.segmentations[1], written["ed_gt"])
    np.testing.assert_array_equal(cine.segmentations[3], written["es_gt"])
    assert cine.metadata["crop"] == {"applied": False, "rotated": False}
    assert cine.metadata["group"] == "NOR" and cine.metadata["height_cm"] == 170.0
    assert study.ed.modality == "cine_frame" and study.ed.label_scheme == "cine"
    np.testing.assert_array_equal(study.es.labels, written["es_gt"])
    assert study.ed.spacing_mm == (10.0, 1.25, 1.5)


@pytest.mark.parametrize("rotated", [False, True])
def test_load_cropped_copy_maps_masks_and_spacing(tmp_path: Path, rotated: bool) -> None:
    written = make_patient(tmp_path, cropped=True, rotated=rotated, seg_spacing=(10.0, 1.25, 1.5))
    study = acdc.load(acdc.scan(tmp_path).records[0])
    cine = study.cine
    assert cine.image.shape == (4, 2, 95, 100)
    np.testing.assert_array_equal(cine.segmentations[0], _documented_crop(written["ed_gt"], 2))
    np.testing.assert_array_equal(cine.segmentations[2], _documented_crop(written["es_gt"], 2))
    assert cine.metadata["crop"]["applied"] and cine.metadata["crop"]["rotated"] is rotated
    # Cine spacing is a placeholder in its header; the ED/ES spacing applies (in-plane axes swap on rotation).
    assert cine.spacing_known and cine.metadata["spacing_source"].startswith("ED/ES header")
    assert cine.spacing_mm == ((10.0, 1.5, 1.25) if rotated else (10.0, 1.25, 1.5))
    # The cine affine is the ED/ES affine composed with the crop: a cine voxel lands on its source voxel.
    assert study.ed.affine is not None and cine.affine is not None
    ed_index = np.linalg.inv(study.ed.affine) @ cine.affine @ np.array([3.0, 7.0, 1.0, 1.0])
    x, y, z = np.round(ed_index[:3]).astype(int)
    assert written["ed"][z, y, x] == cine.image[0, 1, 7, 3]


def test_load_cropped_without_any_spacing_is_placeholder(tmp_path: Path) -> None:
    make_patient(tmp_path, cropped=True, seg_spacing=(1.0, 1.0, 1.0))
    cine = acdc.load(acdc.scan(tmp_path).records[0]).cine
    assert cine.spacing_known is False and cine.spacing_mm == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("shape", [(5, 190, 160), (5, 160, 200)])
def test_crop_helpers_match_nifti_formula(shape: tuple[int, int, int]) -> None:
    full = np.random.default_rng(1).integers(0, 1000, size=shape)
    cropped = acdc.crop_to_cine(full, 3)
    np.testing.assert_array_equal(cropped, _documented_crop(full, 3))
    transform = acdc.crop_index_transform(shape)
    z, y, x = np.mgrid[:3, :95, :100]
    idx = np.stack([x.ravel(), y.ravel(), z.ravel(), np.ones(x.size)])
    fx, fy, fz = (transform @ idx)[:3].astype(int)
    np.testing.assert_array_equal(full[fz, fy, fx], cropped[z.ravel(), y.ravel(), x.ravel()])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ED: 1\nES: 3\nGroup: NOR\nHeight: 170\nWeight: 70\n", "NbFrame"),
        ("ED: one\nES: 3\nGroup: NOR\nHeight: 170\nNbFrame: 4\nWeight: 70\n", "ED value"),
        ("ED: 1\nES: 3\nGroup: NOR\nHeight: tall\nNbFrame: 4\nWeight: 70\n", "Height"),
        ("ED: 1\nES: 9\nGroup: NOR\nHeight: 170\nNbFrame: 4\nWeight: 70\n", "ES=9"),
    ],
)
def test_malformed_info_cfg_is_a_bad_case(tmp_path: Path, text: str, problem: str) -> None:
    make_patient(tmp_path, "patient001")
    make_patient(tmp_path, "patient002")
    (tmp_path / "patient002" / "Info.cfg").write_text(text)
    cohort = acdc.scan(tmp_path)
    assert cohort.subject_ids == ["patient001"]
    (bad,) = cohort.bad_cases
    assert bad.subject_id == "patient002" and bad.path.endswith("patient002/Info.cfg")
    assert problem in bad.problem
    with pytest.raises(MalformedTableError, match="Info.cfg"):
        acdc.read_info_cfg(tmp_path / "patient002" / "Info.cfg")


@pytest.mark.parametrize("name", ["patient002_frame03.nii.gz", "patient002_frame01_gt.nii.gz", "patient002_4d.nii.gz"])
def test_missing_file_is_a_bad_case(tmp_path: Path, name: str) -> None:
    make_patient(tmp_path, "patient001")
    make_patient(tmp_path, "patient002")
    (tmp_path / "patient002" / name).unlink()
    cohort = acdc.scan(tmp_path)
    assert cohort.subject_ids == ["patient001"]
    (bad,) = cohort.bad_cases
    assert bad.path.endswith(name) and "does not exist" in bad.problem


def test_zero_byte_nifti_is_a_bad_case_and_a_load_error(tmp_path: Path) -> None:
    make_patient(tmp_path, "patient001")
    make_patient(tmp_path, "patient002")
    record = acdc.scan(tmp_path)["patient002"]
    (tmp_path / "patient002" / "patient002_frame01.nii.gz").write_bytes(b"")
    cohort = acdc.scan(tmp_path)
    assert cohort.subject_ids == ["patient001"]
    assert cohort.bad_cases[0].path.endswith("patient002_frame01.nii.gz")
    with pytest.raises(EmptyFileError, match="patient002_frame01.nii.gz"):
        acdc.load(record)


def test_manifest_problems(tmp_path: Path) -> None:
    make_patient(tmp_path, "patient001")
    make_patient(tmp_path, "patient002")
    _write_manifest(tmp_path, [("patient001", "maybe", "true", "x"), ("patient003", "true", "true", "x")])
    cohort = acdc.scan(tmp_path)
    assert cohort.records == []
    problems = {b.subject_id: (b.path, b.problem) for b in cohort.bad_cases}
    assert problems["patient001"][0].endswith("manifest.csv") and "maybe" in problems["patient001"][1]
    assert "no row" in problems["patient002"][1]
    assert "folder is missing" in problems["patient003"][1]
    (tmp_path / "manifest.csv").write_text("patient,group\npatient001,NOR\n")
    with pytest.raises(MalformedTableError, match=r"manifest\.csv.*cine_spacing_known"):
        acdc.scan(tmp_path)


def test_nbframe_mismatch_names_the_cine(tmp_path: Path) -> None:
    make_patient(tmp_path, n_frames=4)
    (tmp_path / "patient001" / "Info.cfg").write_text(INFO_TEXT.format(ed=1, es=3, group="NOR", n=6))
    with pytest.raises(MissingDataError, match=r"patient001_4d\.nii\.gz: cine has 4 frames but Info.cfg NbFrame is 6"):
        acdc.load(acdc.scan(tmp_path).records[0])


def test_nan_voxels_in_float_nifti(tmp_path: Path) -> None:
    written = make_patient(tmp_path)
    record = acdc.scan(tmp_path).records[0]
    image = written["ed"].astype(np.float32)
    image[0, 2, 2] = np.nan
    write_nifti(tmp_path / "patient001" / "patient001_frame01.nii.gz", image, (10.0, 1.25, 1.5))
    with pytest.raises(NonFiniteValueError, match=r"patient001_frame01\.nii\.gz.*NaN"):
        acdc.load(record)
    write_nifti(tmp_path / "patient001" / "patient001_frame01.nii.gz", written["ed"], (10.0, 1.25, 1.5))
    cine = written["cine"].astype(np.float32)
    cine[2, 0, 0, 0] = np.inf
    write_nifti(tmp_path / "patient001" / "patient001_4d.nii.gz", cine, (1.0, 1.0, 1.0))
    with pytest.raises(NonFiniteValueError, match=r"patient001_4d\.nii\.gz"):
        acdc.load(record)


def test_truncated_nifti_gz(tmp_path: Path) -> None:
    make_patient(tmp_path)
    path = tmp_path / "patient001" / "patient001_4d.nii.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    with pytest.raises(CorruptFileError, match=r"patient001_4d\.nii\.gz"):
        acdc.load(acdc.scan(tmp_path).records[0])


def test_mask_shape_and_values_are_checked(tmp_path: Path) -> None:
    written = make_patient(tmp_path)
    record = acdc.scan(tmp_path).records[0]
    gt = tmp_path / "patient001" / "patient001_frame03_gt.nii.gz"
    write_nifti(gt, written["es_gt"][:, :-1], (10.0, 1.25, 1.5))
    with pytest.raises(InconsistentGeometryError, match=r"patient001_frame03_gt\.nii\.gz: mask shape"):
        acdc.load(record)
    bad_values = written["es_gt"].copy()
    bad_values[0, 0, 0] = 7
    write_nifti(gt, bad_values, (10.0, 1.25, 1.5))
    with pytest.raises(CorruptFileError, match=r"patient001_frame03_gt\.nii\.gz.*\[7\]"):
        acdc.load(record)


def test_wrong_ed_frame_does_not_match_cine(tmp_path: Path) -> None:
    written = make_patient(tmp_path, cropped=True)
    # Info.cfg claims frame 2 is ED, but frame01's image is what the cine holds at index 0.
    folder = tmp_path / "patient001"
    (folder / "patient001_frame01.nii.gz").rename(folder / "patient001_frame02.nii.gz")
    (folder / "patient001_frame01_gt.nii.gz").rename(folder / "patient001_frame02_gt.nii.gz")
    (folder / "Info.cfg").write_text(INFO_TEXT.format(ed=2, es=3, group="NOR", n=4))
    assert written["cine"].shape[0] == 4
    with pytest.raises(InconsistentGeometryError, match=r"patient001_frame02\.nii\.gz: does not match cine frame 2"):
        acdc.load(acdc.scan(tmp_path).records[0])


def test_unrelated_cine_grid_is_rejected(tmp_path: Path) -> None:
    written = make_patient(tmp_path)
    write_nifti(tmp_path / "patient001" / "patient001_4d.nii.gz", written["cine"][:, :, :10], (1.0, 1.0, 1.0))
    with pytest.raises(InconsistentGeometryError, match=r"patient001_4d\.nii\.gz: cine grid"):
        acdc.load(acdc.scan(tmp_path).records[0])


# --------------------------------------------------------------------------- real data

GROUPS = {
    "DCM": "001 003 005 006 008 010 011 013 015 016 018 020",
    "HCM": "021 023 025 026 028 030 031 033 035 036 038 040",
    "MINF": "041 043 045 046 048 050 051 053 055 056 058 060",
    "NOR": "061 063 065 066 068 070 071 073 075 076 078 080",
    "RV": "081 083 085 086 088 090 091 093 095 096 098 100",
}
CINE_SPACING_KNOWN = set("001 003 005 006 008 021 023 025 026 028 030 031 033 050 061 063 065 066 071 073".split())
SEG_ONLY_SPACING = set("010 011 013 015 016 018 020".split())
SEG_FROM_CINE = set("021 023 025 026 028 030 031 033 050 061 063 065 066 071 073".split())
SEG_SPACING_KNOWN = set("001 003 005 006 008".split()) | SEG_ONLY_SPACING | SEG_FROM_CINE
ROTATED = set("005 015 046 055 063 068 088".split())
LV = 3


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, object]:
    """Scan once and load every patient once, keeping only small summaries."""
    cohort = acdc.scan(shared_data / "acdc")
    summary = {}
    for record in cohort.records:
        study = acdc.load(record)
        cine = study.cine
        ed_full = np.asarray(study.ed.labels)
        es_full = np.asarray(study.es.labels)
        ed_cine, es_cine = cine.segmentations[cine.ed_index], cine.segmentations[cine.es_index]
        summary[record.subject_id[-3:]] = {
            "record": record,
            "values": set().union(*(np.unique(m).tolist() for m in (ed_full, es_full, ed_cine, es_cine))),
            "lv_full": (int((ed_full == LV).sum()), int((es_full == LV).sum())),
            "lv_cine": (int((ed_cine == LV).sum()), int((es_cine == LV).sum())),
            "ed_equal": np.array_equal(acdc.crop_to_cine(study.ed.image, cine.n_slices), cine.image[cine.ed_index]),
            "es_equal": np.array_equal(acdc.crop_to_cine(study.es.image, cine.n_slices), cine.image[cine.es_index]),
            "spacing_known": cine.spacing_known,
            "spacing_mm": cine.spacing_mm,
            "ed_spacing_mm": study.ed.spacing_mm,
            "rotated": cine.metadata["crop"]["rotated"],
            "indices": (cine.ed_index, cine.es_index, cine.n_frames),
            "trigger_times": cine.trigger_times_ms,
        }
    return {"cohort": cohort, "summary": summary}


@pytest.mark.real_data
def test_real_scan_groups(real: dict) -> None:
    cohort = real["cohort"]
    assert len(cohort) == 60 and cohort.bad_cases == []
    assert cohort.class_counts() == {g: 12 for g in GROUPS}
    for group, ids in GROUPS.items():
        assert {r.subject_id for r in cohort.records if r.label == group} == {f"patient{i}" for i in ids.split()}
    assert acdc.looks_like(cohort.root)


@pytest.mark.real_data
def test_real_every_patient_loads_with_acdc_labels(real: dict) -> None:
    summary = real["summary"]
    assert len(summary) == 60
    for pid, s in summary.items():
        assert s["values"] <= {0, 1, 2, 3}, pid
        ed_frame, es_frame = s["record"].attributes["ed_frame"], s["record"].attributes["es_frame"]
        assert s["indices"] == (ed_frame - 1, es_frame - 1, s["record"].attributes["n_frames"]), pid
        assert s["trigger_times"] is None


@pytest.mark.real_data
def test_real_lv_cavity_larger_at_ed(real: dict) -> None:
    for pid, s in real["summary"].items():
        assert s["lv_full"][0] > s["lv_full"][1], pid
        assert s["lv_cine"][0] > s["lv_cine"][1], pid


@pytest.mark.real_data
def test_real_cine_frames_equal_cropped_ed_es_images(real: dict) -> None:
    # Measured: every patient's cine ED and ES frames equal the cropped images voxel for voxel.
    for pid, s in real["summary"].items():
        assert s["ed_equal"] and s["es_equal"], pid
    assert {pid for pid, s in real["summary"].items() if s["rotated"]} == ROTATED


@pytest.mark.real_data
def test_real_spacing_known_matches_readme(real: dict) -> None:
    summary = real["summary"]
    cine_known = {pid for pid, s in summary.items() if s["record"].attributes["cine_spacing_known"]}
    seg_known = {pid for pid, s in summary.items() if s["record"].attributes["seg_spacing_known"]}
    assert cine_known == CINE_SPACING_KNOWN
    assert seg_known == SEG_SPACING_KNOWN
    usable = {pid for pid, s in summary.items() if s["spacing_known"]}
    assert usable == CINE_SPACING_KNOWN | SEG_ONLY_SPACING and len(usable) == 27
    for pid in SEG_ONLY_SPACING:
        sz, sy, sx = summary[pid]["ed_spacing_mm"]
        expected = (sz, sx, sy) if pid in ROTATED else (sz, sy, sx)
        assert summary[pid]["spacing_mm"] == pytest.approx(expected), pid
        assert sz == pytest.approx(10.0) and 1.0 < sy < 2.0
    for pid, s in summary.items():
        if pid not in usable:
            assert s["spacing_mm"] == (1.0, 1.0, 1.0)
