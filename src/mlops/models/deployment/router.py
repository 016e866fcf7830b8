"""The local traffic router: one HTTP front for several model servers, split by weight.

Each request goes to a *backend* (e.g. ``stable`` and ``canary``) chosen by weight; with an
``X-Routing-Key`` header the choice is sticky (a hash of the key, so the same user keeps the
same backend across requests, restarts and routers). Within a backend, replicas take turns.
A replica that refuses or drops a connection is set aside for a few seconds and the request is
sent to another replica, so a replica dying under load costs the client nothing: model
predictions have no side effects, so resending one is safe.

The router is a plain ASGI app over its own keep-alive HTTP/1.1 connection pools (prebuilt
request bytes on asyncio streams), because the issue allows it at most 1 ms of added p50
latency and a general-purpose client (httpx) costs about that much per request by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from mlops.errors import InvalidInputError

__all__ = ["ROUTING_KEY_HEADER", "Backend", "TrafficRouter"]

log = logging.getLogger(__name__)

ROUTING_KEY_HEADER = "x-routing-key"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)
_QUARANTINE_SECONDS = 5.0


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


class TrafficRouter:
    """An ASGI app forwarding every request to a backend replica.

    Args:
        backends: The backends; weights must be non-negative with a positive sum.
        timeout: Seconds to wait for a replica's answer.
    """

    def __init__(self, backends: Sequence[Backend], timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._pools: dict[str, _Pool] = {}
        self._random = random.Random()
        self.backends: list[Backend] = []
        self.set_backends(backends)
        self.served: dict[str, int] = {}
        """Requests answered per backend (the rollout's gates read it)."""
        self.failed: dict[str, int] = {}
        """Requests per backend answered with a 5xx or not at all."""

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
        backends = [b for b in self.backends if b.weight > 0]
        total = sum(b.weight for b in backends)
        if key is None:
            point = self._random.random() * total
        else:
            digest = hashlib.sha256(key.encode()).digest()
            point = int.from_bytes(digest[:8], "big") / 2**64 * total
        for backend in backends:
            point -= backend.weight
            if point < 0:
                return backend
        return backends[-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.url.path == "/-/routes":
            response: Response = JSONResponse(self.table())
        else:
            response = await self._forward(request)
        await response(scope, receive, send)

    def table(self) -> dict[str, Any]:
        return {
            "backends": [
                {"name": b.name, "weight": b.weight, "replicas": b.urls} for b in self.backends
            ],
            "served": self.served,
            "failed": self.failed,
        }

    async def _forward(self, request: Request) -> Response:
        backend = self.choose(request.headers.get(ROUTING_KEY_HEADER))
        body = await request.body()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k not in _HOP_BY_HOP)
        head += f"content-length: {len(body)}\r\n\r\n"
        last_error: Exception | None = None
        for url in backend.replicas():
            pool = self._pools.get(url)
            if pool is None:
                pool = self._pools[url] = _Pool(url)
            try:
                status, headers, content = await asyncio.wait_for(
                    pool.request(request.method, target, head, body), self.timeout
                )
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                # Refused, reset or cut off mid-answer: that replica is gone; try the next.
                log.warning(
                    "replica %s of %s failed (%r); resending elsewhere", url, backend.name, exc
                )
                backend.set_aside(url)
                last_error = exc
                continue
            counts = self.failed if status >= 500 else self.served
            counts[backend.name] = counts.get(backend.name, 0) + 1
            out_headers = {k: v for k, v in headers if k not in _HOP_BY_HOP}
            out_headers["x-served-by"] = backend.name
            return Response(content, status, headers=out_headers)
        self.failed[backend.name] = self.failed.get(backend.name, 0) + 1
        return JSONResponse(
            {
                "error": {
                    "type": "BackendUnavailableError",
                    "message": f"no replica of {backend.name!r} answered: {last_error}",
                }
            },
            status_code=503,
        )

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


class _Pool:
    """Idle keep-alive connections to one replica; HTTP/1.1 with Content-Length or chunked."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self, method: str, target: str, head: str, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        data = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{head}".encode()
        data += body
        while self._idle:
            # A kept connection the replica has since closed fails at once: use a fresh one.
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, data)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            return await self._exchange(reader, writer, data)
        except BaseException:
            writer.close()
            raise

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        writer.write(data)
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
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
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
