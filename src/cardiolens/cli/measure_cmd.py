"""``cardiolens measure cine|lge|ecg``: measurements to JSON (stdout or --out) or CSV (--out *.csv)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

measure_app = typer.Typer(help="Clinical measurements of cine, LGE and ECG studies (JSON or CSV).", no_args_is_help=True)

_OUT_HELP = "Write to this file: .json (all fields) or .csv (one row per subject, scalar fields). Default: JSON on stdout."


def _emit(rows: list[dict[str, Any]], out: Path | None) -> None:
    from cardiolens.io.atomic import write_text_atomic

    if out is not None and out.suffix.lower() == ".csv":
        import pandas as pd

        from cardiolens.measure.studies import scalar_columns

        write_text_atomic(out, pd.DataFrame(scalar_columns(rows)).to_csv(index=False))
    else:
        text = json.dumps(rows[0] if len(rows) == 1 else rows, indent=1, default=str)
        if out is None:
            typer.echo(text)
        else:
            write_text_atomic(out, text)
    failed = [r for r in rows if "error" in r]
    if out is not None:
        typer.echo(f"{len(rows) - len(failed)} measured, {len(failed)} failed -> {out}", err=True)
    for row in failed:
        typer.echo(f"bad case {row['subject_id']}: {row['error']}", err=True)


@measure_app.command("cine")
def cine(
    studies: list[str] = typer.Argument(..., help="Dataset folders (every subject), cine NIfTI files or DICOM folders."),
    seg: Path | None = typer.Option(None, "--seg", help="Label NIfTI for a single cine (1 RV, 2 myocardium, 3 LV cavity)."),
    height_cm: float | None = typer.Option(None, "--height-cm", help="Height for BSA indexing."),
    weight_kg: float | None = typer.Option(None, "--weight-kg", help="Weight for BSA indexing."),
    rr_ms: float | None = typer.Option(None, "--rr-ms", help="RR interval (ms) when the cine has no trigger times."),
    ivpg: bool = typer.Option(True, "--ivpg/--no-ivpg", help="Also compute IVPG features."),
    out: Path | None = typer.Option(None, "--out", help=_OUT_HELP),
) -> None:
    """Volumes, EF, LV mass, wall thickness per AHA segment and IVPG features."""
    from cardiolens.measure.studies import measure_cine_studies

    _emit(measure_cine_studies(studies, seg=seg, height_cm=height_cm, weight_kg=weight_kg, rr_interval_ms=rr_ms, ivpg=ivpg), out)


@measure_app.command("lge")
def lge(
    studies: list[str] = typer.Argument(..., help="Dataset folders (EMIDEC, simulated), LGE NIfTI files or DICOM folders."),
    seg: Path | None = typer.Option(None, "--seg", help="Label NIfTI for a single study (1 cavity, 2 myocardium, 3 scar, 4 MVO)."),
    method: str = typer.Option("nsd", "--method", help="nsd, fwhm or labels (measure the given scar labels)."),
    n_sd: float = typer.Option(5.0, "--n-sd", help="n for the n-SD threshold (2, 3, 5 or 6 are usual)."),
    out: Path | None = typer.Option(None, "--out", help=_OUT_HELP),
) -> None:
    """Scar volume, %LGE, MVO, per-segment scar % and the >15% burden flag."""
    from cardiolens.measure.studies import measure_lge_studies

    _emit(measure_lge_studies(studies, seg=seg, method=method, n_sd=n_sd), out)


@measure_app.command("ecg")
def ecg(
    records: list[str] = typer.Argument(..., help="WFDB records (.hea), HL7 aECG XML files or dataset folders (PTB-XL...)."),
    sex: str | None = typer.Option(None, "--sex", help="M or F (sex-specific LVH criteria)."),
    out: Path | None = typer.Option(None, "--out", help=_OUT_HELP),
) -> None:
    """R/S voltages, QRS duration and the LVH voltage criteria."""
    from cardiolens.measure.studies import measure_ecg_studies

    _emit(measure_ecg_studies(records, sex=sex), out)
