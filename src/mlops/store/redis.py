"""The online store on Redis (``redis://HOST:PORT/DB?prefix=...``).

One hash per feature view version, field = entity key, value = ``"<event us>|<payload>"``: a
lookup of 100 entities is one HMGET round trip. A materialization copies the live hash to a
staging key (server-side ``COPY``), upserts into the staging copy, and swaps it in with
``RENAME``, which is atomic: readers see the old hash or the new one, never a mix. Upserts run
as a Lua script so "an older event never replaces a newer one" holds without a round trip per
row. A push made while a materialization of the same view is running is overwritten by the swap
(the next incremental materialization, or a re-push, restores it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from mlops.errors import BackendUnavailableError, ConfigError
from mlops.features.store import OnlineRow, OnlineStore, OnlineWriter

_UPSERT = """
local h = KEYS[1]
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', h, ARGV[i])
  if (not old) or tonumber(string.match(old, '^(-?%d+)|')) <= tonumber(ARGV[i + 1]) then
    redis.call('HSET', h, ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
end
return 0
"""
_BATCH = 2_000


def _redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigError(
            "the Redis online store needs redis-py: pip install 'mlops[redis]'"
        ) from exc
    return redis


class RedisOnlineStore(OnlineStore):
    """Online values in Redis.

    Args:
        uri: ``redis://HOST:PORT/DB``; ``?prefix=P`` namespaces the keys (default
            ``mlops:features:``).
    """

    def __init__(self, uri: str):
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(f"Redis online store URI must be redis://HOST:PORT/DB, got {uri!r}")
        self.uri = uri
        self.prefix = parse_qs(parts.query).get("prefix", ["mlops:features:"])[0]
        self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._client: Any = None
        self._script: Any = None

    @property
    def client(self) -> Any:
        """The redis-py client, connected on first use."""
        if self._client is None:
            redis = _redis()
            self._client = redis.Redis.from_url(self._url, socket_timeout=30)
            self._script = self._client.register_script(_UPSERT)
        return self._client

    def key(self, table: str) -> str:
        """The hash holding ``table``."""
        return f"{self.prefix}{table}"

    def _upsert(self, hash_key: str, rows: Sequence[OnlineRow]) -> None:
        client = self.client
        for i in range(0, len(rows), _BATCH):
            args: list[Any] = []
            for key, event_us, payload in rows[i : i + _BATCH]:
                args += (key, event_us, payload)
            self._script(keys=[hash_key], args=args, client=client)

    def begin(self, table: str) -> OnlineWriter:
        staging = f"{self.key(table)}:staging:{uuid.uuid4().hex}"
        with _translated(self.uri):
            self.client.copy(self.key(table), staging, replace=True)
        return _RedisWriter(self, table, staging)

    def write(self, table: str, rows: Iterable[OnlineRow]) -> None:
        with _translated(self.uri):
            self._upsert(self.key(table), list(rows))

    def read(self, table: str, keys: Sequence[str]) -> list[tuple[int, str] | None]:
        if not keys:
            return []
        with _translated(self.uri):
            values = self.client.hmget(self.key(table), keys)
        out: list[tuple[int, str] | None] = []
        for value in values:
            if value is None:
                out.append(None)
            else:
                ts, payload = value.split(b"|", 1)
                out.append((int(ts), payload.decode()))
        return out

    def delete_table(self, table: str) -> None:
        with _translated(self.uri):
            self.client.delete(self.key(table))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class _RedisWriter(OnlineWriter):
    def __init__(self, store: RedisOnlineStore, table: str, staging: str):
        self.store = store
        self.table = table
        self.staging = staging
        self.wrote = False

    def write(self, rows: Sequence[OnlineRow]) -> None:
        with _translated(self.store.uri):
            self.store._upsert(self.staging, rows)
        self.wrote = self.wrote or bool(rows)

    def commit(self) -> None:
        with _translated(self.store.uri):
            if self.store.client.exists(self.staging):
                self.store.client.rename(self.staging, self.store.key(self.table))

    def abort(self) -> None:
        with _translated(self.store.uri):
            self.store.client.delete(self.staging)


class _translated:
    """Redis driver errors as ``BackendUnavailableError`` naming the store."""

    def __init__(self, uri: str):
        self.uri = uri

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            redis = _redis()
            if isinstance(exc, redis.RedisError):
                raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
