"""``cardiolens demo``."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the cohort, report.html and summary.json."),
    n: int = typer.Option(10, "--n", min=1, help="Number of simulated subjects."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Simulate a small cohort and run every part of the toolkit end to end (SIMULATED DATA)."""
    from rich.progress import Progress

    from cardiolens.demo import run_demo

    with Progress(transient=True) as progress:
        result = run_demo(out, n_subjects=n, seed=seed, progress=progress)
    typer.echo(f"SIMULATED cohort of {n} subjects; report: {result.report_path}")
    if result.summary["bad_cases"]:
        typer.echo(f"{len(result.summary['bad_cases'])} bad case(s); see the report")
