"""The ``cardiolens`` command.

Exit codes: 0 ok; 2 bad usage or bad input (the message names the file and
the problem); 1 internal error. Heavy libraries are imported inside the
commands so that ``cardiolens --help`` starts fast.
"""

from __future__ import annotations

import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from cardiolens import __version__
from cardiolens.cli.data_cmd import data_app
from cardiolens.cli.demo_cmd import demo
from cardiolens.cli.measure_cmd import measure_app
from cardiolens.cli.system_cmd import crossval, evaluate, explain, predict, train
from cardiolens.errors import CardiolensError

app = typer.Typer(
    name="cardiolens",
    help="Cardiac-MRI-anchored AI toolkit: data, measurements, statistics and published systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(measure_app, name="measure")
app.command()(demo)
for _command in (train, evaluate, predict, explain, crossval):
    app.command()(_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cardiolens {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Cardiac-MRI-anchored AI toolkit."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (0 ok, 2 bad usage/input, 1 internal error).

    Usage errors and ``--help`` are handled by typer (exit 2 and 0); errors
    raised by the API are mapped here.
    """
    err = Console(stderr=True)
    try:
        app(args=argv, prog_name="cardiolens")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except CardiolensError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    except Exception:  # an internal error: show the traceback for the bug report
        err.print("[bold red]internal error[/] (please report it with the traceback below)")
        traceback.print_exc()
        return 1
    return 0


def entry_point() -> None:
    sys.exit(main())
