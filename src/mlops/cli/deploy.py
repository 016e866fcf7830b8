"""``mlops deploy MODEL_URI`` and ``mlops deployments list|status|rollback``.

``mlops deploy`` on the local target starts a deployment in the foreground (replicas behind a
router, until Ctrl-C) or, when a deployment of that name is already running in another
process, rolls the new version out there and follows the rollout with a progress bar.
"""

from __future__ import annotations

import threading
import time

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json, when
from mlops.config import MLOpsConfig
from mlops.errors import InvalidInputError
from mlops.models.deployment import (
    DeploymentRecord,
    Gates,
    KubernetesDeployment,
    LocalDeployment,
    MonitoringDriftGate,
    RolloutStrategy,
    deployment_store,
    make_strategy,
    rollback_deployment,
)
from mlops.models.deployment.lifecycle import control, find_running
from mlops.models.deployment.records import resolve_version

app = typer.Typer(help="Deployments: list, status, rollback.", no_args_is_help=True)


def deploy(
    model_uri: str = typer.Argument(..., help="models:/NAME/VERSION (or @ALIAS, /STAGE)."),
    target: str = typer.Option("local", help="local (processes here) or kubernetes."),
    strategy: str | None = typer.Option(
        None, help="canary (default), blue_green or rolling; kubernetes: rolling only."
    ),
    steps: str | None = typer.Option(None, help="Traffic percents, e.g. 5,25,50,100."),
    replicas: int = typer.Option(2, min=1, help="Replicas (pods) of the version."),
    hold: float = typer.Option(30.0, min=0, help="Least seconds each step lasts."),
    min_requests: int = typer.Option(100, min=0, help="Requests each step must see."),
    max_error_rate: float = typer.Option(0.05, min=0, help="Error rate allowed over stable."),
    max_p99_ms: float = typer.Option(1000.0, min=0, help="p99 latency limit (ms)."),
    drift_gate: bool = typer.Option(
        False,
        "--drift-gate/--no-drift-gate",
        help="Also gate each step on monitoring's drift verdict over the rows the new version "
        "served (by the detector attached to it; its replicas run monitored).",
    ),
    drift_threshold: float | None = typer.Option(
        None,
        min=0,
        max=1,
        help="Largest share of drifted columns that passes (implies --drift-gate; default: "
        "the detector's alert_threshold).",
    ),
    drift_min_rows: int = typer.Option(
        200, min=1, help="Fewest served rows the drift gate judges (fewer: not judged)."
    ),
    name: str | None = typer.Option(None, help="Deployment name (default: the model's)."),
    port: int = typer.Option(8000, help="Router port (local target)."),
    resources: str | None = typer.Option(None, help="Per pod, e.g. cpu=500m,memory=1Gi."),
    min_replicas: int | None = typer.Option(None, help="Autoscaling minimum (kubernetes)."),
    max_replicas: int | None = typer.Option(None, help="Autoscaling maximum (kubernetes)."),
    image: str = typer.Option("mlops-serve:latest", help="Container image (kubernetes)."),
    namespace: str = typer.Option("default", help="Kubernetes namespace."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be deployed."),
    promote_to: str = typer.Option(
        "production",
        help="Registry stage a version that finishes its rollout is promoted to ('none': skip).",
    ),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Deploy a registered model version, rolled out by the strategy with automatic rollback."""
    config = config_from(tracking_uri)
    if target == "kubernetes":
        _refuse_local_only(
            strategy=strategy not in (None, "rolling"),
            steps=steps is not None,
            drift_gate=drift_gate or drift_threshold is not None,
        )
        _deploy_kubernetes(model_uri, replicas, resources, min_replicas, max_replicas,
                           name, namespace, image, dry_run, config)  # fmt: skip
        return
    if target != "local":
        raise InvalidInputError(f"target {target!r} is not one of ['local', 'kubernetes']")
    plan = make_strategy(
        strategy or "canary",
        steps=[float(s) for s in steps.split(",")] if steps else None,
        replicas=replicas,
        hold_seconds=hold,
        min_requests=min_requests,
        gates=Gates(
            max_error_rate=max_error_rate,
            max_p99_ms=max_p99_ms,
            drift=MonitoringDriftGate(drift_threshold, drift_min_rows)
            if drift_gate or drift_threshold is not None
            else None,
        ),
    )
    if dry_run:
        print_json({"target": "local", "model_uri": model_uri, **plan.describe()})
        return
    deployment_name = name or resolve_version(model_uri, config).name
    running = find_running(deployment_name, config)
    if running is None:
        _serve_foreground(model_uri, replicas, plan, deployment_name, port, config, promote_to)
        return
    stage = None if promote_to.lower() == "none" else promote_to
    answer = control(
        running,
        "deploy",
        {"model_uri": model_uri, "strategy": plan.describe(), "promote_to": stage},
    )
    console.print(f"Rolling {model_uri} out on {deployment_name} at {running.url}")
    if follow(str(answer["deployment_id"]), config) != "succeeded":
        raise typer.Exit(1)


def _deploy_kubernetes(
    model_uri: str,
    replicas: int,
    resources: str | None,
    min_replicas: int | None,
    max_replicas: int | None,
    name: str | None,
    namespace: str,
    image: str,
    dry_run: bool,
    config: MLOpsConfig,
) -> None:
    scaling = {"min_replicas": min_replicas or replicas, "max_replicas": max_replicas or replicas}
    k8s = KubernetesDeployment(
        model_uri,
        replicas,
        _pairs(resources) if resources else None,
        scaling if (min_replicas or max_replicas) else None,
        name=name,
        namespace=namespace,
        image=image,
        config=config,
    )
    if dry_run:
        typer.echo(k8s.to_yaml(), nl=False)
        return
    rollout = k8s.deploy()
    console.print(f"Deployment {rollout.deployment_id}: {rollout.message}")


def _refuse_local_only(**given: bool) -> None:
    """A Kubernetes rollout is the cluster's own RollingUpdate, gated by readiness probes; the
    step-by-step strategies and their gates run in the local router only. Say so rather than
    ignore what was asked."""
    asked = [f"--{name.replace('_', '-')}" for name, on in given.items() if on]
    if asked:
        raise InvalidInputError(
            f"{', '.join(asked)} apply to --target local only: on Kubernetes the cluster's "
            "RollingUpdate replaces pods as their readiness probes pass (drop the option, or "
            "run the canary with --target local)"
        )


def _pairs(text: str) -> dict[str, str]:
    pairs = [p.partition("=") for p in text.split(",") if p]
    if any(not sep for _, sep, _ in pairs):
        raise InvalidInputError(f"resources {text!r}: use KEY=VALUE,... (cpu=500m,memory=1Gi)")
    return {k.strip(): v.strip() for k, _, v in pairs}


def _serve_foreground(
    model_uri: str,
    replicas: int,
    plan: RolloutStrategy,
    name: str,
    port: int,
    config: MLOpsConfig,
    promote_to: str,
) -> None:
    deployment = LocalDeployment(
        model_uri,
        replicas,
        strategy=plan,
        name=name,
        port=port,
        config=config,
        promote_to=None if promote_to.lower() == "none" else promote_to,
    )
    with console.status(f"Starting {replicas} replica(s) of {model_uri}"):
        rollout = deployment.deploy().wait()
    console.print(
        f"Deployment {rollout.deployment_id} ({name}) serves {model_uri} at {deployment.url}\n"
        f"Roll a new version out from another shell: mlops deploy models:/... --name {name}\n"
        "Ctrl-C stops it."
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("Stopping (answering the requests in flight first)")
    finally:
        deployment.stop()


def follow(deployment_id: str, config: MLOpsConfig, poll: float = 0.5) -> str:
    """Show a rollout's progress (traffic to the new version) until it ends; its status."""
    store = deployment_store(config)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}% traffic"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=100)
        while True:
            record = store.get_deployment(deployment_id)
            if record.events:
                last = record.events[-1]
                traffic = next((e.traffic for e in reversed(record.events)
                                if e.kind == "step" and e.traffic is not None), 0.0)  # fmt: skip
                progress.update(task, completed=traffic, description=f"{last.kind}: "
                                f"{last.message or ''}"[:60])  # fmt: skip
            if record.status != "running":
                break
            time.sleep(poll)
    console.print(_events_table(record))
    return record.status


def _events_table(record: DeploymentRecord) -> Table:
    table = Table(
        title=f"{record.id[:12]} {record.model_name} v{record.model_version} "
        f"({record.strategy}, {record.target}): {record.status}"
    )
    for column in ("at", "event", "traffic %", "passed", "message"):
        table.add_column(column)
    for event in record.events:
        passed = "" if event.passed is None else ("[green]yes[/]" if event.passed else "[red]no[/]")
        traffic = "" if event.traffic is None else f"{event.traffic:g}"
        table.add_row(when(event.at), event.kind, traffic, passed, event.message or "")
    return table


@app.command("list")
def list_deployments(
    model: str | None = typer.Option(None, help="Only this model's deployments."),
    limit: int = typer.Option(50, min=1, help="Most deployments to show."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Deployments, newest first."""
    page = deployment_store(config_from(tracking_uri)).list_deployments(model, limit=limit)
    table = Table(title="Deployments")
    table.add_column("id", no_wrap=True, min_width=12)  # what status/rollback take
    for column in ("name", "model", "version", "was", "target", "strategy", "status",
                   "started", "url"):  # fmt: skip
        table.add_column(column)
    for d in page:
        table.add_row(d.id[:12], d.name, d.model_name, str(d.model_version),
                      str(d.previous_version or "-"), d.target, d.strategy, d.status,
                      when(d.created_at), d.url or "-")  # fmt: skip
    console.print(table)


@app.command("status")
def status(
    deployment_id: str = typer.Argument(..., help="Deployment id (6+ characters)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """A deployment with every step, gate verdict and rollback."""
    record = deployment_store(config_from(tracking_uri)).get_deployment(deployment_id)
    if json_output:
        settings = {k: v for k, v in record.config.items() if k != "control_token"}
        print_json({**record.__dict__, "config": settings})
        return
    console.print(_events_table(record))


@app.command("rollback")
def rollback(
    deployment_id: str = typer.Argument(..., help="Deployment id (6+ characters)."),
    reason: str = typer.Option("rolled back by hand", help="Recorded with the rollback."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Stop a running rollout (traffic back to stable) or put the previous version back."""
    config = config_from(tracking_uri)
    with console.status(f"Rolling back {deployment_id}"):
        result = rollback_deployment(deployment_id, reason, config=config)
    console.print(f"Rolled back: deployment {result['deployment_id']} is {result['status']}")
