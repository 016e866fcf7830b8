"""``mlops tokens ...``: API tokens for a server run with --auth (stored hashed, shown once)."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import console, print_json, when
from mlops.cli.users import audit, open_access

app = typer.Typer(help="API tokens of users (for MLOPS_TRACKING_TOKEN).", no_args_is_help=True)


@app.command("create")
def create(
    username: str = typer.Argument(..., help="The user the token acts as."),
    name: str | None = typer.Option(None, "--name", help="What the token is for."),
    expires_in: str | None = typer.Option(
        None, "--expires-in", help="Lifetime, e.g. 30d, 12h, 90m (default: never expires)."
    ),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Make a token and print its secret, once: it is stored only as a hash."""
    access, config = open_access(tracking_uri)
    issued = access.create_token(username, name, expires_in)
    audit(access, config, "tokens.create", "token", str(issued.token.id))
    # The secret alone on stdout, so `export MLOPS_TRACKING_TOKEN=$(mlops tokens create ...)`
    # works; the explanation goes to stderr.
    typer.echo(issued.secret)
    expiry = f"expires {when(issued.token.expires_at)} UTC" if issued.token.expires_at else ""
    typer.echo(
        f"token {issued.token.id} for {username} {expiry}; it is shown only now: clients "
        "set MLOPS_TRACKING_TOKEN to it",
        err=True,
    )


@app.command("list")
def list_tokens(
    username: str | None = typer.Argument(None, help="Only this user's tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """List tokens (never their secrets)."""
    access, _ = open_access(tracking_uri)
    tokens = access.list_tokens(username)
    if as_json:
        print_json([asdict(t) for t in tokens])
        return
    table = Table(title="API tokens")
    for column in ("id", "user", "name", "prefix", "expires", "last used", "state"):
        table.add_column(column, no_wrap=column not in ("user", "name"))
    for t in tokens:
        state = "revoked" if t.revoked_at else "active"
        table.add_row(
            str(t.id),
            t.username,
            t.name,
            t.prefix,
            when(t.expires_at)[:16],
            when(t.last_used_at)[:16],
            state,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: int = typer.Argument(..., help="The token's id (see `mlops tokens list`)."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Revoke a token: it stops working at once, for good."""
    access, config = open_access(tracking_uri)
    token = access.revoke_token(token_id)
    audit(access, config, "tokens.revoke", "token", str(token_id))
    console.print(f"Revoked token {token.id} ({token.prefix}…) of [bold]{token.username}[/bold]")
