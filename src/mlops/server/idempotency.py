"""Idempotency keys: a retried write is answered from the first attempt instead of run twice.

A client sends ``Idempotency-Key: <uuid>`` with every write that is not idempotent by itself
(creating an experiment, a run, a model version, a request; moving a stage or an alias) and
reuses the key when it retries. The first completed attempt stores its response under the key
in the metadata database (table ``idempotency_keys``), and any later request with that key gets
the same response again (with ``Idempotency-Replayed: true``) without touching the stores.

Keys are remembered for ``server.idempotency_ttl`` seconds (24 h by default) and then purged.
The response is stored right after the write commits, so a server killed in that instant could
still run a retried write twice; every other retry (a dropped connection, a timeout, a 502 from
a proxy, a restart before or after the write) counts once. Failed requests are not stored: a
retry of one runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from mlops.errors import InvalidInputError
from mlops.experiments.entities import now_ms
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database

HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
_PURGE_EVERY_MS = 60_000
_STRIPES = 64


@dataclasses.dataclass(frozen=True)
class _Stored:
    fingerprint: str
    status_code: int
    response: str


class IdempotencyLog:
    """Completed writes by key, in the ``idempotency_keys`` table of the server's database."""

    def __init__(self, db: Database, ttl_seconds: float):
        self.db = db
        self.ttl_ms = int(ttl_seconds * 1000)
        # Striped locks: two concurrent requests with one key (a client retrying while its first
        # attempt still runs) are served one after the other, so the second replays the first.
        self._locks = [threading.Lock() for _ in range(_STRIPES)]
        self._last_purge = 0

    def lock(self, key: str) -> threading.Lock:
        """The lock that serializes requests carrying ``key`` in this process."""
        return self._locks[hash(key) % _STRIPES]

    def get(self, key: str) -> _Stored | None:
        """The stored response for ``key``, unless there is none or it has expired."""
        table = t.idempotency_keys
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(table.c.fingerprint, table.c.status_code, table.c.response).where(
                    table.c.key == key, table.c.created_at >= now_ms() - self.ttl_ms
                )
            ).first()
        return None if row is None else _Stored(row.fingerprint, row.status_code, row.response)

    def save(self, key: str, fingerprint: str, status_code: int, response: str) -> None:
        """Remember the response of a completed write (and purge expired keys now and then)."""
        now = now_ms()
        row = {
            "key": key,
            "fingerprint": fingerprint,
            "status_code": status_code,
            "response": response,
            "created_at": now,
        }

        def write(conn: Connection) -> None:
            table = t.idempotency_keys
            conn.execute(table.delete().where(table.c.key == key))  # an expired entry
            conn.execute(table.insert().values(**row))
            if now - self._last_purge > _PURGE_EVERY_MS:
                conn.execute(table.delete().where(table.c.created_at < now - self.ttl_ms))

        try:
            self.db.write_retrying(write)
        except IntegrityError:
            return  # another worker completed the same key at the same moment; keep its entry
        if now - self._last_purge > _PURGE_EVERY_MS:
            self._last_purge = now

    def purge(self) -> int:
        """Forget keys older than the TTL; returns how many."""
        cutoff = now_ms() - self.ttl_ms
        table = t.idempotency_keys
        return int(
            self.db.write_retrying(
                lambda conn: conn.execute(table.delete().where(table.c.created_at < cutoff))
            ).rowcount
        )


class Once:
    """Runs one request's write at most once per idempotency key (see the module docstring)."""

    def __init__(self, log: IdempotencyLog, key: str | None, method: str, path: str):
        self.log = log
        self.key = key
        self.method = method
        self.path = path

    def __call__(
        self,
        body: BaseModel | None,
        response_model: type[BaseModel] | None,
        status_code: int,
        action: Callable[[], Any],
    ) -> Any:
        """The result of ``action()``, or the stored response of the first request with the key.

        Args:
            body: The parsed request body; with method and path it identifies the request, so a
                key reused for a different request is refused.
            response_model: Schema of the response (None for an empty response).
            status_code: The route's success status.
            action: The write.
        """
        if self.key is None:
            return action()
        payload = body.model_dump_json(by_alias=True) if body is not None else ""
        fingerprint = hashlib.sha256(f"{self.method} {self.path}\n{payload}".encode()).hexdigest()
        with self.log.lock(self.key):
            stored = self.log.get(self.key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise InvalidInputError(
                        f"{HEADER} {self.key!r} was already used for a different request; use a "
                        "new key for each logical request"
                    )
                return _response(stored.response, stored.status_code, replayed=True)
            result = action()
            content = _render(result, response_model)
            self.log.save(self.key, fingerprint, status_code, content)
        return _response(content, status_code, replayed=False)


def _render(result: Any, response_model: type[BaseModel] | None) -> str:
    if response_model is None:
        return ""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    return response_model.model_validate(result).model_dump_json(by_alias=True)


def _response(content: str, status_code: int, *, replayed: bool) -> Response:
    headers = {REPLAYED: "true"} if replayed else None
    if not content:
        return Response(status_code=status_code, headers=headers)
    return Response(content, status_code, headers=headers, media_type="application/json")
