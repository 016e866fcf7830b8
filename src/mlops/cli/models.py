"""``mlops models ...``"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json, when
from mlops.models.entities import ApprovalRequest, ModelVersion
from mlops.models.registry import ModelRegistry

app = typer.Typer(
    help="The model registry: versions, stages, aliases, approvals.", no_args_is_help=True
)


def _registry(tracking_uri: str | None) -> ModelRegistry:
    return ModelRegistry(config=config_from(tracking_uri))


def _report(result: ModelVersion | ApprovalRequest) -> None:
    if isinstance(result, ApprovalRequest):
        console.print(
            f"Approval needed: request [bold]{result.id}[/bold] ({result.action} -> "
            f"{result.target} for {result.name} v{result.version}) waits for another user: "
            f"`mlops models approve {result.id}`"
        )
    else:
        console.print(
            f"[bold]{result.name}[/bold] v{result.version} is now "
            f"[green]{result.stage.value}[/green]"
            + (f" (aliases: {', '.join(result.aliases)})" if result.aliases else "")
        )


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json"), tracking_uri: str | None = TrackingUri
) -> None:
    """Registered models with their newest version per stage."""
    models = _registry(tracking_uri).list_models()
    if as_json:
        print_json([asdict(m) for m in models])
        return
    table = Table(title="Registered models")
    for column in ("name", "latest", "staging", "production", "aliases"):
        table.add_column(column, no_wrap=column != "aliases", min_width=7)
    for m in models:
        table.add_row(
            m.name,
            str(m.latest_version or "-"),
            str(m.stages.get("staging", "-")),
            str(m.stages.get("production", "-")),
            ", ".join(f"{a}->v{v}" for a, v in sorted(m.aliases.items())) or "-",
        )
    console.print(table)


@app.command("show")
def show(
    name: str, as_json: bool = typer.Option(False, "--json"), tracking_uri: str | None = TrackingUri
) -> None:
    """A model's versions and its history of stage changes, alias moves and approvals."""
    registry = _registry(tracking_uri)
    versions = registry.list_versions(name)
    events = registry.history(name)
    if as_json:
        print_json(
            {"versions": [asdict(v) for v in versions], "history": [asdict(e) for e in events]}
        )
        return
    table = Table(title=f"{name}: versions")
    for column in ("v", "stage", "aliases", "format", "run", "sha256", "created"):
        table.add_column(column, no_wrap=column != "aliases")
    for v in versions:
        table.add_row(
            str(v.version),
            v.stage.value,
            ", ".join(v.aliases) or "-",
            f"{v.flavor}/{v.format}",
            (v.run_id or "-")[:8],
            v.sha256[:8],
            when(v.created_at)[5:16],
        )
    console.print(table)
    history = Table(title=f"{name}: history")
    for column in ("when", "v", "what", "from", "to", "who", "comment"):
        history.add_column(column, no_wrap=column != "comment")
    for e in events:
        history.add_row(
            when(e.created_at)[5:],
            str(e.version or "-"),
            e.kind,
            e.from_value or "-",
            e.to_value or "-",
            e.user,
            e.comment or "",
        )
    console.print(history)


@app.command("promote")
def promote(
    name: str,
    version: int,
    stage: str = typer.Argument(..., help="staging | production | archived | none"),
    no_archive: bool = typer.Option(
        False, "--no-archive", help="Keep the current production version in production."
    ),
    comment: str | None = typer.Option(None, "--comment", "-m"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Move a version to another stage (may create an approval request)."""
    _report(
        _registry(tracking_uri).promote_model(
            name, version, stage, archive_existing=not no_archive, comment=comment
        )
    )


@app.command("rollback")
def rollback(
    name: str,
    comment: str | None = typer.Option(None, "--comment", "-m"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Put the previous production version back in production."""
    _report(_registry(tracking_uri).rollback(name, comment=comment))


@app.command("alias")
def alias(name: str, alias_name: str, version: int, tracking_uri: str | None = TrackingUri) -> None:
    """Point an alias (e.g. champion) at a version."""
    _report(_registry(tracking_uri).set_alias(name, alias_name, version))


@app.command("requests")
def requests(
    all_: bool = typer.Option(False, "--all", help="Include decided requests."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Approval requests waiting for a decision."""
    table = Table(title="Approval requests")
    for column in (
        "id",
        "model",
        "version",
        "action",
        "target",
        "status",
        "requested by",
        "decided by",
    ):
        table.add_column(column)
    for r in _registry(tracking_uri).list_requests(None if all_ else "pending"):
        table.add_row(
            str(r.id),
            r.name,
            str(r.version),
            r.action,
            r.target,
            r.status,
            r.requested_by,
            r.decided_by or "-",
        )
    console.print(table)


@app.command("approve")
def approve(
    request_id: int,
    comment: str | None = typer.Option(None, "--comment", "-m"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Approve another user's request and apply it."""
    _report(_registry(tracking_uri).approve(request_id, comment=comment))


@app.command("reject")
def reject(
    request_id: int,
    comment: str | None = typer.Option(None, "--comment", "-m"),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Reject a request."""
    request = _registry(tracking_uri).reject(request_id, comment=comment)
    console.print(f"Rejected request {request.id} ({request.action} -> {request.target})")


@app.command("delete")
def delete(name: str, version: int, tracking_uri: str | None = TrackingUri) -> None:
    """Soft-delete a version (restore undoes it; `mlops gc` makes it final)."""
    _registry(tracking_uri).delete_model_version(name, version)
    console.print(f"Deleted {name} v{version}")


@app.command("restore")
def restore(name: str, version: int, tracking_uri: str | None = TrackingUri) -> None:
    """Restore a deleted version."""
    _registry(tracking_uri).restore_model_version(name, version)
    console.print(f"Restored {name} v{version}")


@app.command("build-image")
def build_image(
    model_uri: str = typer.Argument(..., help="models:/NAME/VERSION (or @ALIAS, /STAGE)."),
    output: Path = typer.Option(..., "--output", "-o", help="New or empty folder for it."),
    build: bool = typer.Option(False, "--build", help="Also run docker build (needs Docker)."),
    tag: str | None = typer.Option(None, help="Image tag (default: mlops-NAME:VERSION)."),
    port: int = typer.Option(8080, help="Port the container listens on."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Write a Dockerfile and build context serving a model version; --build builds it."""
    from mlops.models.deployment.image import build_image as docker_build
    from mlops.models.deployment.image import build_image_context

    context = build_image_context(model_uri, output, config=config_from(tracking_uri), port=port)
    name, version = context.model_uri.removeprefix("models:/").split("/")
    image = tag or f"mlops-{name.lower()}:{version}"
    console.print(
        f"Build context for {context.model_uri} (sha256 {context.sha256[:12]}, files verified, "
        f"Python {context.python}) written to {context.path}\n"
        f"Build it: {' '.join(context.build_command(image))}",
        highlight=False,
    )
    if build:
        docker_build(context, image)
        console.print(f"Built image [bold]{image}[/bold]")
