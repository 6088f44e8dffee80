"""A simulated ECG–CMR paired cohort: 12-lead ECGs with the CMR LV mass they were drawn from.

Cheaper than the full cohort (no images), so ``ecg2lvm`` can train on
thousands of subjects. LV mass is drawn per subject from a sex-specific
log-normal (about 150 ± 35 g in men, 115 ± 28 g in women, a wide spread so
that LVH is present) and the ECG follows it through
:func:`cardiolens.synth.ecg.simulate_ecg`; outcomes follow mass, age and sex
(:func:`cardiolens.synth.outcomes.simulate_outcomes`). Written as WFDB records
plus ``table.csv`` (the user-table format of ``ecg2lvm``). SIMULATED DATA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cardiolens import SIMULATED_NOTICE
from cardiolens.errors import UsageError
from cardiolens.io.atomic import atomic_dir
from cardiolens.io.wfdb_io import write_wfdb
from cardiolens.synth.ecg import simulate_ecg
from cardiolens.synth.outcomes import simulate_outcomes

#: Median LV mass (g) and log-scale spread by sex.
MASS_MEDIAN_G = {"M": 150.0, "F": 115.0}
MASS_LOG_SD = 0.24


def simulate_ecg_row(index: int, seed: int) -> tuple[dict[str, object], object]:
    """Subject ``index``: its table row (truth, demographics, outcomes) and its ECG."""
    rng = np.random.default_rng([seed, index, 7])
    sex = "M" if rng.random() < 0.55 else "F"
    age = float(np.clip(rng.normal(58, 13), 20, 90))
    height = float(rng.normal(176 if sex == "M" else 163, 7))
    weight = float(np.clip(rng.normal(26, 4), 18, 42)) * (height / 100) ** 2
    mass = float(MASS_MEDIAN_G[sex] * np.exp(rng.normal(0, MASS_LOG_SD)))
    sid = f"ECG{index + 1:05d}"
    ecg = simulate_ecg(rng, lv_mass_g=mass, sex=sex, age_years=age, subject_id=sid)
    outcomes = simulate_outcomes(rng, np.array([mass]), np.array([age]), np.array([sex])).iloc[0].to_dict()
    row = {"subject_id": sid, "record": f"records/{sid}", "lv_mass_g": round(mass, 2), "age": round(age, 1), "sex": sex,
           "height_cm": round(height, 1), "weight_kg": round(weight, 1), "simulated": True, **outcomes}
    return row, ecg


def write_paired_ecg_cohort(out_dir: str | Path, n: int = 1000, seed: int = 0, first_index: int = 0) -> Path:
    """Write ``n`` simulated ECG–LV-mass pairs (WFDB + table.csv); the folder appears only when complete.

    Subjects ``first_index .. first_index + n - 1`` are written, so a second
    call with ``first_index=n`` gives new, independent subjects (a separate
    evaluation cohort whose IDs do not collide with the first).
    """
    if n < 1:
        raise UsageError(f"the cohort needs at least 1 subject, got {n}")
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        (tmp / "SIMULATED_DATA.txt").write_text(SIMULATED_NOTICE + "\n", encoding="utf-8")
        rows = []
        for i in range(first_index, first_index + n):
            row, ecg = simulate_ecg_row(i, seed)
            write_wfdb(ecg, tmp / str(row["record"]))
            rows.append(row)
        pd.DataFrame(rows).to_csv(tmp / "table.csv", index=False)
    return out
