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
    examples = summary.get("examples")
    if examples is None:  # a single file or series: the summary is the description
        examples = {Path(summary["path"]).name: {k: v for k, v in summary.items() if k not in {"path", "kind"}}}
    if examples:
        table = Table(title="loaded subjects")
        for col in ("subject", "part", "type", "shape", "spacing / rate", "labels"):
            table.add_column(col)
        for subject, parts in examples.items():
            for part, info in _flatten_parts(parts):
                table.add_row(subject, part, *_describe_row(info))
        console.print(table)
    bad = summary.get("bad_cases") or []
    if bad:
        table = Table(title=f"{len(bad)} bad case(s)")
        for col in ("subject_id", "path", "problem"):
            table.add_column(col)
        for case in bad:
            table.add_row(str(case["subject_id"]), str(case["path"]), str(case["problem"]))
        console.print(table)


def _flatten_parts(described: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(part name, description) pairs of a possibly nested description."""
    if "type" in described:
        return [(prefix or "-", described)]
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, value in described.items():
        if isinstance(value, dict):
            rows += _flatten_parts(value, f"{prefix}.{name}" if prefix else name)
    return rows


def _describe_row(info: dict[str, Any]) -> tuple[str, str, str, str]:
    shape = next((info[k] for k in info if k.startswith("shape")), None)
    axes = next((k.removeprefix("shape_") for k in info if k.startswith("shape_")), "")
    if "spacing_mm_zyx" in info:
        rate = "x".join(f"{v:.3g}" for v in info["spacing_mm_zyx"]) + " mm" + ("" if info.get("spacing_known", True) else " (unknown)")
    elif "fs_hz" in info:
        rate = f"{info['fs_hz']:g} Hz, {info.get('duration_s', '')} s"
        shape = shape or [info.get("n_samples"), len(info.get("leads", []))]
    elif "fps" in info:
        rate = f"{info['fps']:g} fps" + (f", {info['pixel_spacing_mm']} mm" if info.get("pixel_spacing_mm") else "")
    else:
        rate = ""
    shape_text = "x".join(str(v) for v in shape) + (f" ({axes})" if axes else "") if shape else ""
    labels = info.get("label_values")
    return str(info.get("type", "")), shape_text, rate, "" if labels is None else ",".join(map(str, labels))


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
    kind: str = typer.Option("full", "--kind", help="full (cine, LGE, maps, echo, ECG, outcomes), ecg (ECG-LV mass pairs only, fast), echo (echo-CMR pairs: cmr.csv, echo.csv, videos), maps (%ΔSI/T1/T2 maps with scar-pattern labels only, fast) or lge (LGE stacks with mid-wall/patchy scar of 0-40 % LGE only, fast)."),
    first_index: int = typer.Option(0, "--first-index", min=0, help="Index of the first subject (a later index gives a disjoint cohort)."),
) -> None:
    """Simulate a labelled cohort. SIMULATED DATA."""
    from cardiolens.errors import UsageError

    with Console(stderr=True).status(f"simulating {n} subjects"):
        if kind == "full":
            from cardiolens.synth.cohort import write_simulated_cohort

            folder = write_simulated_cohort(out, n=n, seed=seed, fmt=fmt, first_index=first_index)  # type: ignore[arg-type]
        elif kind == "ecg":
            from cardiolens.synth.ecg_cohort import write_paired_ecg_cohort

            folder = write_paired_ecg_cohort(out, n=n, seed=seed, first_index=first_index)
        elif kind == "echo":
            from cardiolens.synth.echo_cohort import write_paired_echo_cohort

            folder = write_paired_echo_cohort(out, n=n, seed=seed, first_index=first_index)
        elif kind == "maps":
            from cardiolens.synth.maps_cohort import write_maps_cohort

            folder = write_maps_cohort(out, n=n, seed=seed, first_index=first_index)
        elif kind == "lge":
            from cardiolens.synth.lge_cohort import write_lge_cohort

            folder = write_lge_cohort(out, n=n, seed=seed, first_index=first_index)
        else:
            raise UsageError(f"--kind must be full, ecg, echo, maps or lge, got {kind!r}")
    typer.echo(f"wrote {n} SIMULATED subjects to {folder}")
