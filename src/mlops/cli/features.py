"""``mlops features ...``: apply a feature repo, inspect it, materialize, look up, validate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json
from mlops.features import FeatureStore, FeatureView
from mlops.features.entities import kind_of
from mlops.features.repo import SETTINGS, load_repo
from mlops.features.skew import SkewReport
from mlops.features.specs import to_spec

app = typer.Typer(
    help="The feature store: definitions, materialization, online lookups, validation.",
    no_args_is_help=True,
)
Repo = typer.Option(Path("."), "--repo", "-r", help="Feature repo folder (its *.py files).")
Online = typer.Option(None, "--online-store", help="sqlite:///PATH or redis://HOST:PORT/DB.")
Offline = typer.Option(None, "--offline-store", help="Root folder of views without a source.")


def _store(
    repo: Path | None, tracking_uri: str | None, online: str | None, offline: str | None
) -> FeatureStore:
    settings: dict[str, Any] = {}
    if repo is not None and (repo / SETTINGS).is_file():
        settings = load_repo(repo).settings
    return FeatureStore(
        offline_store=offline or settings.get("offline_store"),
        online_store=online or settings.get("online_store"),
        config=config_from(tracking_uri),
    )


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("plan")
def plan(
    repo: Path = Repo,
    force: bool = typer.Option(False, "--force", help="Plan breaking changes as new versions."),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
    offline_store: str | None = Offline,
) -> None:
    """Show what `apply` would change; nothing is written."""
    store = _store(repo, tracking_uri, online_store, offline_store)
    console.print(str(store.plan(*load_repo(repo).definitions, force=force)), highlight=False)


@app.command("apply")
def apply(
    repo: Path = Repo,
    force: bool = typer.Option(
        False, "--force", help="Apply breaking changes as new view versions."
    ),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
    offline_store: str | None = Offline,
) -> None:
    """Show the plan, then store the repo's definitions (checked against their sources)."""
    store = _store(repo, tracking_uri, online_store, offline_store)
    definitions = load_repo(repo).definitions
    console.print(str(store.plan(*definitions, force=force)), highlight=False)
    store.apply(*definitions, force=force)
    console.print("[green]Applied.[/green]")


@app.command("list")
def list_definitions(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Every stored definition (newest versions)."""
    found = _store(None, tracking_uri, None, None).list_definitions()
    if as_json:
        print_json([{"kind": kind_of(d), "version": d.version, **to_spec(d)} for d in found])
        return
    table = Table(title="Feature definitions")
    for column in ("kind", "name", "version", "details"):
        table.add_column(column)
    for d in found:
        details = ""
        if isinstance(d, FeatureView):
            ttl = f", ttl {d.ttl}" if d.ttl else ""
            details = f"{len(d.features)} features of {', '.join(d.entities)}{ttl}"
        table.add_row(kind_of(d), d.name, str(d.version), details)
    console.print(table)


@app.command("describe")
def describe(
    name: str = typer.Argument(..., help="A feature view (or entity, service, on-demand view)."),
    version: int | None = typer.Option(None, "--version", help="Default: the newest."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """A definition's stored spec and versions, as JSON."""
    store = _store(None, tracking_uri, None, None)
    for kind in ("feature_view", "on_demand_view", "feature_service", "entity"):
        versions = store.definitions.list_versions(kind, name)
        if versions:
            chosen = store.definitions.get_definition(kind, name, version)
            print_json(
                {"kind": kind, "name": name, "version": chosen.version,
                 "versions": [v.version for v in versions], "spec": chosen.spec}
            )  # fmt: skip
            return
    store.get_feature_view(name)  # raises the not-found error naming it


@app.command("materialize")
def materialize(
    start: str | None = typer.Option(None, help="ISO time (default: from the beginning)."),
    end: str | None = typer.Option(None, help="ISO time (default: now)."),
    incremental: bool = typer.Option(False, "--incremental", help="From each view's last end."),
    view: list[str] = typer.Option([], "--view", "-v", help="Only these views (repeatable)."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip expectations."),
    repo: Path | None = typer.Option(None, "--repo", "-r", help="Read its settings."),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
    offline_store: str | None = Offline,
) -> None:
    """Write the latest values into the online store, with progress."""
    store = _store(repo, tracking_uri, online_store, offline_store)
    until = _when(end) or datetime.now(UTC)
    views = view or None
    if incremental:
        results = store.materialize_incremental(until, views, validate=not no_validate)
    else:
        results = store.materialize(_when(start), until, views, validate=not no_validate)
    for r in results:
        console.print(f"[bold]{r.view}[/bold] v{r.version}: {r.rows} entities written")


def _parse_entity(text: str) -> Any:
    if "=" not in text:
        return int(text) if text.lstrip("-").isdigit() else text
    pairs = dict(part.split("=", 1) for part in text.split(","))
    return {k: int(v) if v.lstrip("-").isdigit() else v for k, v in pairs.items()}


@app.command("get-online")
def get_online(
    feature_view: str = typer.Argument(..., help="A feature view or on-demand view."),
    entities: list[str] = typer.Argument(
        ..., help="Key values: 42, or k1=1,k2=a for compound keys."
    ),
    repo: Path | None = typer.Option(None, "--repo", "-r", help="Load its on-demand functions."),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
) -> None:
    """Online values of some entities, with event times and freshness, as JSON."""
    if repo is not None:
        load_repo(repo)  # makes the repo's on-demand functions importable
    store = _store(repo, tracking_uri, online_store, None)
    result = store.get_online_features([_parse_entity(e) for e in entities], feature_view)
    print_json(json.loads(json.dumps(result.to_dict(), default=str)))


@app.command("validate")
def validate(
    feature_view: str = typer.Argument(...),
    start: str | None = typer.Option(None, help="ISO time (default: from the beginning)."),
    end: str | None = typer.Option(None, help="ISO time (default: everything)."),
    skew: bool = typer.Option(False, "--skew", help="Also compare online with offline values."),
    repo: Path | None = typer.Option(None, "--repo", "-r", help="Read its settings."),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
) -> None:
    """Statistics and expectations of a view's data; exit 1 when one fails."""
    store = _store(repo, tracking_uri, online_store, None)
    report = store.validate(feature_view, _when(start), _when(end))
    table = Table(title=f"{feature_view}: {report.rows} rows")
    for column in ("feature", "nulls", "min", "max", "mean", "std"):
        table.add_column(column)
    for name, s in report.stats.items():
        table.add_row(name, f"{s.null_share:.1%}", str(s.min), str(s.max), str(s.mean), str(s.std))
    console.print(table)
    failures = list(report.failures)
    if skew:
        checked = store.check_skew(feature_view)
        console.print(_skew_table(checked))
        failures += [
            f"{n} online values differ from offline for {f!r}"
            for f, n in checked.mismatches.items()
            if n
        ]
        failures += [f"online and offline distributions of {f!r} differ" for f in checked.drifted]
    for failure in failures:
        console.print(f"[red]FAILED[/red] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)
    console.print("[green]All expectations hold.[/green]")


def _skew_table(report: SkewReport) -> Table:
    table = Table(title=f"skew on {report.sampled} entities as of {report.at:%Y-%m-%d %H:%M:%S}")
    for column in ("feature", "differ", "test", "statistic", "p-value / distance", "verdict"):
        table.add_column(column)
    for name, n in report.mismatches.items():
        test = report.tests.get(name)
        if test is None or test.stattest is None:
            table.add_row(name, str(n), "-", "-", "-", test.note if test else "-")
            continue
        verdict = "[red]drift[/red]" if test.drifted else "same"
        table.add_row(
            name,
            str(n),
            test.stattest,
            f"{test.statistic:.4g}",
            f"{test.score:.4g} (threshold {test.threshold:g})",
            verdict,
        )
    return table


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(6566, help="Port to listen on."),
    repo: Path | None = typer.Option(None, "--repo", "-r", help="Read its settings."),
    tracking_uri: str | None = TrackingUri,
    online_store: str | None = Online,
) -> None:
    """Serve online lookups over HTTP (POST /api/v1/features/online)."""
    import uvicorn

    from mlops.features.http import create_features_app

    if repo is not None:
        load_repo(repo)  # makes the repo's on-demand functions importable
    store = _store(repo, tracking_uri, online_store, None)
    uvicorn.run(create_features_app(store), host=host, port=port, log_level="warning")
