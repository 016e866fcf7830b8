"""``mlops serve models:/NAME@ALIAS``: one registered model over HTTP, on uvicorn."""

from __future__ import annotations

import os

import typer

from mlops.cli.render import config_from, console
from mlops.cli.server import _listen  # the TCP_NODELAY-friendly socket, shared, not copied
from mlops.models.serving.app import (
    ENV_MODEL_URI,
    ENV_OPTIONS,
    create_serving_app,
    tune_garbage_collector,
)
from mlops.models.serving.options import ServingOptions

_DEFAULTS = ServingOptions()


def serve(
    model_uri: str = typer.Argument(
        ..., help="models:/NAME@ALIAS, models:/NAME/VERSION or models:/NAME/STAGE."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads the model)."),
    max_batch_size: int = typer.Option(
        _DEFAULTS.max_batch_size, min=1, help="Most rows grouped into one predict call."
    ),
    max_wait_ms: float = typer.Option(
        _DEFAULTS.max_wait_ms, min=0, help="Longest a request waits for a batch, under load."
    ),
    poll_interval: float = typer.Option(
        _DEFAULTS.poll_interval,
        min=0,
        help="Seconds between registry checks for a moved alias or stage (0: never).",
    ),
    max_body_size: int = typer.Option(
        _DEFAULTS.max_body_size, min=1, help="Largest request body in bytes (else 413)."
    ),
    monitor: bool | None = typer.Option(
        None,
        "--monitor/--no-monitor",
        help="Feed predictions to the version's drift and performance monitors "
        "(default: the serving.monitor setting).",
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="The registry's database (sqlite:///PATH, http://...)."
    ),
    artifact_uri: str | None = typer.Option(
        None, "--artifact-uri", help="The artifact root (a folder or s3://...)."
    ),
) -> None:
    """Serve a registered model: Open Inference Protocol v2, /predict, MLflow's /invocations.

    When the alias or stage moves to another version, the server swaps it in without dropping
    a request. Metrics at /metrics.
    """
    import uvicorn

    config = config_from(tracking_uri, artifact_uri)
    options = ServingOptions(
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        poll_interval=poll_interval,
        max_body_size=max_body_size,
    )
    if monitor is not None:
        config = config.model_copy(
            update={"serving": config.serving.model_copy(update={"monitor": monitor})}
        )
    # Built here even with several workers: a wrong reference fails now, not in every worker
    # (the monitoring hook only starts with the app, so this one starts none).
    app = create_serving_app(model_uri, options, config=config)
    served = app.state.serving.current.version
    console.print(
        f"mlops serve {served.name} v{served.version} ({model_uri}) on http://{host}:{port}, "
        f"{workers} worker(s), batches of up to {max_batch_size} rows / {max_wait_ms} ms"
        + (", monitored" if config.serving.monitor else ""),
        highlight=False,
    )
    if workers == 1:
        tune_garbage_collector()
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    os.environ.update(
        {
            "MLOPS_TRACKING_URI": config.resolved_tracking_uri,
            "MLOPS_ARTIFACT_URI": config.resolved_artifact_uri,
            ENV_MODEL_URI: model_uri,
            ENV_OPTIONS: options.to_json(),
            "MLOPS_SERVING__MONITOR": "true" if config.serving.monitor else "false",
            "MLOPS_SERVING__WORKERS": str(workers),
        }
    )
    from mlops.server.workers import run_workers

    workers_config = uvicorn.Config(
        "mlops.models.serving.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )
    run_workers(workers_config, [_listen(host, port)])  # /metrics sums the workers
