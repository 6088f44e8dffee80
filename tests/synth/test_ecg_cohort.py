import numpy as np
import pandas as pd

from cardiolens.cli.app import main
from cardiolens.io.wfdb_io import read_wfdb
from cardiolens.synth.ecg_cohort import simulate_ecg_row, write_paired_ecg_cohort


def test_paired_cohort_table_records_and_determinism(tmp_path):
    root = write_paired_ecg_cohort(tmp_path / "pairs", n=6, seed=3)
    table = pd.read_csv(root / "table.csv")
    assert len(table) == 6 and table.simulated.all()
    assert {"record", "lv_mass_g", "age", "sex", "hf_time_days", "hf_event"} <= set(table.columns)
    ecg = read_wfdb(root / table.record[0])
    assert ecg.signal_mv.shape == (5000, 12) and ecg.fs_hz == 500
    again, _ = simulate_ecg_row(0, 3)
    assert again["lv_mass_g"] == table.lv_mass_g[0]
    assert "SIMULATED" in (root / "SIMULATED_DATA.txt").read_text()


def test_masses_are_plausible_and_sex_specific():
    rows = [simulate_ecg_row(i, 0)[0] for i in range(300)]
    mass = np.array([r["lv_mass_g"] for r in rows])
    male = np.array([r["sex"] == "M" for r in rows])
    assert 60 < mass.min() and mass.max() < 400
    assert mass[male].mean() > mass[~male].mean() + 15


def test_cli_kind_ecg(tmp_path, capsys):
    assert main(["data", "synth", "--kind", "ecg", "--n", "3", "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "table.csv").exists()
    assert main(["data", "synth", "--kind", "pet", "--n", "3", "--out", str(tmp_path / "x")]) == 2
