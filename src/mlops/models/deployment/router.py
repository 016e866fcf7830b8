"""The local traffic router: one HTTP front for several model servers, split by weight.

Each request goes to a *backend* (e.g. ``stable`` and ``canary``) chosen by weight; with an
``X-Routing-Key`` header the choice is sticky (a hash of the key, so the same user keeps the
same backend across requests, restarts and routers). Within a backend, replicas take turns.
A replica that refuses or drops a connection is set aside for a few seconds and the request is
sent to another replica, so a replica dying under load costs the client nothing: model
predictions have no side effects, so resending one is safe. For the same reason a request whose
backend was taken out of the table while it was in flight (a canary rolled back) is sent once
more, to the backend the current table chooses.

The router is a plain ASGI app over its own keep-alive HTTP/1.1 connection pools (prebuilt
request bytes on asyncio streams), because the issue allows it at most 1 ms of added p50
latency and a general-purpose client (httpx) costs about that much per request by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from mlops.assignment import hash_point, pick
from mlops.errors import (
    BackendUnavailableError,
    InvalidInputError,
    MLOpsError,
    PayloadTooLargeError,
)
from mlops.models.serving.options import ServingOptions

__all__ = ["ROUTING_KEY_HEADER", "Backend", "TrafficRouter", "Window"]

log = logging.getLogger(__name__)

ROUTING_KEY_HEADER = "x-routing-key"
# ``expect`` too: the router has the whole body before it forwards, so a replica's
# ``100 Continue`` would only be one more response head to skip.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "expect"}
)
_BODYLESS_STATUS = frozenset({204, 304})
"""Answers that never carry a body (RFC 9110 6.4.1), whatever their headers say; so do 1xx."""
_QUARANTINE_SECONDS = 5.0
_Answer = tuple[int, list[tuple[str, str]], bytes]
_Forwarded = tuple[int, list[tuple[bytes, bytes]], bytes]
"""An answer as the router sends it on: raw ASGI headers."""


@dataclass
class Backend:
    """A named group of replicas of one model version, and its share of the traffic."""

    name: str
    urls: list[str]
    weight: float
    _turn: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _down_until: dict[str, float] = field(default_factory=dict, repr=False)

    def replicas(self) -> list[str]:
        """Healthy replicas first (in turn), then those set aside (a last resort)."""
        now = time.monotonic()
        start = next(self._turn)
        ordered = [self.urls[(start + i) % len(self.urls)] for i in range(len(self.urls))]
        up = [u for u in ordered if self._down_until.get(u, 0.0) <= now]
        return up + [u for u in ordered if u not in up]

    def set_aside(self, url: str) -> None:
        self._down_until[url] = time.monotonic() + _QUARANTINE_SECONDS


@dataclass
class Window:
    """What one backend answered since its window was last reset: what a rollout's gates read.

    ``errors`` counts 5xx answers and requests no replica answered; ``rejected`` counts 4xx
    answers (a model raising on valid input answers 422), kept apart because a client's bad
    input is rejected by every version alike.
    """

    requests: int = 0
    errors: int = 0
    rejected: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))
    compared: int = 0
    """A shadow's answers compared with the live answer (both 200)."""
    agreed: int = 0
    """Of those, the ones with the same predictions."""

    def p99_ms(self) -> float | None:
        """The 99th percentile of answer latency in milliseconds (None before any answer)."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000

    def snapshot(self) -> Window:
        return Window(
            self.requests,
            self.errors,
            self.rejected,
            deque(self.latencies),
            self.compared,
            self.agreed,
        )


class TrafficRouter:
    """An ASGI app forwarding every request to a backend replica.

    Args:
        backends: The backends; weights must be non-negative with a positive sum.
        timeout: Seconds to wait for a replica's answer.
        max_body_size: Largest request body forwarded, in bytes (else 413, as a replica
            answers); give the replicas' ``ServingOptions.max_body_size``.
    """

    def __init__(
        self,
        backends: Sequence[Backend],
        timeout: float = 30.0,
        *,
        control: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
        control_token: str | None = None,
        max_body_size: int = ServingOptions.max_body_size,
    ) -> None:
        if max_body_size < 1:
            raise InvalidInputError(f"max_body_size must be at least 1 byte, got {max_body_size}")
        self.timeout = timeout
        self.max_body_size = max_body_size
        self.control = control
        self.control_token = control_token
        self._pools: dict[str, _Pool] = {}
        self._random = random.Random()
        self.backends: list[Backend] = []
        self.set_backends(backends)
        self.served: dict[str, int] = {}
        """Requests answered per backend (the rollout's gates read it)."""
        self.failed: dict[str, int] = {}
        """Requests per backend answered with a 5xx or not at all."""
        self.windows: dict[str, Window] = {}
        """Per backend, since ``reset_window``: counts by outcome and latencies."""
        self.shadow: Backend | None = None
        """Gets a copy of requests after they were answered; compared, never returned."""
        self.shadow_percent = 100.0
        """The share of requests copied to ``shadow`` (sticky by routing key, as the split)."""
        self._mirrors: set[asyncio.Task[None]] = set()

    def set_shadow(self, backend: Backend | None, percent: float = 100.0) -> None:
        """Mirror ``percent`` % of the requests to ``backend`` (None: stop mirroring)."""
        if not 0.0 <= percent <= 100.0:
            raise InvalidInputError(f"a shadow's percent is between 0 and 100, got {percent:g}")
        self.shadow_percent = float(percent)
        self.shadow = backend

    def window(self, name: str) -> Window:
        """A copy of ``name``'s current window (empty if it had no request yet)."""
        return self.windows.get(name, Window()).snapshot()

    def reset_window(self, name: str) -> None:
        """Start a fresh window for ``name`` (a rollout does at each traffic step)."""
        self.windows[name] = Window()

    def set_backends(self, backends: Sequence[Backend]) -> None:
        """Replace the routing table (atomically: a request sees the old or the new one)."""
        if not backends or any(not b.urls for b in backends):
            raise InvalidInputError("a router needs at least one backend, each with a replica")
        if any(b.weight < 0 for b in backends) or sum(b.weight for b in backends) <= 0:
            raise InvalidInputError("backend weights must be non-negative with a positive sum")
        self.backends = list(backends)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Change the traffic split by backend name."""
        by_name = {b.name: b for b in self.backends}
        unknown = sorted(set(weights) - set(by_name))
        if unknown:
            raise InvalidInputError(f"no backend named {unknown}; backends: {sorted(by_name)}")
        updated = [
            Backend(b.name, b.urls, float(weights.get(b.name, b.weight)), b._turn, b._down_until)
            for b in self.backends
        ]
        self.set_backends(updated)

    def choose(self, key: str | None) -> Backend:
        """The backend for a request: by weight, sticky for a routing key."""
        backends = self.backends  # one table throughout, whatever set_backends does meanwhile
        point = self._random.random() if key is None else hash_point(key)
        return pick(point, backends, [b.weight for b in backends])

    def routes_to(self, backend: Backend) -> bool:
        """Whether the current table still sends traffic to ``backend``'s replicas.

        By name and replicas: ``set_weights`` makes new ``Backend`` objects for the same
        replicas, and a promotion keeps the name ``stable`` for other replicas.
        """
        return any(b.name == backend.name and b.urls == backend.urls for b in self.backends)

    def _mirrored(self, key: str | None) -> bool:
        """Whether this request is copied to the shadow: the lowest ``shadow_percent`` of
        the key space, so a mirrored user stays mirrored as the percent grows."""
        if self.shadow_percent >= 100.0:
            return True
        point = self._random.random() if key is None else hash_point(key)
        return point * 100.0 < self.shadow_percent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path = scope["path"]
        if path == "/-/routes":
            response: Response = JSONResponse(self.table())
        elif path.startswith("/-/control/") and scope["method"] == "POST":
            response = await self._control(request)
        else:
            forwarded = await self._forward(request)
            if isinstance(forwarded, Response):
                response = forwarded
            else:
                # The answer as raw ASGI messages: a Response object per request is measurable
                # against the router's 1 ms budget.
                status, headers, content = forwarded
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": content})
                return
        await response(scope, receive, send)

    async def _control(self, request: Request) -> Response:
        """``POST /-/control/{rollback,deploy}``: another process (the CLI) acts on the deployment.

        Only with the deployment's control token, which is in its store record: whoever may
        read the metadata database may roll back; a client of the model may not.
        """
        token = request.headers.get("x-control-token")
        if self.control is None or not token or token != self.control_token:
            return JSONResponse(
                {"error": {"type": "PermissionDeniedError", "message": "bad control token"}},
                status_code=403,
            )
        action = request.url.path.removeprefix("/-/control/")
        try:
            raw = await request.body()
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise InvalidInputError("a control request's body is a JSON object")
            result = await asyncio.to_thread(self.control, action, body)
        except json.JSONDecodeError as exc:
            return JSONResponse(
                {"error": {"type": "InvalidInputError", "message": f"malformed JSON: {exc}"}},
                status_code=400,
            )
        except MLOpsError as exc:
            return JSONResponse(
                {"error": {"type": type(exc).__name__, "message": str(exc)}},
                status_code=exc.status_code,
            )
        return JSONResponse(result)

    def table(self) -> dict[str, Any]:
        return {
            "backends": [
                {"name": b.name, "weight": b.weight, "replicas": b.urls} for b in self.backends
            ],
            "served": self.served,
            "failed": self.failed,
        }

    async def _forward(self, request: Request) -> Response | _Forwarded:
        """The replica's answer as (status, raw headers, content), or the router's own error."""
        try:
            # The body first, the backend after: a slow upload must not be sent to a backend
            # that was removed (its replicas stopped) while it arrived.
            body = await _read_body(request, self.max_body_size)
        except PayloadTooLargeError as exc:
            return _error(exc)
        scope = request.scope
        key = request.headers.get(ROUTING_KEY_HEADER)
        method = scope["method"]
        query = scope["query_string"]
        target = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        if query:
            target += "?" + query.decode("latin-1")
        head = "".join(
            f"{k}: {v}\r\n"
            for k, v in ((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
            if k not in _HOP_BY_HOP
        )
        head += f"content-length: {len(body)}\r\n\r\n"
        started = time.perf_counter()
        backend = self.choose(key)
        answer, last_error = await self._send(backend, method, target, head, body)
        if answer is None and not self.routes_to(backend):
            # Removed or promoted away while in flight: its failures are not its window's
            # errors, and the backend now in the table should answer. Once only.
            log.info("backend %s left the table mid-request; choosing again", backend.name)
            backend = self.choose(key)
            answer, last_error = await self._send(backend, method, target, head, body)
        if answer is None:
            self._count(backend, 503, None)
            return _error(
                BackendUnavailableError(f"no replica of {backend.name!r} answered: {last_error}"),
                headers={"x-served-by": backend.name},
            )
        status, headers, content = answer
        self._count(backend, status, time.perf_counter() - started)
        keep = _HOP_BY_HOP - {"content-length"}
        if method == "HEAD" or status == 304:
            # HEAD and 304 describe the body they do not send: keep its declared length.
            out = [(k, v) for k, v in headers if k not in keep]
        else:
            out = [(k, v) for k, v in headers if k not in _HOP_BY_HOP]
            if status not in _BODYLESS_STATUS and status >= 200:
                out.append(("content-length", str(len(content))))
        out.append(("x-served-by", backend.name))
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out]
        shadow = self.shadow
        if shadow is not None and shadow.urls and self._mirrored(key):
            task = asyncio.create_task(
                self._mirror(shadow, method, target, head, body, status, content)
            )
            self._mirrors.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._mirrors.discard)
        return status, raw_headers, content

    async def _send(
        self, backend: Backend, method: str, target: str, head: str, body: bytes
    ) -> tuple[_Answer | None, Exception | None]:
        """The first answer of ``backend``'s replicas, each tried once; else the last error."""
        last_error: Exception | None = None
        for url in backend.replicas():
            try:
                # asyncio.timeout, not wait_for: no extra task to schedule per request.
                async with asyncio.timeout(self.timeout):
                    answer = await self._pool(url).request(method, target, head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                # Refused, reset or cut off mid-answer: that replica is gone; try the next.
                log.warning(
                    "replica %s of %s failed (%r); resending elsewhere", url, backend.name, exc
                )
                backend.set_aside(url)
                last_error = exc
                continue
            return answer, None
        return None, last_error

    def _pool(self, url: str) -> _Pool:
        pool = self._pools.get(url)
        if pool is None:
            pool = self._pools[url] = _Pool(url)
        return pool

    def _count(self, backend: Backend, status: int, latency: float | None) -> None:
        """Record one answer (``latency`` None: no replica answered) in the gates' counts."""
        counts = self.failed if status >= 500 else self.served
        counts[backend.name] = counts.get(backend.name, 0) + 1
        window = self.windows.setdefault(backend.name, Window())
        window.requests += 1
        window.errors += status >= 500
        window.rejected += 400 <= status < 500
        if latency is not None:
            window.latencies.append(latency)

    async def _mirror(
        self,
        shadow: Backend,
        method: str,
        target: str,
        head: str,
        body: bytes,
        live_status: int,
        live_content: bytes,
    ) -> None:
        """Send a copy to the shadow and compare its answer with the one the client got."""
        window = self.windows.setdefault(shadow.name, Window())
        pool = self._pool(shadow.replicas()[0])
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                status, _, content = await pool.request(method, target, head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            window.requests += 1
            window.errors += 1
            return
        window.requests += 1
        window.latencies.append(time.perf_counter() - started)
        window.errors += status >= 500
        # Rejected only where the live version answered: the client's bad input is not its fault.
        window.rejected += 400 <= status < 500 and live_status < 400
        live = _answer(live_content) if status == 200 and live_status == 200 else None
        if live is not None:  # a prediction both answered (not, say, a health check)
            window.compared += 1
            window.agreed += _answer(content) == live

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for pool in self._pools.values():
                    pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _answer(content: bytes) -> Any:
    """What a shadow is compared on: ``predictions`` (``/predict``, ``/invocations``), or each
    v2 output's name, shape and data (ids and prediction ids differ in any two answers).
    None for an answer that carries no prediction."""
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if "predictions" in payload:
        return payload["predictions"]
    outputs = payload.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return None
    if not all(isinstance(o, dict) and "data" in o for o in outputs):
        return None  # v2 model metadata also has "outputs", without data
    return [(o.get("name"), o.get("shape"), o["data"]) for o in outputs]


def _bodyless(method: str, status: int) -> bool:
    return method == "HEAD" or status < 200 or status in _BODYLESS_STATUS


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read as it arrives and refused with 413 as soon as it exceeds ``limit``
    (a replica would refuse it too; the router must not hold gigabytes to find out)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the request body is {declared} bytes; the limit is {limit} (max_body_size)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the request body exceeds the limit of {limit} bytes (max_body_size)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _error(exc: MLOpsError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The model server's error shape, so a client handles the router's errors alike."""
    return JSONResponse(
        {"error": {"type": type(exc).__name__, "message": str(exc)}},
        status_code=exc.status_code,
        headers=headers,
    )


class _Pool:
    """Idle keep-alive connections to one replica; HTTP/1.1 with Content-Length or chunked."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, target: str, head: str, body: bytes) -> _Answer:
        data = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{head}".encode()
        data += body
        while self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, data, method)
            except (OSError, asyncio.IncompleteReadError):
                # A kept connection the replica has since closed fails at once: use a fresh one.
                writer.close()
            except BaseException:
                # A timeout (cancelled) or a garbled answer: the connection is mid-exchange and
                # can never be reused, and nothing else will close it.
                writer.close()
                raise
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            return await self._exchange(reader, writer, data, method)
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        data: bytes,
        method: str,
    ) -> _Answer:
        writer.write(data)
        status, headers, length, chunked, keep = await _read_head(reader)
        while status < 200:  # 100 Continue, 103 Early Hints: the answer follows
            status, headers, length, chunked, keep = await _read_head(reader)
        if _bodyless(method, status):
            # No body follows whatever Content-Length says (HEAD declares the GET's length).
            content = b""
        elif chunked:
            content = await _read_chunked(reader)
        elif length is not None:
            content = await reader.readexactly(length)
        else:
            content, keep = await reader.read(), False
        if keep:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, headers, content

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, list[tuple[str, str]], int | None, bool, bool]:
    """A response head: status, headers, Content-Length, chunked, and keep-alive."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = []
    length: int | None = None
    chunked, keep = False, True
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers.append((name, value))
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            keep = "close" not in value.lower()
    return status, headers, length, chunked, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            break
    return b"".join(p[:-2] for p in parts)
