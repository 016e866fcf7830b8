"""``mlops users ...``, ``mlops grant`` and ``mlops revoke-grant``: who may use a server, and how.

These work on the configured metadata store directly (run them on the server's host, like
``mlops db``); each change is also appended to the audit log, as done by the configured user.
The first admin is made here: ``mlops users create alice --role admin``.
"""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from mlops.auth import AccessControl, NewAuditEntry, access_control
from mlops.auth.entities import Grant
from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json, when
from mlops.config import MLOpsConfig

app = typer.Typer(help="Users of an mlops server run with --auth.", no_args_is_help=True)
RoleArgument = typer.Option(
    None, "--role", help="A global role: viewer, editor or admin (default: none)."
)


def open_access(tracking_uri: str | None) -> tuple[AccessControl, MLOpsConfig]:
    """The store's access control, and the configuration (whose user is recorded as acting)."""
    config = config_from(tracking_uri)
    return access_control(config=config), config


def audit(access: AccessControl, config: MLOpsConfig, action: str, kind: str, ident: str) -> None:
    """Record a change made from the command line in the audit log."""
    access.audit.append([NewAuditEntry(config.user, action, kind, ident, None, {"via": "cli"})])


def describe(grant: Grant) -> str:
    where = "" if grant.scope == "global" else f" on {grant.scope} {grant.resource}"
    return f"{grant.role.value}{where}"


@app.command("create")
def create(
    username: str,
    role: str | None = RoleArgument,
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Create a user (then `mlops tokens create USER` gives them a token)."""
    access, config = open_access(tracking_uri)
    user = access.create_user(username, role, by=config.user)
    audit(access, config, "users.create", "user", user.username)
    console.print(
        f"Created user [bold]{user.username}[/bold]"
        + (f" with global role {role}" if role else "")
        + f"; `mlops tokens create {user.username}` gives them a token",
        highlight=False,
    )


@app.command("list")
def list_users(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """List users with their roles."""
    access, _ = open_access(tracking_uri)
    users = access.list_users()
    grants: dict[str, list[Grant]] = {}
    for grant in access.list_grants():
        grants.setdefault(grant.username, []).append(grant)
    if as_json:
        print_json(
            [
                {**asdict(u), "grants": [asdict(g) for g in grants.get(u.username, [])]}
                for u in users
            ]
        )
        return
    table = Table(title="Users")
    for column in ("user", "created", "state", "roles"):
        table.add_column(column, no_wrap=column != "roles")
    for u in users:
        roles = ", ".join(describe(g) for g in grants.get(u.username, [])) or "-"
        table.add_row(u.username, when(u.created_at), "disabled" if u.disabled else "active", roles)
    console.print(table)


@app.command("disable")
def disable(username: str, tracking_uri: str | None = TrackingUri) -> None:
    """Disable a user: their tokens stop working at once (grants and history stay)."""
    access, config = open_access(tracking_uri)
    access.disable_user(username)
    audit(access, config, "users.disable", "user", username)
    console.print(f"Disabled user [bold]{username}[/bold]; `mlops users enable` undoes it")


@app.command("enable")
def enable(username: str, tracking_uri: str | None = TrackingUri) -> None:
    """Enable a disabled user again."""
    access, config = open_access(tracking_uri)
    access.enable_user(username)
    audit(access, config, "users.enable", "user", username)
    console.print(f"Enabled user [bold]{username}[/bold]")


ExperimentOption = typer.Option(None, "--experiment", help="Only on this experiment (its id).")
ModelOption = typer.Option(None, "--model", help="Only on this registered model (its name).")


def grant(
    username: str = typer.Argument(..., help="The user."),
    role: str = typer.Argument(..., help="viewer, editor or admin."),
    experiment: str | None = ExperimentOption,
    model: str | None = ModelOption,
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Give a user a role globally, on one experiment or on one model (replacing the one held)."""
    access, config = open_access(tracking_uri)
    given = access.grant(username, role, experiment=experiment, model=model, by=config.user)
    audit(access, config, "grants.set", "user", username)
    console.print(f"[bold]{username}[/bold] is now {describe(given)}", highlight=False)


def revoke_grant(
    username: str = typer.Argument(..., help="The user."),
    experiment: str | None = ExperimentOption,
    model: str | None = ModelOption,
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Take away the role a user holds globally (default), on an experiment or on a model."""
    access, config = open_access(tracking_uri)
    access.revoke(username, experiment=experiment, model=model)
    audit(access, config, "grants.revoke", "user", username)
    where = f"experiment {experiment}" if experiment else f"model {model}" if model else "global"
    console.print(f"Revoked the {where} role of [bold]{username}[/bold]", highlight=False)
