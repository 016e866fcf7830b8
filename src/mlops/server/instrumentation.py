"""Prometheus metrics of the server itself: requests by route and status, and their latency.

Each app has its own registry, so several apps in one process (tests) never collide. With
``--workers N`` each worker process counts its own requests into files in
``PROMETHEUS_MULTIPROC_DIR`` (see ``mlops.server.workers``), and ``/metrics`` sums them all, so
whichever worker answers shows the totals of the whole server.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops.errors import MLOpsError

log = logging.getLogger(__name__)


class RequestMetrics:
    """Pure ASGI middleware (streams pass through untouched) counting and timing requests."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry):
        self.app = app
        self.requests = Counter(
            "mlops_http_requests",
            "HTTP requests served, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mlops_http_request_duration_seconds",
            "Time from request to the end of the response, by method and route.",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            # The route template, not the path: /api/v1/runs/{run_id}, so ids never become labels.
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.requests.labels(method, name, str(status)).inc()
            self.latency.labels(method, name).observe(time.perf_counter() - start)


class StoreCollector(Collector):
    """Metrics read from the database at each scrape, by a collector built on demand.

    The server opens its stores on first use (so it starts while the database is down); this
    builds the real collector only when scraped, and a database that cannot be read leaves
    those metrics out of that scrape instead of failing the request metrics with them.
    """

    def __init__(self, build: Callable[[], Collector]):
        self.build = build

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self.build().collect()
        except MLOpsError as exc:
            log.warning("metrics from the store left out of this scrape: %s", exc)


def metrics_response(registry: CollectorRegistry, collectors: Sequence[Collector] = ()) -> Response:
    """The registry and ``collectors`` in Prometheus' text format; with worker processes, the
    request metrics summed over them all (``collectors`` read shared state: added once)."""
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    scrape = CollectorRegistry()
    if shared:
        # prometheus_client's documented recipe: a fresh registry per scrape, read from the
        # files every worker (this one included) writes its samples to.
        multiprocess.MultiProcessCollector(scrape, path=shared)  # type: ignore[no-untyped-call]
    else:
        scrape.register(registry)
    for collector in collectors:
        scrape.register(collector)
    return Response(generate_latest(scrape), media_type=CONTENT_TYPE_LATEST)
