"""``cardiolens demo``: the main job on the embedded simulated cohort.

Simulates a small cohort, writes it to disk (NIfTI, and two subjects also as
DICOM), reads everything back through layout auto-detection, checks the round
trip, and writes ``report.html`` and ``summary.json``. Later parts of the
toolkit (measurements, systems) add their own steps here. Everything it
produces is labelled simulated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from cardiolens import SIMULATED_NOTICE, __version__, demo_ecg2lvm, demo_echo2cmr, demo_lge, demo_nicm, demo_scar_pattern
from cardiolens.data import CINE_LABELS, LGE_LABELS, MAP_LABELS, CineCMR
from cardiolens.demo_measure import add_to_report, measure_cohort
from cardiolens.errors import DataError
from cardiolens.io.atomic import write_text_atomic
from cardiolens.io.layouts import detect_layout, layout_module
from cardiolens.io.layouts.synthetic import SyntheticStudy, write_cohort
from cardiolens.report import figures
from cardiolens.report.html import HtmlReport
from cardiolens.synth.cohort import simulate_subject

#: Subjects of the demo that are also written and read back as DICOM.
N_DICOM_SUBJECTS = 2


@dataclass
class DemoResult:
    out_dir: Path
    report_path: Path
    summary: dict[str, Any] = field(default_factory=dict)


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def _relative_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max absolute difference as a fraction of the value range of ``a``."""
    span = float(np.ptp(a)) or 1.0
    return _max_abs_diff(a, b) / span


def round_trip_errors(original: SyntheticStudy, read: SyntheticStudy) -> dict[str, float]:
    """How far the data read back is from the data written (0 means identical)."""
    return {
        "cine_rel_error": _relative_diff(original.cine.image, read.cine.image),
        "cine_spacing_error_mm": _max_abs_diff(original.cine.spacing_mm, read.cine.spacing_mm),
        "cine_affine_error_mm": _max_abs_diff(original.cine.affine, read.cine.affine),
        "trigger_time_error_ms": _max_abs_diff(original.cine.trigger_times_ms, read.cine.trigger_times_ms),
        "cine_labels_equal": float(all(np.array_equal(original.cine.segmentations[t], read.cine.segmentations[t]) for t in original.cine.segmentations)),
        "lge_rel_error": _relative_diff(original.lge.image, read.lge.image),
        "lge_spacing_error_mm": _max_abs_diff(original.lge.spacing_mm, read.lge.spacing_mm),
        "echo_max_error": _max_abs_diff(original.echo.frames, read.echo.frames),
        "ecg_max_error_mv": _max_abs_diff(original.ecg.signal_mv, read.ecg.signal_mv),
    }


def lv_volume_curve_ml(cine: CineCMR) -> np.ndarray:
    """LV cavity volume per frame from the label masks (voxel count x voxel volume)."""
    label = CINE_LABELS["lv_cavity"]
    return np.array([np.count_nonzero(cine.segmentations[t] == label) for t in range(cine.n_frames)]) * cine.voxel_volume_ml


def _read_back(root: Path) -> tuple[str, list[SyntheticStudy], list[dict[str, str]]]:
    layout = detect_layout(root)
    module = layout_module(layout)
    cohort = module.scan(root)
    studies, bad = [], [{"subject_id": b.subject_id, "path": b.path, "problem": b.problem} for b in cohort.bad_cases]
    for record in cohort.records:
        try:
            studies.append(module.load(record))
        except DataError as exc:  # a batch reports the bad case and continues
            bad.append({"subject_id": record.subject_id, "path": exc.path, "problem": exc.problem})
    return layout, studies, bad


def _build_report(studies: list[SyntheticStudy], manifest: pd.DataFrame, round_trip: pd.DataFrame, layout: str, bad: list[dict[str, str]]) -> HtmlReport:
    report = HtmlReport("cardiolens demo: simulated cohort", simulated=True)
    report.heading("Cohort")
    report.paragraph(
        f"{len(studies)} simulated subjects written to disk and read back through layout "
        f"auto-detection (detected layout: {layout}). Bad cases: {len(bad)}."
    )
    columns = [
        "subject_id", "cine_group", "sex", "age_years", "lv_edv_ml", "lv_ef_pct", "lv_mass_g", "rv_ef_pct",
        "lge_pattern", "pct_lge", "scar_pattern", "wma", "native_t1_ms", "t2_ms", "ecv_pct",
    ]
    report.table(manifest[[c for c in columns if c in manifest.columns]])
    report.paragraph("Values are the simulator's ground truth (from the label masks), not measurements of patients.")
    report.heading("DICOM round trip")
    report.paragraph("Subjects written as DICOM (MR cine/LGE, ultrasound multi-frame) and read back; 0 means identical.")
    report.table(round_trip, float_format="{:.2e}")
    report.heading("Cine CMR")
    by_group = {s.attributes["cine_group"]: s for s in studies}
    report.figure(figures.cine_grid([s.cine for s in by_group.values()], list(by_group)), "Mid-ventricular slice at ED/ES per group; contours: RV (blue), myocardium (green), LV cavity (red).")
    report.figure(
        figures.volume_curves(
            {s.subject_id: lv_volume_curve_ml(s.cine) for s in studies},
            {s.subject_id: np.asarray(s.cine.trigger_times_ms) for s in studies},
        ),
        "LV cavity volume over the cycle from the simulated label masks.",
    )
    report.heading("LGE and parametric maps")
    lge_cases = sorted(studies, key=lambda s: -s.attributes.get("pct_lge", 0))[:4]
    lge_colours = {LGE_LABELS["infarct"]: "yellow", LGE_LABELS["mvo"]: "cyan", LGE_LABELS["normal_myocardium"]: "tab:green"}
    report.figure(
        figures.volume_overlays([s.lge for s in lge_cases], [f"{s.subject_id} {s.attributes['lge_pattern']}" for s in lge_cases], lge_colours),
        "LGE, middle slice; contours: normal myocardium (green), scar (yellow), MVO (cyan).",
    )
    by_pattern = {s.attributes["scar_pattern"]: s for s in studies}
    report.figure(
        figures.volume_overlays([s.maps["os_dsi"] for s in by_pattern.values()], list(by_pattern), {MAP_LABELS["abnormal_myocardium"]: "red"}),
        "Oxygenation-sensitive %ΔSI maps per scar pattern; red: abnormal myocardium.",
    )
    report.heading("Echo and ECG")
    wma_case = next((s for s in studies if s.attributes.get("wma")), studies[0])
    report.figure(figures.echo_strip(wma_case.echo), f"Apical four-chamber clip of {wma_case.subject_id} (WMA: {wma_case.attributes.get('wma')}).")
    heaviest = max(studies, key=lambda s: s.attributes["lv_mass_g"])
    report.figure(figures.ecg_12lead(heaviest.ecg), f"12-lead ECG of {heaviest.subject_id} (LV mass {heaviest.attributes['lv_mass_g']:.0f} g).")
    if bad:
        report.heading("Bad cases")
        report.table(pd.DataFrame(bad))
    return report


def run_demo(out_dir: str | Path, n_subjects: int = 10, seed: int = 0, progress: Progress | None = None) -> DemoResult:
    """Run the demo into ``out_dir``; returns where the report is and a summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = progress.add_task("simulating subjects", total=n_subjects) if progress else None
    studies = []
    for i in range(n_subjects):
        studies.append(simulate_subject(i, seed))
        if progress is not None and task is not None:
            progress.advance(task)
    manifest = pd.DataFrame([s.attributes for s in studies])
    manifest.insert(1, "simulated", True)

    steps = "writing, reading back, measuring, ecg2lvm, cine-seg + nicm, echo2cmr, scar-pattern, lge"
    step = progress.add_task(steps, total=8) if progress else None

    def advance() -> None:
        if progress is not None and step is not None:
            progress.advance(step)

    write_cohort(studies, manifest, out / "cohort", "nifti")
    n_dicom = min(N_DICOM_SUBJECTS, n_subjects)
    write_cohort(studies[:n_dicom], manifest.iloc[:n_dicom], out / "cohort_dicom", "dicom")
    advance()
    layout, read_studies, bad = _read_back(out / "cohort")
    _, read_dicom, bad_dicom = _read_back(out / "cohort_dicom")
    advance()
    originals = {s.subject_id: s for s in studies}
    rows = [{"subject_id": s.subject_id, "format": "nifti", **round_trip_errors(originals[s.subject_id], s)} for s in read_studies[:n_dicom]]
    rows += [{"subject_id": s.subject_id, "format": "dicom", **round_trip_errors(originals[s.subject_id], s)} for s in read_dicom]
    round_trip = pd.DataFrame(rows)
    report = _build_report(read_studies, manifest, round_trip, layout, bad + bad_dicom)
    measured = measure_cohort(read_studies)
    add_to_report(report, measured)
    advance()
    ecg2lvm_result = demo_ecg2lvm.run(out, seed=seed)
    demo_ecg2lvm.add_to_report(report, ecg2lvm_result, out)
    advance()
    nicm_result = demo_nicm.run(out, out / "cohort", n_subjects, seed=seed)
    demo_nicm.add_to_report(report, nicm_result, out)
    advance()
    echo2cmr_result = demo_echo2cmr.run(out, seed=seed)
    demo_echo2cmr.add_to_report(report, echo2cmr_result, out)
    advance()
    scar_pattern_result = demo_scar_pattern.run(out, seed=seed)
    demo_scar_pattern.add_to_report(report, scar_pattern_result, out)
    advance()
    lge_result = demo_lge.run(out, seed=seed)
    demo_lge.add_to_report(report, lge_result, out)
    report_path = report.write(out / "report.html")
    summary = {
        "notice": SIMULATED_NOTICE,
        "cardiolens_version": __version__,
        "n_subjects": n_subjects,
        "seed": seed,
        "detected_layout": layout,
        "n_read_back": len(read_studies),
        "bad_cases": bad + bad_dicom,
        "round_trip": rows,
        "classes": manifest["cine_group"].value_counts().sort_index().to_dict(),
        "measurement_checks": measured.metrics,
        "ecg2lvm": ecg2lvm_result,
        "nicm": nicm_result,
        "echo2cmr": echo2cmr_result,
        "scar_pattern": scar_pattern_result,
        "lge": lge_result,
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1, default=str))
    advance()
    return DemoResult(out_dir=out, report_path=report_path, summary=summary)
