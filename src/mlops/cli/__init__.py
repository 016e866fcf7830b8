"""The ``mlops`` command line: thin Typer commands over the Python API."""

from __future__ import annotations

import sys

import typer

from mlops.cli import db, experiments, models, quickstart, runs, server
from mlops.cli.render import console
from mlops.errors import MLOpsError

app = typer.Typer(
    name="mlops",
    help="mlops: experiment tracking, model registry and the rest of the ML lifecycle.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.command("gc")(db.gc)
app.command("quickstart")(quickstart.quickstart)
app.command("server")(server.server)


def main() -> None:
    """Console entry point: an ``MLOpsError`` is a message and exit status 1, not a traceback."""
    try:
        app(standalone_mode=False)
    except MLOpsError as exc:
        console.print(f"[bold red]Error:[/bold red] {exc}", highlight=False)
        sys.exit(1)
    except typer.Abort:
        console.print("Aborted.")
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
