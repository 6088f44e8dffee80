"""EMIDEC layout: generated PNG fixtures for every bad input, plus the shared real copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cardiolens.data import SubjectRecord
from cardiolens.errors import (
    CorruptFileError,
    EmptyFileError,
    InconsistentGeometryError,
    MalformedTableError,
    MissingDataError,
)
from cardiolens.io import layouts
from cardiolens.io.layouts import emidec


def _png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L").save(path)


def make_case(
    root: Path,
    case: str,
    numbers: tuple[int, ...] = (0, 1, 2),
    size: tuple[int, int] = (16, 12),
    mvo: bool = False,
    width: int = 3,
) -> Path:
    """Write a case whose slice k has constant intensity 10 * number (to check ordering)."""
    folder = root / case
    folder.mkdir(parents=True)
    for number in numbers:
        stem = f"slice_{number:0{width}d}"
        _png(folder / f"{stem}.png", np.full(size, 10 * number))
        mask = np.zeros(size, np.uint8)
        mask[4:8, 3:6] = 1
        mask[2:4, 3:6] = 2
        if case.startswith("Case_P"):
            mask[8:10, 3:6] = 3
            if mvo:
                mask[10, 4] = 4
        _png(folder / f"{stem}_gt.png", mask)
    return folder


def _manifest(root: Path, rows: list[str]) -> None:
    (root / "manifest.csv").write_text("case,label,n_slices,label_values\n" + "\n".join(rows) + "\n")


@pytest.fixture
def three_cases(tmp_path: Path) -> Path:
    make_case(tmp_path, "Case_N001")
    make_case(tmp_path, "Case_P002", mvo=True)
    make_case(tmp_path, "Case_P003", numbers=(0, 1))
    return tmp_path


# --------------------------------------------------------------------------- generated data


def test_looks_like(tmp_path: Path) -> None:
    assert not emidec.looks_like(tmp_path)
    make_case(tmp_path, "Case_N001")
    assert emidec.looks_like(tmp_path)


def test_scan_from_case_letters(three_cases: Path) -> None:
    cohort = layouts.scan(f"emidec:{three_cases}")
    assert cohort.layout == "emidec" and cohort.bad_cases == []
    assert [(r.subject_id, r.label) for r in cohort.records] == [
        ("Case_N001", "normal"),
        ("Case_P002", "MI"),
        ("Case_P003", "MI"),
    ]
    assert cohort["Case_P003"].attributes == {"n_slices": 2, "has_mvo": None}


def test_scan_from_manifest(three_cases: Path) -> None:
    _manifest(three_cases, ["Case_N001,normal,3,0;1;2", "Case_P002,MI,3,0;1;2;3;4", "Case_P003,MI,2,0;1;2;3"])
    cohort = emidec.scan(three_cases)
    assert cohort.bad_cases == [] and cohort.class_counts() == {"MI": 2, "normal": 1}
    assert {r.subject_id: r.attributes["has_mvo"] for r in cohort.records} == {
        "Case_N001": False,
        "Case_P002": True,
        "Case_P003": False,
    }


def test_load_stacks_slices_in_file_number_order(tmp_path: Path) -> None:
    # 8, 9, 10 without zero padding: text order would put slice_10 first.
    make_case(tmp_path, "Case_P001", numbers=(8, 9, 10), width=1, mvo=True)
    volume = emidec.load(emidec.scan(tmp_path).records[0])
    assert volume.modality == "lge" and volume.label_scheme == "lge"
    assert volume.image.dtype == np.float32 and volume.image.shape == (3, 16, 12)
    assert volume.image[:, 0, 0].tolist() == [80.0, 90.0, 100.0]
    assert volume.labels is not None and volume.labels.dtype == np.uint8
    assert set(np.unique(volume.labels).tolist()) == {0, 1, 2, 3, 4}
    assert volume.spacing_known is False and volume.spacing_mm == (1.0, 1.0, 1.0)
    assert volume.metadata["slice_files"] == ["slice_8.png", "slice_9.png", "slice_10.png"]
    assert "undocumented" in volume.metadata["spacing_note"]
    assert "undocumented" in volume.metadata["slice_order_note"]


# --------------------------------------------------------------------------- bad input


def test_missing_mask_is_a_bad_case(three_cases: Path) -> None:
    (three_cases / "Case_P002" / "slice_001_gt.png").unlink()
    cohort = emidec.scan(three_cases)
    assert cohort.subject_ids == ["Case_N001", "Case_P003"]
    (bad,) = cohort.bad_cases
    assert bad.subject_id == "Case_P002" and bad.path.endswith("slice_001_gt.png")
    record = SubjectRecord("Case_P002", "MI", paths={"folder": three_cases / "Case_P002"})
    with pytest.raises(MissingDataError, match=r"slice_001_gt\.png"):
        emidec.load(record)


def test_gap_in_slice_numbering_names_the_missing_slice(three_cases: Path) -> None:
    for name in ("slice_001.png", "slice_001_gt.png"):
        (three_cases / "Case_N001" / name).unlink()
    cohort = emidec.scan(three_cases)
    assert cohort.subject_ids == ["Case_P002", "Case_P003"]
    assert cohort.bad_cases[0].path.endswith("Case_N001/slice_001.png")


def test_slice_count_mismatch_with_manifest(three_cases: Path) -> None:
    _manifest(three_cases, ["Case_N001,normal,4,0;1;2", "Case_P002,MI,3,0;1;2;3;4", "Case_P003,MI,2,0;1;2;3"])
    cohort = emidec.scan(three_cases)
    assert cohort.subject_ids == ["Case_P002", "Case_P003"]
    (bad,) = cohort.bad_cases
    assert bad.path.endswith("Case_N001") and "3 slice(s) found, manifest.csv lists 4" in bad.problem
    folder = three_cases / "Case_N001"
    record = SubjectRecord("Case_N001", "normal", paths={"folder": folder}, attributes={"n_slices": 4})
    with pytest.raises(MissingDataError, match=r"Case_N001: 3 slice\(s\) found"):
        emidec.load(record)


def test_manifest_problems(three_cases: Path) -> None:
    _manifest(three_cases, ["Case_N001,healthy,3,0;1;2", "Case_P002,MI,3,0;1;2;3;4", "Case_P009,MI,2,0;1"])
    cohort = emidec.scan(three_cases)
    assert cohort.subject_ids == ["Case_P002"]
    problems = {b.subject_id: (b.path, b.problem) for b in cohort.bad_cases}
    assert problems["Case_N001"][0].endswith("manifest.csv") and "'healthy'" in problems["Case_N001"][1]
    assert "no row" in problems["Case_P003"][1]
    assert "folder is missing" in problems["Case_P009"][1]
    (three_cases / "manifest.csv").write_text("case,label\nCase_N001,normal\n")
    with pytest.raises(MalformedTableError, match=r"manifest\.csv: missing column\(s\) n_slices, label_values"):
        emidec.scan(three_cases)


def test_unknown_case_letter_without_manifest(three_cases: Path) -> None:
    make_case(three_cases, "Case_X004")
    cohort = emidec.scan(three_cases)
    assert len(cohort) == 3 and cohort.bad_cases[0].path.endswith("Case_X004")


def test_corrupt_png(three_cases: Path) -> None:
    path = three_cases / "Case_P002" / "slice_002.png"
    path.write_bytes(path.read_bytes()[:40])
    record = emidec.scan(three_cases)["Case_P002"]  # scan reads names only
    with pytest.raises(CorruptFileError, match=r"Case_P002/slice_002\.png: cannot decode PNG"):
        emidec.load(record)
    path.write_bytes(b"not a png at all")
    with pytest.raises(CorruptFileError, match=r"slice_002\.png"):
        emidec.load(record)
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"slice_002\.png"):
        emidec.load(record)


def test_mask_size_mismatch(three_cases: Path) -> None:
    _png(three_cases / "Case_P003" / "slice_001_gt.png", np.zeros((16, 10)))
    with pytest.raises(InconsistentGeometryError, match=r"slice_001_gt\.png: mask size \(16, 10\)"):
        emidec.load(emidec.scan(three_cases)["Case_P003"])


def test_slices_of_different_sizes(three_cases: Path) -> None:
    _png(three_cases / "Case_P003" / "slice_001.png", np.zeros((20, 12)))
    with pytest.raises(InconsistentGeometryError, match=r"slice_001\.png: size \(20, 12\)"):
        emidec.load(emidec.scan(three_cases)["Case_P003"])


def test_mask_values_outside_emidec_labels(three_cases: Path) -> None:
    mask = np.zeros((16, 12))
    mask[0, 0] = 5
    _png(three_cases / "Case_N001" / "slice_000_gt.png", mask)
    with pytest.raises(CorruptFileError, match=r"slice_000_gt\.png: mask values \[5\]"):
        emidec.load(emidec.scan(three_cases)["Case_N001"])


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, object]:
    """Scan once, load every case once, keep shapes and label sets."""
    cohort = emidec.scan(shared_data / "emidec")
    loaded = {}
    for record in cohort.records:
        volume = emidec.load(record)
        loaded[record.subject_id] = {
            "shape": volume.image.shape,
            "values": set(np.unique(volume.labels).tolist()),
            "dtype": volume.image.dtype,
        }
    manifest = {}
    for line in (shared_data / "emidec" / "manifest.csv").read_text().splitlines()[1:]:
        case, _, _, values = line.split(",")
        manifest[case] = {int(v) for v in values.split(";")}
    return {"cohort": cohort, "loaded": loaded, "manifest": manifest}


@pytest.mark.real_data
def test_real_scan(real: dict) -> None:
    cohort = real["cohort"]
    assert emidec.looks_like(cohort.root)
    assert len(cohort) == 67 and cohort.bad_cases == []
    assert cohort.class_counts() == {"MI": 45, "normal": 22}
    assert all((r.label == "normal") == r.subject_id.startswith("Case_N") for r in cohort.records)
    assert sum(r.attributes["n_slices"] for r in cohort.records) == 466
    assert sum(bool(r.attributes["has_mvo"]) for r in cohort.records) == 28


@pytest.mark.real_data
def test_real_every_slice_loads_256(real: dict) -> None:
    loaded = real["loaded"]
    assert len(loaded) == 67
    assert sum(v["shape"][0] for v in loaded.values()) == 466
    assert all(v["shape"][1:] == (256, 256) and v["dtype"] == np.float32 for v in loaded.values())


@pytest.mark.real_data
def test_real_label_values(real: dict) -> None:
    cohort, loaded = real["cohort"], real["loaded"]
    for record in cohort.records:
        values = loaded[record.subject_id]["values"]
        assert values == real["manifest"][record.subject_id], record.subject_id
        if record.label == "normal":
            assert values <= {0, 1, 2}, record.subject_id
        assert (4 in values) == record.attributes["has_mvo"], record.subject_id
    assert sum(4 in v["values"] for v in loaded.values()) == 28
