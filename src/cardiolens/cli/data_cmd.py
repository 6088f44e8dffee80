"""``cardiolens data inspect`` and ``cardiolens data synth``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(help="Inspect datasets and files; simulate the embedded cohort.", no_args_is_help=True)


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    head = Table(show_header=False, box=None)
    for key in ("path", "kind", "layout", "n_subjects", "n_patients"):
        if key in summary:
            head.add_row(key, str(summary[key]))
    if summary.get("simulated"):
        head.add_row("simulated", "yes - SIMULATED DATA, not patient data")
    console.print(head)
    if summary.get("classes"):
        table = Table(title="classes")
        table.add_column("label")
        table.add_column("subjects", justify="right")
        for label, count in summary["classes"].items():
            table.add_row(str(label), str(count))
        console.print(table)
    for name, counts in summary.get("attributes", {}).items():
        console.print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    details = summary.get("examples") or {k: v for k, v in summary.items() if k not in {"path", "kind"}}
    console.print_json(json.dumps(details, default=str))
    bad = summary.get("bad_cases") or []
    if bad:
        table = Table(title=f"{len(bad)} bad case(s)")
        for col in ("subject_id", "path", "problem"):
            table.add_column(col)
        for case in bad:
            table.add_row(str(case["subject_id"]), str(case["path"]), str(case["problem"]))
        console.print(table)


@data_app.command("inspect")
def inspect(
    path: str = typer.Argument(..., help="Dataset folder (layout auto-detected; 'acdc:PATH' forces one), DICOM folder or file."),
    n_load: int = typer.Option(3, "--load", min=0, help="Subjects to load fully for shapes and spacing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Detect the layout or format of PATH and print subjects, classes, shapes, spacing and labels."""
    from cardiolens.io.inspect import inspect_path

    summary = inspect_path(path, n_load=n_load)
    if as_json:
        typer.echo(json.dumps(summary, indent=1, default=str))
    else:
        _print_summary(summary, Console())


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the simulated cohort into."),
    n: int = typer.Option(20, "--n", min=1, help="Number of subjects."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same cohort)."),
    fmt: str = typer.Option("nifti", "--format", help="Image format: nifti or dicom."),
) -> None:
    """Simulate a labelled cohort (cine, LGE, maps, echo, ECG, outcomes). SIMULATED DATA."""
    from cardiolens.synth.cohort import write_simulated_cohort

    with Console(stderr=True).status(f"simulating {n} subjects"):
        folder = write_simulated_cohort(out, n=n, seed=seed, fmt=fmt)  # type: ignore[arg-type]
    typer.echo(f"wrote {n} SIMULATED subjects to {folder}")
