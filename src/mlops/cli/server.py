"""``mlops server``: the tracking server, FastAPI on uvicorn."""

from __future__ import annotations

import os
import socket

import typer

from mlops.cli.render import config_from, console
from mlops.store.open import open_stores


def server(
    host: str | None = typer.Option(None, help="Interface to listen on [config: server.host]."),
    port: int | None = typer.Option(None, help="Port to listen on [config: server.port]."),
    workers: int | None = typer.Option(None, help="Worker processes [config: server.workers]."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="The database to serve (sqlite:///PATH, postgresql://...)."
    ),
    artifact_uri: str | None = typer.Option(
        None, "--artifact-uri", help="The artifact root to serve (a folder or s3://...)."
    ),
    auth: bool | None = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require API tokens and check roles [config: server.auth; default off].",
    ),
    online_store: str | None = typer.Option(
        None,
        "--online-store",
        help="The online feature store lookups read: sqlite:///PATH or redis://HOST:PORT/DB "
        "[config: features.online_store; default HOME/online.db].",
    ),
) -> None:
    """Serve tracking and the model registry over HTTP: REST under /api/v1, docs at /docs.

    Clients use it with MLOPS_TRACKING_URI=http://HOST:PORT.
    """
    import uvicorn

    from mlops.server.app import create_app

    config = config_from(tracking_uri, artifact_uri)
    if auth is not None:
        config.server.auth = auth
    if online_store is not None:
        config.features.online_store = online_store
    if config.features.online_store:
        from mlops.features.online import open_online_store

        open_online_store(config.features.online_store)  # an unknown scheme: refused now
    settings = config.server
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    app = create_app(config)  # refuses a configuration it cannot serve, before listening
    # Create or check the schema once, here: workers opening a new database together would race.
    open_stores(config, fresh=True).close()
    console.print(
        f"mlops server on http://{host}:{port}  (metadata {config.resolved_tracking_uri}, "
        f"artifacts {config.resolved_artifact_uri}, {workers} worker(s), "
        f"auth {'on' if settings.auth else 'off'})",
        highlight=False,
    )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    # Worker processes build their app from the environment: give them the same locations.
    os.environ["MLOPS_TRACKING_URI"] = config.resolved_tracking_uri
    os.environ["MLOPS_ARTIFACT_URI"] = config.resolved_artifact_uri
    os.environ["MLOPS_SERVER__AUTH"] = "true" if settings.auth else "false"
    if config.features.online_store:
        os.environ["MLOPS_FEATURES__ONLINE_STORE"] = config.features.online_store
    from mlops.server.workers import run_workers

    workers_config = uvicorn.Config(
        "mlops.server.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
    run_workers(workers_config, [_listen(host, port)])


def _listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for the worker processes to accept on.

    Made here rather than by uvicorn so that it says it is TCP (``IPPROTO_TCP``): asyncio sets
    TCP_NODELAY only on connections accepted from such a socket, and without it every small
    response waits ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
