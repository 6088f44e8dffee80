"""Per-group measurements on ACDC ground truth (real data): do they point the ACDC criteria's way?

Usage: python benchmarks/acdc_measurements.py [ACDC_DIR]
(default: $CARDIOLENS_SHARED_DATA/acdc or ../shared/data/acdc). Writes
benchmarks/results/acdc_measurements.{json,md} and prints the table.

Volumes, mass and wall thickness need the voxel spacing, which this copy of
ACDC lacks for 33 of 60 patients: those enter the spacing-invariant columns
(EF, RV/LV EDV ratio) only. IVPG uses the real ED/ES geometry moved along a
template time course (ACDC has masks at ED/ES only and no frame timing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from common import shared_dataset

from cardiolens.measure.studies import measure_cine_studies

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def group_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "group": r["label"],
            "spacing_known": r["spacing_known"],
            "lv_ef_pct": r["lv_ef_pct"],
            "rv_ef_pct": r["rv_ef_pct"],
            "rv_lv_edv_ratio": r["rv_lv_edv_ratio"],
            "lv_edvi_ml_m2": r["lv_edvi_ml_m2"],
            "lv_massi_g_m2": r["lv_massi_g_m2"],
            "max_wall_thickness_mm": r["max_wall_thickness_mm"],
            "ivpg_peak_systolic_mmhg": r["ivpg"]["peak_systolic_mmhg"] if r["spacing_known"] else None,
            "ivpg_suction_mmhg": r["ivpg"]["early_diastolic_suction_mmhg"] if r["spacing_known"] else None,
        }
        for r in rows
        if "error" not in r
    )
    numeric = frame.drop(columns=["group", "spacing_known"]).astype(float)
    medians = numeric.groupby(frame["group"]).median().round(2)
    counts = frame.groupby("group").agg(n=("group", "size"), n_spacing_known=("spacing_known", "sum"))
    return counts.join(medians).reset_index()


def main(acdc_dir: Path) -> pd.DataFrame:
    rows = measure_cine_studies([acdc_dir])
    failed = [r for r in rows if "error" in r]
    table = group_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "acdc_measurements.json").write_text(
        json.dumps({"data": str(acdc_dir), "n_subjects": len(rows), "failed": failed, "medians_by_group": table.to_dict(orient="records")}, indent=1)
    )
    (RESULTS / "acdc_measurements.md").write_text(table.to_markdown(index=False) + "\n")
    print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else shared_dataset("acdc"))
