"""``create_app(config)``: the tracking server as a FastAPI application.

Routes live under ``/api/v1`` (one router per domain), OpenAPI at ``/docs``, liveness at
``/healthz``, readiness (the metadata store can be opened and queried) at ``/readyz`` and
Prometheus metrics at ``/metrics`` (the server's requests, and the monitoring domain's drift,
performance and alert gauges read from the served database). The stores are the same
``open_stores(config)`` the Python API uses, opened on first use and closed at shutdown.

With ``server.auth`` (``mlops server --auth``) every ``/api/v1`` route needs an API token and
the role its rule names (``mlops.server.permissions``); the service routes and everything
outside ``/api`` (the web UI's files) stay open. Every write is audited, auth on or off.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.responses import Response

from mlops.config import MLOpsConfig, load_config
from mlops.errors import ConfigError, MLOpsError
from mlops.features.feature_store import FeatureStore
from mlops.monitoring.prometheus import MonitoringCollector
from mlops.server import schemas
from mlops.server.dependencies import ServerState, State
from mlops.server.errors import error_response, install_error_handlers
from mlops.server.instrumentation import RequestMetrics, StoreCollector, metrics_response
from mlops.server.limits import BodyLimit
from mlops.server.permissions import unruled_routes
from mlops.server.routers import (
    abtests,
    artifacts,
    auth,
    deployments,
    experiments,
    features,
    metrics,
    models,
    monitoring,
    monitoring_store,
    runs,
    ui_data,
)
from mlops.server.ui import mount_ui
from mlops.server.workers import exit_with_supervisor

log = logging.getLogger(__name__)


def create_app(
    config: MLOpsConfig | None = None, *, feature_store: FeatureStore | None = None
) -> FastAPI:
    """The server application for ``config`` (default: the environment's configuration).

    Online feature lookups read ``feature_store`` if given, else a feature store over the
    served database and the configuration's default online store (``routers/features.py``).
    """
    config = config or load_config()
    state = ServerState(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="mlops",
        summary="Experiment tracking and model registry over HTTP.",
        version="1",
        lifespan=lifespan,
        responses=schemas.ERROR_RESPONSES,
    )
    app.state.mlops = state
    install_error_handlers(app)
    for module in (experiments, runs, metrics, artifacts, models, auth, ui_data, monitoring):
        app.include_router(module.router)
    app.include_router(features.router)
    app.include_router(abtests.router)
    app.include_router(deployments.router)
    app.include_router(monitoring_store.router)
    app.include_router(features.online_router(state, feature_store))
    if unruled := unruled_routes(app.routes):
        # Deny by default: an API route nobody declared a permission for must not be served.
        raise ConfigError(f"API routes without a permission rule (@allow): {unruled}")
    mount_ui(app)

    app.add_middleware(BodyLimit, max_bytes=config.server.max_request_bytes)
    registry = CollectorRegistry()
    app.add_middleware(RequestMetrics, registry=registry)
    # Drift, performance and alert gauges, read from the database at each scrape.
    monitoring_metrics = StoreCollector(lambda: MonitoringCollector(state.monitoring))

    @app.get("/healthz", response_model=schemas.Health, tags=["service"])
    def healthz() -> Any:
        """The process is up (no dependency is checked)."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Health, tags=["service"])
    def readyz(server: State) -> Any:
        """The metadata store can be opened and queried (503 otherwise)."""
        try:
            server.stores.tracking.list_experiments(limit=1)
        except MLOpsError as exc:
            log.warning("not ready: %s", exc)
            return error_response(503, "BackendUnavailableError", f"not ready: {exc}")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Request counts and latencies in Prometheus' text format."""
        return metrics_response(registry, [monitoring_metrics])

    return app


def app_from_environment() -> FastAPI:
    """The app for uvicorn's ``--factory`` (worker processes): config from ``MLOPS_*``/toml."""
    exit_with_supervisor()
    return create_app(load_config())
