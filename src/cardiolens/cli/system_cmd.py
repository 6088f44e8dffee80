"""``cardiolens train|evaluate|predict|explain SYSTEM ...``: dispatch to the system modules."""

from __future__ import annotations

from pathlib import Path

import typer

_SYSTEM_HELP = "System id (nicm, cine-seg, ecg2lvm, echo2cmr, scar-pattern, lge)."


def train(
    system: str = typer.Argument(..., help=_SYSTEM_HELP),
    data: str = typer.Option(..., "--data", help="Training data folder (layout auto-detected; 'ptbxl:PATH' forces one) or table."),
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    config: Path | None = typer.Option(None, "--config", help="JSON or TOML file with config values."),
    sets: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable)."),
) -> None:
    """Train a system; writes a model directory (weights, config, versions, training subject IDs)."""
    from cardiolens.systems import system_module

    module = system_module(system)
    model_dir = module.train(data, out, module.make_config(config, sets))
    typer.echo(f"model written to {model_dir}")


def evaluate(
    system: str = typer.Argument(..., help=_SYSTEM_HELP),
    model: Path = typer.Option(..., "--model", help="Model directory from `cardiolens train`."),
    data: str = typer.Option(..., "--data", help="Evaluation data (subjects the model was not trained on)."),
    out: Path = typer.Option(..., "--out", help="Folder for metrics.json, predictions.csv and report.html."),
) -> None:
    """Evaluate a trained model on separate data: metrics with 95% CIs, predictions and a report."""
    from cardiolens.systems import system_module

    typer.echo(f"evaluation written to {system_module(system).evaluate(model, data, out)}")


def predict(
    system: str = typer.Argument(..., help=_SYSTEM_HELP),
    inputs: list[str] = typer.Argument(..., help="Studies or records to predict (files or dataset folders)."),
    model: Path = typer.Option(..., "--model", help="Model directory."),
    out: Path = typer.Option(..., "--out", help="Output folder (predictions.csv)."),
) -> None:
    """Predict with a trained model."""
    from cardiolens.systems import system_module

    typer.echo(f"predictions written to {system_module(system).predict(model, inputs, out)}")


def explain(
    system: str = typer.Argument(..., help=_SYSTEM_HELP),
    input_path: str = typer.Argument(..., metavar="INPUT", help="One study or record."),
    model: Path = typer.Option(..., "--model", help="Model directory."),
    out: Path = typer.Option(..., "--out", help="Output folder for the saliency figures."),
) -> None:
    """Show why the model decided: saliency maps as PNGs."""
    from cardiolens.systems import system_module

    typer.echo(f"explanations written to {system_module(system).explain(model, input_path, out)}")


def crossval(
    system: str = typer.Argument(..., help="System id with a cross-validation (nicm, scar-pattern, lge)."),
    data: str = typer.Option(..., "--data", help="Cohort folder (layout auto-detected)."),
    out: Path = typer.Option(..., "--out", help="Folder for metrics.json, predictions.csv, report.html and the fold models."),
    config: Path | None = typer.Option(None, "--config", help="JSON or TOML file with config values."),
    sets: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable), e.g. folds=5."),
) -> None:
    """Patient-level k-fold cross-validation of every variant, with paired comparisons."""
    from cardiolens.errors import UsageError
    from cardiolens.systems import system_module

    module = system_module(system)
    if not hasattr(module, "crossval"):
        raise UsageError(f"system {system!r} has no cross-validation command; use train + evaluate")
    typer.echo(f"cross-validation written to {module.crossval(data, out, module.make_config(config, sets))}")
