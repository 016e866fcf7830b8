"""``mlops audit ...``: read the audit log of every write, and verify its hash chain."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import typer
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import console, print_json, report_error, when
from mlops.cli.users import open_access
from mlops.errors import InvalidInputError

app = typer.Typer(help="The audit log: who wrote what, and when.", no_args_is_help=True)


def _ms(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise InvalidInputError(
            f"time {text!r} is not ISO 8601; use e.g. 2026-11-26 or 2026-11-26T15:00:00+00:00"
        ) from None


@app.command("list")
def list_entries(
    actor: str | None = typer.Option(None, help="Only this user's writes."),
    action: str | None = typer.Option(None, help="Only this action, e.g. runs.create."),
    resource_type: str | None = typer.Option(None, help="Only this kind: run, experiment, ..."),
    resource_id: str | None = typer.Option(None, help="Only this resource (with its type)."),
    since: str | None = typer.Option(None, help="From this time (ISO 8601)."),
    until: str | None = typer.Option(None, help="Before this time (ISO 8601)."),
    limit: int = typer.Option(50, min=1, max=10_000, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """List recorded writes, newest first (--json adds each entry's details and hashes)."""
    access, _ = open_access(tracking_uri)
    page = access.audit.list_entries(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=_ms(since),
        until=_ms(until),
        limit=limit,
    )
    if as_json:
        print_json([asdict(e) for e in page.items])
        return
    table = Table(title="Audit log")
    for column in ("id", "when", "actor", "action", "resource", "status"):
        table.add_column(column, no_wrap=column in ("id", "when", "status"))
    for e in page.items:
        table.add_row(
            str(e.id),
            when(e.at),
            e.actor,
            e.action,
            f"{e.resource_type}:{e.resource_id}" if e.resource_type else "-",
            str(e.status_code or "cli"),
        )
    console.print(table)


@app.command("verify")
def verify(tracking_uri: str | None = TrackingUri) -> None:
    """Check the hash chain of the whole log; exit 1 at the first entry that does not add up."""
    access, _ = open_access(tracking_uri)
    report = access.verify_audit()
    if not report.ok:
        report_error(
            InvalidInputError(
                f"audit log broken at entry {report.first_broken_id}: {report.problem} "
                f"({report.checked} entries before it are intact)"
            )
        )
        raise typer.Exit(1)
    console.print(f"Audit log intact: {report.checked} entries, hash chain verified")
