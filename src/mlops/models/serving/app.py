"""``create_serving_app``: one registered model behind Open Inference Protocol v2, ``/predict``
and MLflow's ``/invocations``, as an ASGI application.

Bodies are read and parsed by hand rather than through pydantic models: the formats overlap
(a list may be records or rows), the error must name the field in our words, and per-request
cost is what the throughput target is made of. Every prediction response, and every error of a
prediction endpoint, carries an ``X-Prediction-Id`` header; successful bodies repeat it as
``prediction_id`` (v2: ``parameters.prediction_id``) so labels arriving later can be joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from mlops.config import MLOpsConfig, load_config
from mlops.errors import InvalidStateError, MLOpsError, NotFoundError, PayloadTooLargeError
from mlops.ids import time_ordered_id
from mlops.models.registry import ModelRegistry
from mlops.models.serving.batching import BatcherClosedError
from mlops.models.serving.errors import ModelUnavailableError
from mlops.models.serving.metrics import ServingMetrics
from mlops.models.serving.monitoring import PredictionConsumer, PredictionQueue, PredictionRecord
from mlops.models.serving.options import ServingOptions
from mlops.models.serving.payloads import (
    ModelInput,
    from_invocations,
    from_predict,
    from_v2,
    parse_json,
    to_jsonable,
)
from mlops.models.serving.source import ModelSource, ServedModel
from mlops.models.serving.values import v2_datatype
from mlops.models.signature import ColumnSchema, Schema, TensorSchema
from mlops.server.errors import install_error_handlers
from mlops.server.instrumentation import RequestMetrics, metrics_response

__all__ = [
    "ENV_MODEL_URI",
    "ENV_OPTIONS",
    "ServingState",
    "app_from_environment",
    "create_serving_app",
    "tune_garbage_collector",
]

log = logging.getLogger(__name__)

ENV_MODEL_URI = "MLOPS_SERVE_MODEL_URI"
ENV_OPTIONS = "MLOPS_SERVE_OPTIONS"
YOUNG_COLLECTION_THRESHOLD = 20_000  # allocations between young collections in a server
_JSON = "application/json"


class ServingState:
    """What the endpoints share: the served model (swapped atomically), metrics, the hook."""

    def __init__(
        self,
        source: ModelSource,
        options: ServingOptions,
        metrics: ServingMetrics,
        monitor: PredictionQueue | None,
    ) -> None:
        self.source = source
        self.options = options
        self.metrics = metrics
        self.monitor = monitor
        self.current = self._load()
        self.ready = False

    def _load(self, version: Any = None) -> ServedModel:
        served = self.source.load(
            version if version is not None else self.source.resolve(),
            max_batch_size=self.options.max_batch_size,
            max_wait_ms=self.options.max_wait_ms,
            on_batch=self.metrics.record_batch,
        )
        return served

    async def watch(self) -> None:
        """Poll the registry; when the reference names another version, swap it in."""
        while True:
            await asyncio.sleep(self.options.poll_interval)
            try:
                version = await asyncio.to_thread(self.source.resolve)
                if version.version == self.current.version.version:
                    continue
                fresh = await asyncio.to_thread(self._load, version)
            except MLOpsError as exc:
                # The alias was removed or the store is down: keep serving what we have.
                log.warning(
                    "cannot follow %s (still serving v%s): %s",
                    self.source.uri,
                    self.current.version.version,
                    exc,
                )
                continue
            fresh.batcher.start()
            old, self.current = self.current, fresh
            self.metrics.swaps.inc()
            self.metrics.served_version(fresh.version.version)
            log.info(
                "%s now serves version %s (was %s)",
                self.source.uri,
                fresh.version.version,
                old.version.version,
            )
            await old.batcher.close()  # requests already queued on it still complete

    async def predict(
        self, parse: Callable[[ServedModel], ModelInput]
    ) -> tuple[ServedModel, ModelInput, NDArray[Any]]:
        """Parse for the current version and run it; a request caught by a swap is resubmitted."""
        for _ in range(5):
            served = self.current
            item = parse(served)
            try:
                return served, item, await served.batcher.submit(item)
            except BatcherClosedError:
                continue
        raise ModelUnavailableError("the model is being swapped; retry")

    def record(
        self,
        prediction_id: str,
        served: ServedModel,
        item: ModelInput,
        output: NDArray[Any],
        started: float,
    ) -> None:
        """Offer the request to the monitoring hook (when on): one append, no waiting; when
        the hook's queue is full, the record is counted as sampled out and never built."""
        if self.monitor is None or not self.monitor.reserve():
            return
        columns = item.key[1] if item.rows is not None else None  # type: ignore[index]
        self.monitor.offer(
            PredictionRecord(
                prediction_id=prediction_id,
                model_name=served.name,
                model_version=served.version.version,
                timestamp_ms=int(time.time() * 1000),
                columns=columns,
                # Tuples, built inner first, so the collector can untrack them (see offer).
                inputs=tuple([tuple(row) for row in item.rows])
                if item.rows is not None
                else item.array,
                outputs=output,
                latency=time.perf_counter() - started,
            )
        )


def create_serving_app(
    model_uri: str,
    options: ServingOptions | None = None,
    *,
    config: MLOpsConfig | None = None,
    registry: ModelRegistry | None = None,
    consumer: PredictionConsumer | None = None,
    monitor: bool | None = None,
) -> FastAPI:
    """The model server for ``model_uri``; the model is loaded (and verified) before this returns.

    Args:
        model_uri: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``models:/NAME/STAGE``.
        options: Batching, body limit, polling (defaults: :class:`ServingOptions`).
        config: Where the registry is (default: the environment's configuration).
        registry: A registry to use instead of one built from ``config``.
        consumer: The monitoring hook's consumer (overrides ``monitor``).
        monitor: Feed the served version's ``ModelMonitor`` (a ``MonitorFeed``); ``None``
            follows the configuration's ``serving.monitor``.

    Raises:
        ModelVersionNotFoundError: The reference names no version.
        ModelIntegrityError: The version's files do not match its recorded hash.
    """
    options = options or ServingOptions()
    registry = registry or ModelRegistry(config=config)
    source = ModelSource(model_uri, registry)
    prometheus = CollectorRegistry()
    metrics = ServingMetrics(prometheus, source.name)
    state = ServingState(source, options, metrics, None)
    metrics.served_version(state.current.version.version)
    if consumer is None and (registry.config.serving.monitor if monitor is None else monitor):
        from mlops.models.serving.feed import MonitorFeed, monitor_task

        consumer = MonitorFeed(registry.config, task=monitor_task(state.current.model))
    hook = None
    if consumer is not None:
        hook = PredictionQueue(
            consumer, options.monitor_queue_size, on_drop=metrics.monitoring_dropped.inc
        )
        state.monitor = hook

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.current.batcher.start()
        if hook is not None:
            await asyncio.to_thread(hook.start)
        watcher = None
        if options.poll_interval > 0 and not source.fixed:
            watcher = asyncio.get_running_loop().create_task(state.watch())
        state.ready = True
        try:
            yield
        finally:
            # uvicorn has already let in-flight requests finish; drain what is still queued.
            state.ready = False
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await state.current.batcher.close()
            if hook is not None:
                await asyncio.to_thread(hook.close)

    app = FastAPI(
        title=f"mlops model server: {source.uri}",
        summary="Open Inference Protocol v2, /predict and MLflow-compatible /invocations.",
        version="1",
        lifespan=lifespan,
    )
    app.state.serving = state
    install_error_handlers(app)
    app.add_middleware(RequestMetrics, registry=prometheus)
    _add_service_routes(app, state, prometheus)
    _add_prediction_routes(app, state)
    _add_feedback_route(app, state, registry.config, consumer)
    return app


def app_from_environment() -> FastAPI:
    """The app for uvicorn worker processes (``mlops serve --workers N``)."""
    import os

    from mlops.server.workers import exit_with_supervisor

    exit_with_supervisor()
    uri = os.environ.get(ENV_MODEL_URI)
    if not uri:
        raise MLOpsError(f"{ENV_MODEL_URI} is not set; start workers with `mlops serve`")
    raw = os.environ.get(ENV_OPTIONS)
    options = ServingOptions.from_json(raw) if raw else ServingOptions()
    app = create_serving_app(uri, options, config=load_config())
    tune_garbage_collector()
    return app


def tune_garbage_collector() -> None:
    """Set the garbage collector for a server-only process: freeze the heap, collect young
    objects less often.

    Libraries and the model live as long as the server. Left in the collector's generations, a
    full collection rescans them (hundreds of thousands of objects: tens of milliseconds) while
    requests wait; frozen, it never does. Measured: p99 636 -> 86 ms and 0.38 -> 0.27 CPU ms a
    request for a LogisticRegression (benchmarks/serving.py).

    Then the young generation's threshold, 700 allocations by default, becomes
    ``YOUNG_COLLECTION_THRESHOLD``. A serving process always holds the state of its in-flight
    requests (64 connections' coroutines, frames and buffers); every young collection rescans
    what of it is alive and promotes it, so at 700 the collector took 9 % of a LogisticRegression
    server's CPU under load (perf, sampled) and at 20,000 it no longer shows in the profile, for
    about 10 % more requests a second. Garbage cycles wait longer to be freed, which costs a few
    megabytes at most; reference counting still frees everything else at once.

    Only ``mlops serve`` processes do this: in someone else's process (``ModelServing`` in a
    thread) it would also freeze their objects, and any cycle among those would then never be
    collected.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


# --- routes ------------------------------------------------------------------------------------


def _add_service_routes(app: FastAPI, state: ServingState, prometheus: CollectorRegistry) -> None:
    @app.get("/v2/health/live", tags=["v2"])
    async def live() -> Response:
        """The process is up."""
        return _json({"live": True})

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready() -> Response:
        """A model is loaded and the server is not shutting down (503 otherwise)."""
        return _json({"ready": state.ready}, 200 if state.ready else 503)

    @app.get("/ping", tags=["mlflow"], include_in_schema=False)
    @app.get("/health", tags=["mlflow"], include_in_schema=False)
    async def ping() -> Response:
        """MLflow's scoring-server health check."""
        return _json({"status": "ok"}, 200 if state.ready else 503)

    @app.get("/v2", tags=["v2"])
    async def server_metadata() -> Response:
        """Server name, version and protocol extensions."""
        return _json({"name": "mlops", "version": "1", "extensions": []})

    @app.get("/v2/models/{name}", tags=["v2"])
    @app.get("/v2/models/{name}/versions/{version}", tags=["v2"])
    async def model_metadata(name: str, version: str | None = None) -> Response:
        """Name, served version, platform, and the inputs and outputs from the signature."""
        served = _named(state, name, version)
        signature = served.signature
        return _json(
            {
                "name": served.name,
                "versions": [str(served.version.version)],
                "platform": f"mlops-{served.model.flavor}",
                "inputs": _tensor_metadata(None if signature is None else signature.inputs),
                "outputs": _tensor_metadata(
                    None if signature is None else signature.outputs, output=True
                ),
            }
        )

    @app.get("/v2/models/{name}/ready", tags=["v2"])
    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"])
    async def model_ready(name: str, version: str | None = None) -> Response:
        """The named model (and version) is loaded and serving."""
        _named(state, name, version)
        return _json({"name": name, "ready": state.ready}, 200 if state.ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Requests, latency, batch sizes, model calls, errors, swaps, monitoring drops."""
        return metrics_response(prometheus)


def _add_prediction_routes(app: FastAPI, state: ServingState) -> None:
    async def respond(
        request: Request,
        endpoint: str,
        run: Callable[[Any, str, float], Awaitable[tuple[ServedModel, dict[str, Any]]]],
    ) -> Response:
        started = time.perf_counter()
        prediction_id = time_ordered_id()
        try:
            body = parse_json(await _read_body(request, state.options.max_body_size))
            served, payload = await run(body, prediction_id, started)
            # Rendered inside the try: an output json cannot encode is a failure with an id too.
            return _json(
                payload,
                headers={
                    "X-Prediction-Id": prediction_id,
                    "X-Model-Version": str(served.version.version),
                },
            )
        except MLOpsError as exc:
            state.metrics.errors.labels(endpoint, type(exc).__name__).inc()
            if exc.status_code >= 500:
                log.error("prediction %s failed: %s", prediction_id, exc, exc_info=exc)
            return _error(prediction_id, type(exc).__name__, str(exc), exc.status_code)
        except ClientDisconnect:
            raise  # nobody is waiting for an answer; the server's handler logs it
        except Exception as exc:
            # A bug of ours, not the client's: still the server's 500 shape (as its catch-all
            # handler renders it), but with the id, which the log line names too.
            state.metrics.errors.labels(endpoint, type(exc).__name__).inc()
            log.error("prediction %s failed unexpectedly", prediction_id, exc_info=exc)
            message = f"internal server error: {type(exc).__name__}"
            return _error(prediction_id, MLOpsError.__name__, message, 500)

    def plain(
        parse: Callable[[Any, Schema | None], ModelInput], key: str
    ) -> Callable[[Any, str, float], Awaitable[tuple[ServedModel, dict[str, Any]]]]:
        async def run(
            body: Any, prediction_id: str, started: float
        ) -> tuple[ServedModel, dict[str, Any]]:
            served, item, output = await state.predict(lambda s: parse(body, s.schema))
            state.record(prediction_id, served, item, output, started)
            return served, {
                key: to_jsonable(output),
                "prediction_id": prediction_id,
                "model_name": served.name,
                "model_version": served.version.version,
            }

        return run

    predict_run = plain(from_predict, "predictions")
    invocations_run = plain(from_invocations, "predictions")

    @app.post("/predict", tags=["predict"])
    async def predict(request: Request) -> Response:
        """Predict on JSON records, a dict of columns, one record, or a list of rows."""
        return await respond(request, "predict", predict_run)

    @app.post("/invocations", tags=["mlflow"])
    async def invocations(request: Request) -> Response:
        """MLflow's scoring API: one of dataframe_split, dataframe_records, instances, inputs."""
        return await respond(request, "invocations", invocations_run)

    @app.post("/v2/models/{name}/infer", tags=["v2"])
    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["v2"])
    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        """Open Inference Protocol v2 inference on named tensors."""

        async def run(
            body: Any, prediction_id: str, started: float
        ) -> tuple[ServedModel, dict[str, Any]]:
            _named(state, name, version)
            request_id: list[str | None] = [None]

            def parse(served: ServedModel) -> ModelInput:
                item, request_id[0] = from_v2(body, served.schema)
                return item

            served, item, output = await state.predict(parse)
            state.record(prediction_id, served, item, output, started)
            return served, {
                "model_name": served.name,
                "model_version": str(served.version.version),
                "id": request_id[0] or prediction_id,
                "parameters": {"prediction_id": prediction_id},
                "outputs": [
                    {
                        "name": "predict",
                        "shape": list(output.shape),
                        "datatype": v2_datatype(output.dtype),
                        "data": to_jsonable(output.reshape(-1)),
                    }
                ],
            }

        return await respond(request, "infer", run)


def _add_feedback_route(
    app: FastAPI, state: ServingState, config: MLOpsConfig, consumer: PredictionConsumer | None
) -> None:
    from mlops.models.serving.feed import MonitorFeed

    @app.post("/feedback", tags=["monitoring"])
    async def feedback(request: Request) -> Response:
        """Labels for served predictions, joined in the version's performance monitor."""
        if not isinstance(consumer, MonitorFeed):
            raise InvalidStateError(
                "this server does not feed a ModelMonitor; start it with `mlops serve --monitor`"
            )
        from mlops.models.serving.feed import join_labels

        body = parse_json(await _read_body(request, state.options.max_body_size))
        served = state.current
        task = consumer.task or "classification"
        windows = await asyncio.to_thread(
            join_labels, config, served.name, served.version.version, task, body
        )
        return _json({"windows": windows})


# --- helpers -----------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the request body is {declared} bytes; the limit is {limit}")
    if declared is not None and declared.isdigit():
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _named(state: ServingState, name: str, version: str | None) -> ServedModel:
    served = state.current
    if name != served.name:
        raise NotFoundError(f"this server serves model {served.name!r}, not {name!r}")
    if version is not None and version != str(served.version.version):
        raise NotFoundError(
            f"this server serves {served.name!r} version {served.version.version}, not {version}"
        )
    return served


def _tensor_metadata(schema: Schema | None, output: bool = False) -> list[dict[str, Any]]:
    if schema is None:
        return []
    if isinstance(schema, ColumnSchema):
        return [
            {"name": c.name, "datatype": v2_datatype(c.type), "shape": [-1]} for c in schema.columns
        ]
    assert isinstance(schema, TensorSchema)
    return [
        {
            "name": "predict" if output else "input-0",
            "datatype": v2_datatype(schema.dtype),
            "shape": list(schema.shape),
        }
    ]


def _error(prediction_id: str, kind: str, message: str, status: int) -> Response:
    """The server's error shape, plus the id: a client logs one id per request either way."""
    return _json(
        {"error": {"type": kind, "message": message}, "prediction_id": prediction_id},
        status,
        headers={"X-Prediction-Id": prediction_id},
    )


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status_code=status, media_type=_JSON, headers=headers)
