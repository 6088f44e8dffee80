"""The demo's measurement step: measure the simulated cohort and compare with the simulator's truth.

Measuring the simulator's own label masks must reproduce its truth (a
self-consistency check of the measurement code, not a performance result);
the threshold-based LGE and the ECG voltages are real estimates, compared
with the truth with 95% CIs. All of it is simulated data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from cardiolens.io.layouts.synthetic import SyntheticStudy
from cardiolens.measure.cine import measure_cine
from cardiolens.measure.ecg import measure_ecg
from cardiolens.measure.ecg_lvh import lvh_criteria
from cardiolens.measure.ivpg import IVPGResult, compute_ivpg
from cardiolens.measure.lge import measure_lge
from cardiolens.report import figures
from cardiolens.report.html import HtmlReport
from cardiolens.stats.agreement import bland_altman, pearson
from cardiolens.stats.estimate import Estimate

#: n for the demo's n-SD LGE threshold (2 SD tracks the simulated scar best; see measure/lge.py).
DEMO_N_SD = 2.0


@dataclass
class DemoMeasurements:
    table: pd.DataFrame
    agreement: pd.DataFrame
    ivpg_example: IVPGResult
    metrics: dict[str, dict[str, Any]]


def _estimate_row(name: str, estimate: Estimate, unit: str) -> dict[str, Any]:
    ci = estimate.ci
    return {"comparison": name, "value": estimate.value, "ci_low": None if ci is None else ci[0], "ci_high": None if ci is None else ci[1], "unit": unit, "n": estimate.n}


def measure_cohort(studies: list[SyntheticStudy]) -> DemoMeasurements:
    """Cine volumes/EF/mass, IVPG, n-SD %LGE and ECG voltages of every simulated subject."""
    rows, ivpg_by_subject = [], {}
    for s in studies:
        cine = measure_cine(s.cine).to_dict()
        ivpg = compute_ivpg(s.cine)
        ivpg_by_subject[s.subject_id] = ivpg
        lge = measure_lge(s.lge, method="nsd", n_sd=DEMO_N_SD).to_dict()
        ecg = measure_ecg(s.ecg, sex=s.attributes["sex"])
        rules = lvh_criteria(ecg, s.attributes["sex"]).to_dict()
        rows.append(
            {
                "subject_id": s.subject_id,
                "cine_group": s.attributes["cine_group"],
                "lv_ef_pct": cine["lv_ef_pct"],
                "lv_ef_pct_truth": s.attributes["lv_ef_pct"],
                "lv_mass_g": cine["lv_mass_g"],
                "lv_mass_g_truth": s.attributes["lv_mass_g"],
                "max_wall_mm": cine["max_wall_thickness_mm"],
                "ivpg_peak_systolic_mmhg": ivpg.to_dict(include_curves=False)["peak_systolic_mmhg"],
                "ivpg_suction_mmhg": ivpg.to_dict(include_curves=False)["early_diastolic_suction_mmhg"],
                "pct_lge_2sd": lge["pct_lge"],
                "pct_lge_truth": s.attributes["pct_lge"],
                "sokolow_lyon_mv": rules["sokolow_lyon_mv"],
                "qrs_ms": ecg.to_dict()["qrs_ms"],
                "any_lvh_rule": rules["any_rule"],
            }
        )
    table = pd.DataFrame(rows)
    checks = {
        "ef_vs_truth": (bland_altman(table.lv_ef_pct, table.lv_ef_pct_truth, unit="pct").bias, "%"),
        "mass_vs_truth": (bland_altman(table.lv_mass_g, table.lv_mass_g_truth, unit="g").bias, "g"),
    }
    estimates: dict[str, tuple[Estimate, str]] = dict(checks)
    if len(table) >= 4:
        lge_agreement = bland_altman(table.pct_lge_2sd, table.pct_lge_truth, unit="pct")
        estimates["pct_lge_2sd_bias"] = (lge_agreement.bias, "% points")
        estimates["pct_lge_2sd_pearson_r"] = (pearson(table.pct_lge_2sd, table.pct_lge_truth), "")
        estimates["sokolow_lyon_vs_mass_pearson_r"] = (pearson(table.sokolow_lyon_mv, table.lv_mass_g_truth), "")
    agreement = pd.DataFrame([_estimate_row(name, est, unit) for name, (est, unit) in estimates.items()])
    example_id = next((s.subject_id for s in studies if s.attributes["cine_group"] == "NOR"), studies[0].subject_id)
    return DemoMeasurements(table, agreement, ivpg_by_subject[example_id], {k: e.to_metric() for k, (e, _) in estimates.items()})


def add_to_report(report: HtmlReport, measured: DemoMeasurements) -> None:
    report.heading("Measurements (simulated cohort)")
    report.paragraph(
        "Cine volumes, EF, mass and wall thickness by disc summation of the simulated label masks; IVPG by the "
        "1-D Euler method on every frame; %LGE by a 2-SD threshold inside the myocardium; ECG voltages from "
        "median beats. Measuring the simulator's own masks must reproduce its truth (bias 0): a self-check of "
        "the code. The 2-SD %LGE and the ECG voltages are estimates compared with the truth, with 95% CIs. "
        "Simulated data: not a clinical performance result."
    )
    report.table(measured.table)
    report.table(measured.agreement)
    ivpg = measured.ivpg_example
    report.figure(
        figures.ivpg_curves(
            ivpg.time_ms,
            {"total": ivpg.total_mmhg, "basal": ivpg.basal_mmhg, "mid": ivpg.mid_mmhg, "apical": ivpg.apical_mmhg},
            f"IVPG of {ivpg.subject_id}",
        ),
        "Intraventricular pressure difference apex - base over the cycle (positive: apex higher, ejection).",
    )


__all__ = ["DEMO_N_SD", "DemoMeasurements", "add_to_report", "measure_cohort"]
