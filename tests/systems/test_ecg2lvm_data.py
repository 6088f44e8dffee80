"""ecg2lvm datasets: loading, resampling, folds and the errors that name the file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from cardiolens.data.ecg import ECG12
from cardiolens.errors import LeadConfigurationError
from cardiolens.io.wfdb_io import write_wfdb
from cardiolens.synth.ecg import simulate_ecg
from cardiolens.systems.ecg2lvm.config import Ecg2LvmConfig
from cardiolens.systems.ecg2lvm.data import load_dataset, patient_fold, prepare_signal


def write_mini_cohort(root: Path, n: int = 8) -> pd.DataFrame:
    """A minimal folder in the simulated-cohort layout: manifest, sidecars and ECGs only."""
    root.mkdir(parents=True)
    (root / "SIMULATED_DATA.txt").write_text("simulated\n")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        sid = f"SIM{i + 1:04d}"
        sex = "M" if i % 2 == 0 else "F"
        mass = 80.0 + 15.0 * i
        folder = root / sid
        folder.mkdir()
        (folder / "subject.json").write_text('{"ecg": {"metadata": {}}}')
        write_wfdb(simulate_ecg(rng, lv_mass_g=mass, sex=sex, age_years=50 + i, subject_id=sid), folder / "ecg")
        rows.append({"subject_id": sid, "cine_group": "NOR", "sex": sex, "age_years": 50.0 + i, "height_cm": 170.0,
                     "weight_kg": 70.0, "lv_mass_g": mass, "hf_time_days": 100.0 + i, "hf_event": i % 3 == 0})
    table = pd.DataFrame(rows)
    table.to_csv(root / "manifest.csv", index=False)
    return table


def test_prepare_signal_resamples_and_keeps_millivolts() -> None:
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    wave = 1.5 * np.sin(2 * np.pi * 5 * t)  # 1.5 mV, 5 Hz: well inside the 100 Hz band
    ecg = ECG12(np.tile(wave[:, None], (1, 12)), fs_hz=fs, source="sine.hea")
    out = prepare_signal(ecg, Ecg2LvmConfig(fs_hz=100.0, duration_s=10.0))
    assert out.shape == (12, 1000) and out.dtype == np.float32
    expected = 1.5 * np.sin(2 * np.pi * 5 * np.arange(1000) / 100.0)
    # No per-record z-scoring: the amplitude in mV is preserved.
    assert np.max(np.abs(out[3, 50:-50] - expected[50:-50])) < 0.02


def test_prepare_signal_pads_short_records_with_zeros() -> None:
    ecg = ECG12(np.ones((700, 12)), fs_hz=100.0, source="short.hea")
    out = prepare_signal(ecg, Ecg2LvmConfig())
    assert np.all(out[:, :700] == 1.0) and np.all(out[:, 700:] == 0.0)


def test_sampling_rate_below_model_names_the_file() -> None:
    ecg = ECG12(np.zeros((500, 12)), fs_hz=50.0, source="/data/low_rate.hea")
    with pytest.raises(LeadConfigurationError, match="low_rate.hea.*50 Hz"):
        prepare_signal(ecg, Ecg2LvmConfig(fs_hz=100.0))


def test_too_short_record_names_the_file() -> None:
    ecg = ECG12(np.zeros((200, 12)), fs_hz=100.0, source="/data/two_seconds.hea")
    with pytest.raises(LeadConfigurationError, match="two_seconds.hea"):
        prepare_signal(ecg, Ecg2LvmConfig())


def test_wrong_lead_count_is_a_bad_case_naming_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    write_wfdb(simulate_ecg(rng, lv_mass_g=120, sex="M", age_years=60), tmp_path / "good")
    wfdb.wrsamp("eight", fs=500, units=["mV"] * 8, sig_name=["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"],
                p_signal=rng.normal(0, 0.1, (5000, 8)), fmt=["16"] * 8, write_dir=str(tmp_path))
    dataset = load_dataset(tmp_path, Ecg2LvmConfig())
    assert dataset.subject_ids == ["good"]
    assert len(dataset.bad_cases) == 1
    bad = dataset.bad_cases[0]
    assert "eight.hea" in bad.path and "III" in bad.problem  # names the missing leads


def test_load_simulated_cohort(tmp_path: Path) -> None:
    manifest = write_mini_cohort(tmp_path / "cohort", n=6)
    config = Ecg2LvmConfig()
    dataset = load_dataset(tmp_path / "cohort", config)
    assert dataset.layout == "synthetic" and dataset.simulated
    assert dataset.signals.shape == (6, 12, 1000) and len(dataset.ecgs) == 6
    table = dataset.table
    assert table["lv_mass_g"].tolist() == manifest["lv_mass_g"].tolist()
    assert table["age"].tolist() == manifest["age_years"].tolist()
    bsa = math.sqrt(170 * 70 / 3600)
    assert table["bsa_m2"].iloc[0] == pytest.approx(bsa)
    # LVH from the mass index against the sex-specific limit (71 g/m2 men, 56 g/m2 women).
    limits = np.where(manifest["sex"] == "M", 71.0, 56.0)
    assert table["lvh"].tolist() == (manifest["lv_mass_g"] / bsa > limits).astype(float).tolist()
    assert table["fold"].tolist() == [patient_fold(s) for s in manifest["subject_id"]]
    assert table["hf_event"].tolist() == manifest["hf_event"].astype(float).tolist()
    assert "hf_time_days" in table.columns


def test_patient_fold_is_deterministic_and_in_range() -> None:
    folds = [patient_fold(f"P{i}") for i in range(200)]
    assert folds == [patient_fold(f"P{i}") for i in range(200)]
    assert set(folds) == set(range(1, 11))


def test_load_csv_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    (tmp_path / "recs").mkdir()
    for name in ("a", "b"):
        write_wfdb(simulate_ecg(rng, lv_mass_g=150, sex="F", age_years=40), tmp_path / "recs" / name)
    pd.DataFrame({"record": ["recs/a", "recs/b"], "lv_mass_g": [150.0, np.nan], "sex": ["F", "F"], "patient_id": ["p1", "p1"]}).to_csv(
        tmp_path / "table.csv", index=False
    )
    dataset = load_dataset(tmp_path / "table.csv")
    assert dataset.layout == "csv" and dataset.subject_ids == ["recs/a", "recs/b"]
    assert dataset.table["fold"].nunique() == 1  # one patient, one fold
    assert math.isnan(dataset.table["lv_mass_g"].iloc[1]) and math.isnan(dataset.table["lvh"].iloc[1])


@pytest.mark.real_data
def test_load_ptbxl(shared_data: Path) -> None:
    root = shared_data / "ptbxl"
    dataset = load_dataset(root, Ecg2LvmConfig(), limit=12)
    assert dataset.layout == "ptbxl" and dataset.signals.shape == (12, 12, 1000)
    database = pd.read_csv(root / "ptbxl_database.csv").set_index("ecg_id")
    for sid, fold in zip(dataset.subject_ids, dataset.table["fold"]):
        assert fold == database.loc[int(sid), "strat_fold"]
    assert set(dataset.table["lvh"].unique()) <= {0.0, 1.0}
    assert dataset.table["lv_mass_g"].isna().all()  # PTB-XL has no imaging mass
    assert np.abs(dataset.signals).max() < 10.0  # mV scale, not z-scored
