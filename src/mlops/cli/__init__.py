"""The ``mlops`` command line: thin Typer commands over the Python API."""

from __future__ import annotations

import sys

import typer

from mlops.cli import (
    abtest,
    audit,
    db,
    deploy,
    experiments,
    models,
    monitoring,
    quickstart,
    runs,
    serve,
    server,
    tokens,
    users,
)
from mlops.cli.features import app as features_app
from mlops.cli.render import report_error
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
app.add_typer(features_app, name="features")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")
app.command("grant")(users.grant)
app.command("revoke-grant")(users.revoke_grant)
app.add_typer(monitoring.app, name="monitor")
app.add_typer(monitoring.alerts_app, name="alerts")
app.command("gc")(db.gc)
app.command("quickstart")(quickstart.quickstart)
app.command("server")(server.server)
app.command("serve")(serve.serve)
app.command("deploy")(deploy.deploy)
app.add_typer(deploy.app, name="deployments")
app.add_typer(abtest.app, name="abtest")


def main() -> None:
    """Console entry point: an ``MLOpsError`` is one line on stderr and exit status 1.

    Typer runs in standalone mode, so usage mistakes (unknown command, missing argument, bad
    option value) get click's usage message and exit status 2, never a traceback.
    """
    try:
        app()
    except MLOpsError as exc:
        report_error(exc)
        sys.exit(1)
