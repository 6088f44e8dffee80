"""Generic WFDB-folder layout: nested records, Dx labels, bad headers, real samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from cardiolens.data.ecg import ECG12
from cardiolens.io.layouts import wfdb_folder
from cardiolens.io.wfdb_io import write_wfdb


def _ecg(seed: int, **metadata: object) -> ECG12:
    rng = np.random.default_rng(seed)
    return ECG12(signal_mv=rng.normal(0, 0.4, size=(200, 12)), fs_hz=200.0, metadata=dict(metadata))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ecgs"
    write_wfdb(_ecg(0, age=70, sex="M", dx=["164873001", "426783006"]), root / "lvh1")
    write_wfdb(_ecg(1, age=45, sex="F", dx=["426783006"]), root / "site_a" / "normal1")
    write_wfdb(_ecg(2), root / "site_a" / "deep" / "nodx")
    write_wfdb(_ecg(3, dx=["164873001"]), root / "a" / "b" / "c" / "too_deep")  # 3 levels: ignored
    write_wfdb(_ecg(4, dx=["164873001"]), root / ".staging" / "hidden")  # hidden folder: ignored
    (root / "empty.hea").write_bytes(b"")
    (root / "junk.hea").write_text("not a header at all\n")
    six = np.random.default_rng(5).normal(size=(200, 6))
    wfdb.wrsamp("six", fs=200, units=["mV"] * 6, sig_name=["I", "II", "III", "aVR", "aVL", "aVF"],
                p_signal=six, fmt=["16"] * 6, write_dir=str(root))
    write_wfdb(_ecg(6), root / "nodat")
    (root / "nodat.dat").unlink()
    return root


def test_looks_like(folder: Path, tmp_path: Path) -> None:
    assert wfdb_folder.looks_like(folder)
    assert wfdb_folder.looks_like(folder / "site_a")
    empty = tmp_path / "nothing"
    (empty / "x" / "y" / "z").mkdir(parents=True)
    (empty / "x" / "y" / "z" / "deep.hea").write_text("deep 12 500 10\n")
    assert not wfdb_folder.looks_like(empty)  # three levels down is too deep


def test_scan_finds_records_up_to_two_levels_with_labels(folder: Path) -> None:
    cohort = wfdb_folder.scan(folder)
    assert cohort.layout == "wfdb"
    assert sorted(cohort.subject_ids) == ["lvh1", "site_a/deep/nodx", "site_a/normal1"]
    assert cohort["lvh1"].label == "LVH"
    assert cohort["site_a/normal1"].label == "no_LVH"
    assert cohort["site_a/deep/nodx"].label is None
    attrs = cohort["lvh1"].attributes
    assert attrs["age"] == 70.0 and attrs["sex"] == "M" and attrs["dx"] == ["164873001", "426783006"]
    assert attrs["fs_hz"] == 200.0 and attrs["n_samples"] == 200
    assert cohort["site_a/normal1"].attributes["sex"] == "F"


def test_unusable_headers_are_bad_cases(folder: Path) -> None:
    bad = {b.subject_id: b for b in wfdb_folder.scan(folder).bad_cases}
    assert set(bad) == {"empty", "junk", "six", "nodat"}
    assert bad["empty"].path.endswith("empty.hea") and "empty" in bad["empty"].problem
    assert bad["junk"].path.endswith("junk.hea") and "unreadable WFDB header" in bad["junk"].problem
    assert bad["six"].path.endswith("six.hea") and "missing V1" in bad["six"].problem
    assert bad["nodat"].path.endswith("nodat.dat")


def test_load_returns_the_written_signal(folder: Path) -> None:
    cohort = wfdb_folder.scan(folder)
    ecg = wfdb_folder.load(cohort["site_a/normal1"])
    assert ecg.subject_id == "site_a/normal1"
    assert ecg.fs_hz == 200.0
    np.testing.assert_allclose(ecg.signal_mv, _ecg(1).signal_mv, atol=0.5e-3 + 1e-6)


@pytest.mark.real_data
def test_real_cinc2021_folder(shared_data: Path) -> None:
    cohort = wfdb_folder.scan(shared_data / "ecg_samples" / "cinc2021")
    assert len(cohort) == 50 and cohort.bad_cases == []
    assert sorted(r.subject_id for r in cohort.records if r.label == "LVH") == ["E07505", "E07519", "JS20014"]
    assert all(r.label == "no_LVH" for r in cohort.records if r.label != "LVH")
    assert {r.attributes["fs_hz"] for r in cohort.records} == {500.0}
    ecg = wfdb_folder.load(cohort["JS20014"])
    assert ecg.signal_mv.shape == (5000, 12) and ecg.fs_hz == 500.0


@pytest.mark.real_data
def test_real_ptbdb_folder(shared_data: Path) -> None:
    cohort = wfdb_folder.scan(shared_data / "ecg_samples" / "ptbdb")
    record = cohort["s0010_re"]
    assert record.label is None  # PTB headers carry no Dx codes
    assert record.attributes["age"] == 81.0 and record.attributes["sex"] == "F"
    assert record.attributes["fs_hz"] == 1000.0 and record.attributes["n_samples"] == 38400
    assert wfdb_folder.load(record).signal_mv.shape == (38400, 12)
