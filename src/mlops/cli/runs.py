"""``mlops runs ...``"""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json, runs_table, sparkline, when
from mlops.experiments.tracking import ExperimentTracker

app = typer.Typer(help="Runs: search, inspect and compare.", no_args_is_help=True)


@app.command("list")
def list_runs(
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Experiment name or id (repeatable; default all)."
    ),
    filter_: str | None = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.f1 > 0.8 and params.algorithm = 'lof'\""
    ),
    order_by: list[str] = typer.Option(
        None, "--order-by", "-o", help="e.g. 'metrics.f1 DESC' (repeatable)."
    ),
    max_results: int = typer.Option(50, "--max-results", "-n"),
    as_json: bool = typer.Option(False, "--json"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Search runs with the filter language."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    page = tracker.search_runs(experiment or None, filter_, order_by or None, max_results)
    if as_json:
        print_json([asdict(r) for r in page])
        return
    console.print(runs_table(page.items, caption=f"store: {tracker.config.resolved_tracking_uri}"))
    if page.next_page_token:
        console.print(f"[dim]more runs match; showing the first {max_results}[/dim]")


@app.command("show")
def show(
    run_id: str,
    as_json: bool = typer.Option(False, "--json"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Everything about one run: params, metrics, tags, datasets and artifacts."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    run_id = tracker.stores.tracking.resolve_run_id(run_id)
    run = tracker.get_run(run_id)
    artifacts = tracker.stores.tracking.list_artifacts(run_id)
    if as_json:
        print_json({"run": asdict(run), "artifacts": [asdict(a) for a in artifacts]})
        return
    console.print(
        f"[bold]{run.name}[/bold]  {run.id}  [{run.status.value}]  "
        f"started {when(run.start_time)}  ended {when(run.end_time)}"
    )
    if run.error:
        console.print(f"[red]{run.error.strip().splitlines()[-1]}[/red]")
    for title, data in (("Params", run.params), ("Tags", run.tags)):
        table = Table(title=title)
        table.add_column("key")
        table.add_column("value", justify="right")
        for key, value in sorted(data.items()):
            table.add_row(key, str(value))
        console.print(table)
    metrics = Table(title="Metrics (latest, and history by step)")
    for column in ("key", "latest", "steps", "history"):
        metrics.add_column(column, justify="left" if column in ("key", "history") else "right")
    for key, latest in sorted(run.metrics.items()):
        history = tracker.get_metric_history(run.id, key)
        metrics.add_row(key, f"{latest:.6g}", str(len(history)), sparkline(history.values))
    console.print(metrics)
    if run.inputs:
        table = Table(title="Datasets")
        for column in ("context", "name", "rows", "digest", "source"):
            table.add_column(column)
        for item in run.inputs:
            d = item.dataset
            table.add_row(item.context, d.name, str(d.num_rows), d.digest[:12], d.source)
        console.print(table)
    if artifacts:
        table = Table(title="Artifacts")
        for column in ("path", "size", "sha256"):
            table.add_column(column)
        for a in artifacts:
            table.add_row(a.path, str(a.size), a.sha256[:16])
        console.print(table)


@app.command("compare")
def compare(
    run_ids: list[str],
    as_json: bool = typer.Option(False, "--json"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Params and metrics of several runs side by side (varied params in bold)."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    comparison = tracker.compare_experiments(
        [tracker.stores.tracking.resolve_run_id(r) for r in run_ids]
    )
    if as_json:
        console.print(comparison.to_pandas().to_json(orient="index", indent=2))
        return
    console.print(comparison.to_rich())


@app.command("delete")
def delete(run_id: str, tracking_uri: str | None = TrackingUri) -> None:
    """Soft-delete a run (restore undoes it; `mlops gc` makes it final)."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    run_id = tracker.stores.tracking.resolve_run_id(run_id)
    tracker.delete_run(run_id)
    console.print(f"Deleted run {run_id}")


@app.command("restore")
def restore(run_id: str, tracking_uri: str | None = TrackingUri) -> None:
    """Restore a deleted run."""
    tracker = ExperimentTracker(config=config_from(tracking_uri))
    run_id = tracker.stores.tracking.resolve_run_id(run_id)
    tracker.restore_run(run_id)
    console.print(f"Restored run {run_id}")
