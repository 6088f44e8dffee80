"""PTB-XL layout: scan of a generated mini database (bad rows included) and of the real copy."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from cardiolens.data.ecg import ECG12
from cardiolens.errors import MalformedTableError
from cardiolens.io.layouts import detect_layout, ptbxl
from cardiolens.io.wfdb_io import write_wfdb

COLUMNS = ["ecg_id", "patient_id", "age", "sex", "height", "weight", "scp_codes", "strat_fold",
           "filename_lr", "filename_hr"]


def _ecg(fs_hz: float, seed: int) -> ECG12:
    n = int(fs_hz)  # 1 s
    rng = np.random.default_rng(seed)
    return ECG12(signal_mv=rng.normal(0, 0.5, size=(n, 12)), fs_hz=fs_hz)


def _row(ecg_id: int, patient: float, scp: str, fold: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ecg_id": ecg_id, "patient_id": patient, "age": 50.0, "sex": 0, "height": "", "weight": 80.0,
        "scp_codes": scp, "strat_fold": fold,
        "filename_lr": f"records100/00000/{ecg_id:05d}_lr", "filename_hr": f"records500/00000/{ecg_id:05d}_hr",
    }
    row.update(extra)
    return row


def make_ptbxl(root: Path, rows: list[dict[str, object]], records: dict[str, float],
               columns: list[str] = COLUMNS, statements: bool = True) -> Path:
    """Write ptbxl_database.csv, scp_statements.csv and the named WFDB records under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "ptbxl_database.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if statements:
        (root / "scp_statements.csv").write_text(
            ",description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\n"
            "NORM,normal ECG,1.0,,,NORM,NORM\n"
            "LVH,left ventricular hypertrophy,1.0,,,HYP,LVH\n"
            "IMI,inferior myocardial infarction,1.0,,,MI,IMI\n"
            "SR,sinus rhythm,,,1.0,,\n"
        )
    for i, (name, fs_hz) in enumerate(records.items()):
        write_wfdb(_ecg(fs_hz, i), root / name)
    return root


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    rows = [
        _row(1, 101.0, "{'NORM': 100.0, 'SR': 0.0}", 3, sex=1, age=61.0),
        _row(2, 102.0, "{'LVH': 50.0, 'IMI': 100.0, 'SR': 0.0}", 5, weight=""),
        _row(3, 101.0, "{'NORM': 80.0}", 3),  # record files missing -> bad case
        _row(4, 103.0, "{'NORM': 100.0", 1),  # unparseable scp_codes -> bad case
        _row(5, 104.0, "{'LVH': 0.0}", 2),
    ]
    records = {
        "records100/00000/00001_lr": 100.0,
        "records100/00000/00002_lr": 100.0,
        "records500/00000/00002_hr": 500.0,
        "records100/00000/00004_lr": 100.0,
        "records100/00000/00005_lr": 100.0,
    }
    return make_ptbxl(tmp_path / "ptbxl", rows, records)


def test_looks_like(mini: Path, tmp_path: Path) -> None:
    assert ptbxl.looks_like(mini)
    assert not ptbxl.looks_like(tmp_path)
    assert detect_layout(mini) == "ptbxl"


def test_scan_ids_labels_and_attributes(mini: Path) -> None:
    cohort = ptbxl.scan(mini)
    assert cohort.layout == "ptbxl"
    assert cohort.subject_ids == ["00001", "00002", "00005"]
    first, second, fifth = (cohort[s] for s in cohort.subject_ids)
    assert first.patient_id == "101" and first.label == "no_LVH"
    assert second.label == "LVH" and fifth.label == "LVH"  # LVH key present, any likelihood
    assert first.attributes["sex"] == "F" and second.attributes["sex"] == "M"
    assert first.attributes["age"] == 61.0 and first.attributes["height_cm"] is None
    assert second.attributes["weight_kg"] is None and first.attributes["weight_kg"] == 80.0
    assert second.attributes["strat_fold"] == 5
    assert second.attributes["lvh_likelihood"] == 50.0 and first.attributes["lvh_likelihood"] is None
    assert fifth.attributes["lvh_likelihood"] == 0.0
    assert second.attributes["scp_codes"] == {"LVH": 50.0, "IMI": 100.0, "SR": 0.0}
    assert second.attributes["diagnostic_superclasses"] == ["HYP", "MI"]
    assert first.attributes["diagnostic_superclasses"] == ["NORM"]  # SR is not diagnostic
    assert set(first.paths) == {"record_lr"} and set(second.paths) == {"record_lr", "record_hr"}
    assert first.attributes["fs_hz_available"] == [100.0]
    assert second.attributes["fs_hz_available"] == [100.0, 500.0]
    assert all(p.is_file() for r in cohort.records for p in r.paths.values())


def test_bad_rows_are_recorded_and_scan_continues(mini: Path) -> None:
    cohort = ptbxl.scan(mini)
    bad = {b.subject_id: b for b in cohort.bad_cases}
    assert set(bad) == {"00003", "00004"}
    for case in bad.values():
        assert case.path.endswith("ptbxl_database.csv")
    assert "ecg_id 3" in bad["00003"].problem and "no record files" in bad["00003"].problem
    assert "ecg_id 4" in bad["00004"].problem and "scp_codes" in bad["00004"].problem


def test_duplicate_ecg_id_is_a_bad_case(tmp_path: Path) -> None:
    rows = [_row(1, 1.0, "{'NORM': 100.0}", 1), _row(1, 2.0, "{'NORM': 100.0}", 2)]
    root = make_ptbxl(tmp_path / "dup", rows, {"records100/00000/00001_lr": 100.0})
    cohort = ptbxl.scan(root)
    assert cohort.subject_ids == ["00001"] and cohort["00001"].patient_id == "1"
    assert [b.subject_id for b in cohort.bad_cases] == ["00001"]
    assert "more than one row" in cohort.bad_cases[0].problem


def test_without_statements_superclasses_are_none(tmp_path: Path) -> None:
    root = make_ptbxl(tmp_path / "nostat", [_row(1, 1.0, "{'NORM': 100.0}", 1)],
                      {"records100/00000/00001_lr": 100.0}, statements=False)
    assert ptbxl.scan(root)["00001"].attributes["diagnostic_superclasses"] is None


def test_missing_column_names_the_csv(tmp_path: Path) -> None:
    columns = [c for c in COLUMNS if c != "strat_fold"]
    root = make_ptbxl(tmp_path / "nofold", [_row(1, 1.0, "{'NORM': 100.0}", 1)], {}, columns=columns)
    with pytest.raises(MalformedTableError, match=r"ptbxl_database\.csv.*strat_fold"):
        ptbxl.scan(root)


def test_unreadable_csv_names_the_csv(tmp_path: Path) -> None:
    root = tmp_path / "bin"
    root.mkdir()
    (root / "ptbxl_database.csv").write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    with pytest.raises(MalformedTableError, match=r"ptbxl_database\.csv"):
        ptbxl.scan(root)


def test_load_prefers_500_hz_and_adds_demographics(mini: Path) -> None:
    cohort = ptbxl.scan(mini)
    high = ptbxl.load(cohort["00002"])
    assert high.fs_hz == 500.0 and high.signal_mv.shape == (500, 12)
    assert high.subject_id == "00002"
    low = ptbxl.load(cohort["00001"])
    assert low.fs_hz == 100.0 and low.signal_mv.shape == (100, 12)
    assert low.metadata["age"] == 61.0 and low.metadata["sex"] == "F"
    np.testing.assert_allclose(low.signal_mv, _ecg(100.0, 0).signal_mv, atol=0.5e-3 + 1e-6)


@pytest.mark.real_data
def test_real_ptbxl_scan_and_load(shared_data: Path) -> None:
    root = shared_data / "ptbxl"
    cohort = ptbxl.scan(root)
    assert len(cohort) == 353 and cohort.bad_cases == []
    assert cohort.n_patients == 339
    assert cohort.class_counts() == {"LVH": 20, "no_LVH": 333}
    folds = {r.attributes["strat_fold"] for r in cohort.records}
    assert folds == set(range(1, 9))
    folds_by_patient: dict[str, set[int]] = defaultdict(set)
    for r in cohort.records:
        folds_by_patient[r.patient_id].add(r.attributes["strat_fold"])
    assert all(len(f) == 1 for f in folds_by_patient.values())
    superclasses = Counter(s for r in cohort.records for s in r.attributes["diagnostic_superclasses"])
    assert superclasses == {"CD": 57, "HYP": 25, "MI": 49, "NORM": 225, "STTC": 59}
    assert cohort["00001"].patient_id == "15709" and cohort["00001"].attributes["sex"] == "F"
    for record in cohort.records:
        assert set(record.paths) == {"record_lr"}  # the 500 Hz files are not in this copy
        ecg = ptbxl.load(record)
        assert ecg.fs_hz == 100.0 and ecg.signal_mv.shape == (1000, 12)
        assert np.isfinite(ecg.signal_mv).all()
        assert ecg.subject_id == record.subject_id
