"""``mlops monitor ...`` and ``mlops alerts ...``: drift checks, reports, results, alerts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json

if TYPE_CHECKING:
    from mlops.monitoring.alerts import AlertManager

app = typer.Typer(
    help="Model monitoring: drift checks, reports, stored windows, metrics.", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="Monitoring alerts: list, acknowledge, silence, resolve, retry; stored rules.",
    no_args_is_help=True,
)
rules_app = typer.Typer(
    help="Stored alert rules: every monitoring process on the store evaluates them.",
    no_args_is_help=True,
)
alerts_app.add_typer(rules_app, name="rules")


def _drift_table(result: object) -> Table:
    from mlops.monitoring.results import DriftResult

    assert isinstance(result, DriftResult)
    table = Table(
        title=f"Drift: {result.number_of_drifted_columns}/{len(result.columns)} columns "
        f"({result.drift_share:.0%}) - {'DRIFT' if result.dataset_drift else 'no drift'}"
    )
    for column in ("column", "type", "test", "score", "threshold", "drifted", "note"):
        table.add_column(column, no_wrap=column != "note")
    for c in result.columns.values():
        table.add_row(
            c.column,
            c.kind,
            c.stattest,
            f"{c.score:.4g}",
            f"{c.threshold:.4g}",
            "[red]yes[/]" if c.drifted else "[green]no[/]",
            c.note or "",
        )
    return table


@app.command("drift")
def drift(
    reference: Path = typer.Option(..., "--reference", help="Reference data (Parquet or CSV)."),
    current: Path = typer.Option(..., "--current", help="Current data (Parquet or CSV)."),
    format: str = typer.Option("table", "--format", help="table, json or html."),
    stattest: str | None = typer.Option(None, "--stattest", help="One test for every column."),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated columns."),
    threshold: float = typer.Option(0.1, "--threshold", help="Dataset drifts above this share."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write html/json here."),
) -> None:
    """Compare two datasets; exit status 1 when the dataset drifted (a pipeline gate)."""
    from mlops.monitoring.drift import DriftDetector
    from mlops.monitoring.frames import as_frame
    from mlops.monitoring.reports import generate_report

    if format not in ("table", "json", "html"):
        raise typer.BadParameter("--format is table, json or html")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        console=console,
        transient=True,
    ) as progress:
        step = progress.add_task("reading data", total=None)
        ref = as_frame(reference, "--reference")
        cur = as_frame(current, "--current")
        progress.update(step, description="summarizing the reference")
        detector = DriftDetector(
            ref,
            columns=columns.split(",") if columns else None,
            stattest=stattest,
            alert_threshold=threshold,
            persist=False,
        ).fit()
        progress.update(step, description="checking columns", total=len(detector.reference_))
        result = detector.check(cur, progress=lambda _: progress.advance(step))
    if format == "json":
        text = result.to_json()
        if output:
            output.write_text(text)
        else:
            console.print_json(text)
    elif format == "html":
        target = output or Path("drift-report.html")
        generate_report(detector=detector, current_data=cur, result=result, output=target)
        console.print(f"Wrote {target}")
    else:
        console.print(_drift_table(result))
    if result.dataset_drift:
        sys.exit(1)


@app.command("report")
def report(
    model: str | None = typer.Option(None, "--model", help="Model version, e.g. churn/3."),
    reference: Path | None = typer.Option(None, "--reference", help="Reference data."),
    current: Path | None = typer.Option(None, "--current", help="Current data."),
    output: Path = typer.Option(Path("monitoring-report.html"), "--output", "-o"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """One self-contained HTML (or .json) report: drift, history, performance, alerts."""
    from mlops.monitoring.reports import generate_report

    if model is None and (reference is None or current is None):
        raise typer.BadParameter("give --model, or --reference and --current (or all three)")
    with console.status("building the report"):
        generate_report(
            reference,
            current,
            model_version=model,
            config=config_from(tracking_uri) if model else None,
            output=output,
        )
    console.print(f"Wrote {output}")


@app.command("results")
def results(
    model: str | None = typer.Option(None, "--model", help="Model name or name/version."),
    kind: str | None = typer.Option(None, "--kind", help="drift or performance."),
    deployment: str | None = typer.Option(
        None, "--deployment", help="Only windows of this deployment's traffic."
    ),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Stored window results, oldest first."""
    from mlops.monitoring.store import monitoring_store

    store = monitoring_store(config_from(tracking_uri))
    name, version = store.resolve_version(model) if model else (None, None)
    rows = store.list_results(
        model=name, version=version, kind=kind, limit=limit, deployment=deployment
    )
    if as_json:
        print_json([r.__dict__ for r in rows])
        return
    table = Table(title="Monitoring windows")
    for column in (
        "model",
        "deployment",
        "monitor",
        "kind",
        "window end",
        "rows",
        "flagged",
        "score",
    ):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(
            f"{r.model_name}/{r.model_version or '-'}",
            r.deployment or "-",
            r.monitor,
            r.kind,
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.window_end)),
            f"{r.n_rows:,}",
            "[red]yes[/]" if r.flagged else "no",
            "-" if r.score is None else f"{r.score:.3f}",
        )
    console.print(table)


@app.command("grafana")
def grafana() -> None:
    """Print the Grafana dashboard JSON for the monitoring metrics."""
    from mlops.monitoring.dashboard import MonitoringDashboard

    sys.stdout.write(json.dumps(MonitoringDashboard.grafana_dashboard(), indent=2) + "\n")


@app.command("dashboard")
def dashboard(
    output: Path = typer.Option(Path("monitoring"), "--output", "-o", help="Folder to write."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Write the monitoring pages (index and one per model version) and the Grafana JSON."""
    from mlops.monitoring.dashboard import MonitoringDashboard

    written = MonitoringDashboard(config_from(tracking_uri)).save(output)
    console.print(f"Wrote {len(written)} files to {output}")


@app.command("exporter")
def exporter(
    port: int = typer.Option(9108, "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Serve the monitoring metrics for Prometheus at http://HOST:PORT/metrics until Ctrl-C."""
    from mlops.monitoring.prometheus import start_exporter

    start_exporter(port, host, config_from(tracking_uri))
    console.print(f"Serving monitoring metrics on http://{host}:{port}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


# --- alerts --------------------------------------------------------------------------------------


def _manager(tracking_uri: str | None) -> AlertManager:
    from mlops.monitoring.alerts import AlertManager

    return AlertManager(config=config_from(tracking_uri))


@alerts_app.command("list")
def list_alerts(
    status: str | None = typer.Option(
        None, "--status", help="Comma-separated: pending,firing,acknowledged,resolved."
    ),
    as_json: bool = typer.Option(False, "--json"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Alerts, newest first, with how their notifications went (failed ones included)."""
    from mlops.monitoring.channels import alert_dict

    manager = _manager(tracking_uri)
    alerts = manager.list_alerts(status=status.split(",") if status else None)
    if as_json:
        print_json(
            [{**alert_dict(a), "deliveries": [d.__dict__ for d in a.deliveries]} for a in alerts]
        )
        return
    table = Table(title="Alerts")
    for column in ("id", "rule", "severity", "status", "model", "count", "message", "delivery"):
        table.add_column(column, no_wrap=column not in ("message", "delivery"))
    for a in alerts:
        delivery = ", ".join(
            f"{d.channel.split(':')[0]}:{d.status}" + (f"({d.attempts})" if d.attempts > 1 else "")
            for d in a.deliveries
        )
        table.add_row(
            str(a.id),
            a.rule,
            a.severity,
            a.status,
            f"{a.model_name or '-'}/{a.model_version or '-'}",
            str(a.count),
            a.message,
            delivery,
        )
    console.print(table)


@alerts_app.command("ack")
def ack(alert_id: int, tracking_uri: str | None = TrackingUri) -> None:
    """Acknowledge an alert (no more notifications for this episode)."""
    alert = _manager(tracking_uri).acknowledge(alert_id)
    console.print(f"Acknowledged alert {alert.id} ({alert.rule}) as {alert.acked_by}")


@alerts_app.command("resolve")
def resolve(alert_id: int, tracking_uri: str | None = TrackingUri) -> None:
    """Resolve an alert by hand."""
    alert = _manager(tracking_uri).resolve(alert_id)
    console.print(f"Resolved alert {alert.id} ({alert.rule})")


@alerts_app.command("silence")
def silence(
    matchers: list[str] = typer.Argument(..., help="label=value pairs, e.g. model=churn"),
    duration: str = typer.Option("1h", "--for", help="How long: 30m, 2h, 1d."),
    comment: str | None = typer.Option(None, "--comment"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Hold back notifications of alerts whose labels match, for a while."""
    pairs = _pairs(matchers)
    s = _manager(tracking_uri).silence(pairs, duration, comment)
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s.ends_at))
    console.print(f"Silence {s.id}: {pairs} until {until}")


@alerts_app.command("retry")
def retry(tracking_uri: str | None = TrackingUri) -> None:
    """Queue failed notifications again (delivered by the next running AlertManager)."""
    count = _manager(tracking_uri).retry_failed()
    console.print(f"Queued {count} failed deliveries again")


# --- alert rules ---------------------------------------------------------------------------------


@rules_app.command("list")
def list_rules(
    as_json: bool = typer.Option(False, "--json"), tracking_uri: str | None = TrackingUri
) -> None:
    """Stored alert rules, by name."""
    rules = _manager(tracking_uri).store.list_rules()
    if as_json:
        print_json(rules)
        return
    table = Table(title="Alert rules")
    for column in ("name", "when", "for", "severity", "labels"):
        table.add_column(column, no_wrap=column != "labels")
    for r in rules:
        table.add_row(
            r["name"],
            f"{r['metric']} {r['condition']} {r['threshold']:.4g}",
            f"{r['for_duration']:g}s",
            r["severity"],
            ", ".join(f"{k}={v}" for k, v in (r.get("labels") or {}).items()),
        )
    console.print(table)


@rules_app.command("add")
def add_rule(
    name: str,
    metric: str = typer.Option(..., "--metric", help="drift_share, precision, latency_p99, ..."),
    condition: str = typer.Option(">", "--condition", help="> >= < <= == !="),
    threshold: str = typer.Option(..., "--threshold", help="A number or with a unit: 100ms, 2%."),
    for_duration: str = typer.Option("0", "--for", help="Held this long before firing: 5m."),
    severity: str = typer.Option("warning", "--severity", help="info, warning or critical."),
    labels: list[str] = typer.Option([], "--label", help="label=value added to its alerts."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Store an alert rule (replacing one of the same name)."""
    from mlops.monitoring.alerts import AlertRule

    rule = AlertRule.create(
        name,
        metric,
        condition,
        threshold,
        for_duration,
        severity,
        labels=_pairs(labels),
    )
    _manager(tracking_uri).save_rule(rule)
    console.print(
        f"Stored rule [bold]{name}[/bold]: {metric} {condition} {rule.threshold:g}"
        + (f" for {rule.for_duration:g}s" if rule.for_duration else "")
    )


@rules_app.command("delete")
def delete_rule(name: str, tracking_uri: str | None = TrackingUri) -> None:
    """Remove a stored alert rule."""
    _manager(tracking_uri).delete_rule(name)
    console.print(f"Deleted rule [bold]{name}[/bold]")


def _pairs(items: list[str]) -> dict[str, str]:
    """``label=value`` arguments as a mapping (a clear error for anything else)."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not label=value")
        pairs[key] = value
    return pairs
