"""``mlops db ...`` and ``mlops gc``: schema upgrades, whole-store copies, garbage collection."""

from __future__ import annotations

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console
from mlops.store.lifecycle import collect_garbage, copy_store, require_existing_store
from mlops.store.open import open_stores
from mlops.store.sql import engine as engines

app = typer.Typer(help="The metadata database: upgrade and copy.", no_args_is_help=True)


def _spinner() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )


@app.command("upgrade")
def upgrade(tracking_uri: str | None = TrackingUri) -> None:
    """Migrate the metadata database to this version's schema (back it up first)."""
    uri = config_from(tracking_uri).resolved_tracking_uri
    engine = engines.create_engine(uri)
    try:
        before = engines.current_revision(engine)
        engines.upgrade(engine)
        after = engines.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"Schema already at revision {after}")
    else:
        console.print(f"Upgraded schema from {before or 'empty'} to {after}")


@app.command("current")
def current(tracking_uri: str | None = TrackingUri) -> None:
    """Show the schema revision of the database and the one this mlops needs."""
    engine = engines.create_engine(config_from(tracking_uri).resolved_tracking_uri)
    try:
        console.print(
            f"database: {engines.current_revision(engine) or 'empty'}   "
            f"needed: {engines.head_revision()}"
        )
    finally:
        engine.dispose()


@app.command("copy")
def copy(
    src_uri: str = typer.Argument(..., help="Source metadata store URI."),
    dst_uri: str = typer.Argument(..., help="Destination metadata store URI (must be empty)."),
    src_artifacts: str | None = typer.Option(
        None, help="Source artifact root (default: configured one)."
    ),
    dst_artifacts: str | None = typer.Option(
        None, help="Destination artifact root (default: same as source, so files stay put)."
    ),
) -> None:
    """Copy a whole store (metadata and artifacts) to another backend, losslessly."""
    src_config = config_from(src_uri, src_artifacts)
    require_existing_store(src_config.resolved_tracking_uri)
    src = open_stores(src_config, fresh=True)
    dst_root = dst_artifacts or src.config.resolved_artifact_uri
    dst = open_stores(config_from(dst_uri, dst_root), fresh=True)
    with _spinner() as progress:
        task = progress.add_task("copying", total=None)
        try:
            counts = copy_store(
                src, dst, lambda what, ident: progress.update(task, description=f"{what} {ident}")
            )
        finally:
            src.close()
            dst.close()
    table = Table(title=f"Copied {src_uri} -> {dst_uri}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n))
    console.print(table)


def gc(
    older_than: float = typer.Option(
        0.0, "--older-than", help="Only what was deleted at least this many hours ago."
    ),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Remove deleted runs, experiments and model versions, and their artifacts, for good; and
    monitoring data past its retention (setting monitoring.retention_days)."""
    stores = open_stores(config_from(tracking_uri))
    with _spinner() as progress:
        task = progress.add_task("collecting garbage", total=None)
        report = collect_garbage(
            stores,
            int(older_than * 3_600_000),
            lambda what, ident: progress.update(task, description=f"removed {what} {ident}"),
        )
    console.print(
        f"Removed {report.runs} runs, {report.experiments} experiments, "
        f"{report.model_versions} model versions, "
        f"{report.models} models and {report.artifacts} artifact files"
    )
    if any(report.monitoring.values()):
        console.print(
            "Removed monitoring data past its retention: "
            + ", ".join(f"{n:,} {kind}" for kind, n in report.monitoring.items())
        )
    for error in report.errors:
        console.print(f"[yellow]not removed:[/yellow] {error}")
