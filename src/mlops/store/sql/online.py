"""The embedded online store: one SQLite file, one WITHOUT ROWID table per feature view version.

It uses the ``sqlite3`` module directly, not SQLAlchemy: a single-entity lookup is a handful of
microseconds of SQLite work, and a pooled SQLAlchemy connection checkout alone costs more.
Each thread keeps its own connection. WAL mode lets readers run during a materialization, which
writes in one transaction: readers see the old rows until it commits, then all the new ones.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlops.errors import BackendUnavailableError, ConfigError
from mlops.features.store import OnlineRow, OnlineStore, OnlineWriter

_TABLE = re.compile(r"^[A-Za-z0-9_.\-@]{1,250}$")
_UPSERT = (
    'INSERT INTO "{t}" (key, event_us, payload) VALUES (?, ?, ?) '
    "ON CONFLICT(key) DO UPDATE SET event_us = excluded.event_us, payload = excluded.payload "
    'WHERE excluded.event_us >= "{t}".event_us'
)


def _table(name: str) -> str:
    if not _TABLE.match(name):
        raise ConfigError(f"online table name {name!r} has characters SQLite tables cannot use")
    return name


class SqliteOnlineStore(OnlineStore):
    """Online values in a SQLite file (``sqlite:///PATH``).

    Args:
        uri: ``sqlite:///path/to/online.db``.
    """

    def __init__(self, uri: str):
        if not uri.startswith("sqlite:///"):
            raise ConfigError(f"SQLite online store URI must be sqlite:///PATH, got {uri!r}")
        self.uri = uri
        self.path = Path(uri.removeprefix("sqlite:///"))
        self._local = threading.local()
        self._known: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailableError(
                f"cannot open the online store {self.uri!r}: {exc}"
            ) from exc
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _ensure(self, conn: sqlite3.Connection, table: str) -> None:
        if table not in self._known:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{_table(table)}" '
                "(key TEXT PRIMARY KEY, event_us INTEGER NOT NULL, payload TEXT NOT NULL) "
                "WITHOUT ROWID"
            )
            self._known.add(table)

    def begin(self, table: str) -> OnlineWriter:
        # A connection of its own: even this thread's lookups keep reading the old rows.
        conn = self._connect()
        try:
            self._ensure(conn, table)
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            conn.close()
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
        return _SqliteWriter(conn, _UPSERT.format(t=table), self.uri, close=True)

    def write(self, table: str, rows: Iterable[OnlineRow]) -> None:
        conn = self._conn()
        try:
            self._ensure(conn, table)
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
        writer = _SqliteWriter(conn, _UPSERT.format(t=table), self.uri, close=False)
        try:
            writer.write(list(rows))
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def read(self, table: str, keys: Sequence[str]) -> list[tuple[int, str] | None]:
        if not keys:
            return []
        conn = self._conn()
        if len(keys) == 1:
            sql = f'SELECT key, event_us, payload FROM "{_table(table)}" WHERE key = ?'
        else:
            marks = ",".join("?" * len(keys))
            sql = f'SELECT key, event_us, payload FROM "{_table(table)}" WHERE key IN ({marks})'
        try:
            found = {k: (ts, p) for k, ts, p in conn.execute(sql, keys)}
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return [None] * len(keys)  # never materialized: nothing online yet
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
        return [found.get(k) for k in keys]

    def delete_table(self, table: str) -> None:
        try:
            self._conn().execute(f'DROP TABLE IF EXISTS "{_table(table)}"')
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
        self._known.discard(table)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _SqliteWriter(OnlineWriter):
    def __init__(self, conn: sqlite3.Connection, upsert: str, uri: str, close: bool):
        self.conn = conn
        self.upsert = upsert
        self.uri = uri
        self.close = close

    def write(self, rows: Sequence[OnlineRow]) -> None:
        try:
            self.conn.executemany(self.upsert, rows)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc

    def commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"online store {self.uri!r}: {exc}") from exc
        finally:
            if self.close:
                self.conn.close()

    def abort(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if self.close:
            self.conn.close()
