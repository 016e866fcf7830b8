"""``mlops experiments ...``"""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from mlops.cli.render import config_from, console, print_json, when
from mlops.experiments.tracking import ExperimentTracker

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)
TrackingUri = typer.Option(
    None, "--tracking-uri", envvar="MLOPS_TRACKING_URI", help="Metadata store URI."
)


@app.command("list")
def list_experiments(
    all_: bool = typer.Option(False, "--all", help="Include deleted experiments."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """List experiments."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    experiments = tracker.list_experiments(include_deleted=all_)
    if as_json:
        print_json([asdict(e) for e in experiments])
        return
    table = Table(title="Experiments")
    for column in ("id", "name", "created", "artifact location", "state"):
        table.add_column(column, no_wrap=column != "artifact location")
    for e in experiments:
        table.add_row(
            e.id,
            e.name,
            when(e.created_at),
            e.artifact_location,
            "deleted" if e.deleted else "active",
        )
    console.print(table)


@app.command("create")
def create(
    name: str, description: str | None = None, tracking_uri: str | None = TrackingUri
) -> None:
    """Create an experiment."""
    experiment = ExperimentTracker(config=config_from(tracking_uri)).create_experiment(
        name, description
    )
    console.print(f"Created experiment [bold]{experiment.name}[/bold] (id {experiment.id})")


@app.command("delete")
def delete(name: str, tracking_uri: str | None = TrackingUri) -> None:
    """Soft-delete an experiment (restore undoes it; `mlops gc` makes it final)."""
    ExperimentTracker(config=config_from(tracking_uri)).delete_experiment(name)
    console.print(
        f"Deleted experiment [bold]{name}[/bold]; `mlops experiments restore {name}` undoes it"
    )


@app.command("restore")
def restore(name: str, tracking_uri: str | None = TrackingUri) -> None:
    """Restore a deleted experiment."""
    ExperimentTracker(config=config_from(tracking_uri)).restore_experiment(name)
    console.print(f"Restored experiment [bold]{name}[/bold]")
