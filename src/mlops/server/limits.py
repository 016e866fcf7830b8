"""The request body size limit of the JSON API (``server.max_request_bytes``, 413 beyond).

JSON endpoints parse their whole body in memory, so an unbounded body is an easy way to exhaust
the server. The limit is enforced before the body is read: a declared ``Content-Length`` over
the limit is refused at once, and a body of unknown length (chunked) is read at most
``limit + 1`` bytes far before it is refused, so no more than the limit is ever held.

Artifact uploads (``/api/v1/artifacts/files/...``) are streamed to storage and have their own,
much larger limit (``server.max_upload_size``, checked by the artifacts router): they pass
through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops.server.errors import error_response
from mlops.server.routers import API_PREFIX

STREAMED_PREFIXES = (f"{API_PREFIX}/artifacts/files/",)
"""Paths whose bodies are streamed to storage rather than parsed: exempt from this limit."""


class BodyLimit:
    """Pure ASGI middleware refusing request bodies over ``max_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STREAMED_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            # The server enforces Content-Length framing: the body cannot be longer than this.
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send, f"{declared} bytes")
                return
            await self.app(scope, receive, send)
            return
        # Unknown length (Transfer-Encoding: chunked, or no body at all): read it here, counting,
        # so an oversized body is refused after limit + 1 bytes instead of being parsed whole.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: let the app see it as it would have
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(scope, None, send, f"more than {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive | None, send: Send, size: str) -> None:
        response = error_response(
            413,
            "PayloadTooLargeError",
            f"the request body ({size}) is over the server's limit of {self.max_bytes} bytes "
            "(server.max_request_bytes); send fewer items per request, e.g. smaller metric "
            "batches, or upload large content as an artifact",
        )
        # Close the connection: the unread rest of the body must not be taken for a request.
        response.headers["Connection"] = "close"
        await response(scope, receive or _nothing, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that hands out the already-read ``messages`` first."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
