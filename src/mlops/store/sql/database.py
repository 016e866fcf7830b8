"""One metadata database: its engine, its transactions, and the translation of driver errors."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mlops.errors import BackendUnavailableError, InvalidInputError
from mlops.store.sql import engine as engines

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Rider:
    """A small write that rides in the next write transaction of its context on ``db``.

    The server's audit entry of a request is written in the same transaction as the request's own
    write: one commit instead of two (a separate transaction per request cost the HTTP metric
    ingestion about 15%), and the change and its audit entry are durable together or not at all.
    ``done`` is set once that transaction has committed; if none did, the caller writes it alone.
    """

    db: Database
    write: Callable[[Connection], object]
    done: bool = False


_rider: ContextVar[Rider | None] = ContextVar("mlops_rider", default=None)


@contextmanager
def riding(rider: Rider) -> Iterator[Rider]:
    """Let ``rider`` join the first write transaction on its database in this context.

    Context variables follow a request into the worker thread that runs it (Starlette copies the
    context), so a store call made anywhere below picks the rider up.
    """
    token = _rider.set(rider)
    try:
        yield rider
    finally:
        _rider.reset(token)


_LOCKED = ("database is locked", "database table is locked", "deadlock detected")


def out_of_range(exc: OverflowError) -> InvalidInputError:
    """SQLite's refusal of an integer beyond 64 bits, as the caller's mistake it is.

    PostgreSQL reports the same thing as a ``DataError``; SQLite's driver raises a bare
    ``OverflowError`` while binding the parameter (e.g. a model version of 2**70).
    """
    return InvalidInputError(
        f"a number is out of range: the store keeps signed 64-bit integers ({exc})"
    )


_TOO_COMPLEX = (
    "too many sql variables",
    "too many from clause terms",
    "too many terms in compound select",
    "too many columns",
    "too many arguments on function",
    "expression tree is too large",
    "string or blob too big",
    "stack depth limit exceeded",
    "number of parameters must be between",
)
"""What SQLite and PostgreSQL say when one statement exceeds their limits (terms, variables,
expression depth): the request's fault, not the database's."""


def too_complex(exc: OperationalError) -> InvalidInputError | None:
    """A statement-limit error as the caller's mistake, or None for any other failure."""
    text = str(exc.orig).lower()
    if any(marker in text for marker in _TOO_COMPLEX):
        return InvalidInputError(f"the request is too large for one database statement: {exc.orig}")
    return None


def is_lock_contention(exc: BaseException) -> bool:
    """True for errors that mean "another writer holds the lock; try again"."""
    return isinstance(exc, OperationalError | DBAPIError) and any(
        text in str(exc).lower() for text in _LOCKED
    )


class Database:
    """An engine with the schema checked, plus read and write transactions.

    Opening checks the schema revision once: a new database is created at the current schema,
    an older one is refused until ``mlops db upgrade``.
    """

    def __init__(self, uri: str, busy_timeout: float = 60.0):
        self.uri = uri
        self.engine: Engine = engines.create_engine(uri, busy_timeout=busy_timeout)
        self.dialect = self.engine.dialect.name  # "sqlite" | "postgresql"
        self._schema_lock = threading.Lock()
        self._schema_checked = False

    def ensure_schema(self) -> None:
        with self._schema_lock:
            if not self._schema_checked:
                engines.ensure_schema(self.engine)
                self._schema_checked = True

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (never takes SQLite's write lock)."""
        self.ensure_schema()
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            raise too_complex(exc) or BackendUnavailableError(
                f"metadata store {self.uri!r} failed: {exc}"
            ) from exc
        except (InterfaceError, PoolTimeoutError) as exc:
            raise BackendUnavailableError(f"metadata store {self.uri!r} failed: {exc}") from exc
        except OverflowError as exc:
            raise out_of_range(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: takes the write lock up front and waits for it."""
        self.ensure_schema()
        rider = _rider.get()
        if rider is not None and (rider.done or rider.db is not self):
            rider = None
        try:
            with engines.write_transaction(self.engine) as conn:
                yield conn
                if rider is not None:  # last, so a lock it takes is held only briefly
                    rider.write(conn)
        except OperationalError as exc:
            if is_lock_contention(exc):
                raise
            raise too_complex(exc) or BackendUnavailableError(
                f"metadata store {self.uri!r} failed: {exc}"
            ) from exc
        except (InterfaceError, PoolTimeoutError) as exc:
            # A dropped connection or an exhausted pool is passing: callers retry, never drop.
            raise BackendUnavailableError(f"metadata store {self.uri!r} failed: {exc}") from exc
        except OverflowError as exc:
            raise out_of_range(exc) from exc
        if rider is not None:
            rider.done = True

    def write_retrying(self, fn: Callable[[Connection], T], attempts: int = 20) -> T:
        """Run ``fn`` in a write transaction, retrying lock contention with jittered backoff.

        SQLite's busy timeout already waits for the lock; this covers the rarer cases it does
        not (a lock held past the timeout, PostgreSQL deadlocks), so the user never sees them.
        """
        delay = 0.01
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return fn(conn)
            except (OperationalError, DBAPIError) as exc:
                if not is_lock_contention(exc):
                    raise  # a constraint or data error: the caller translates it; not a lock
                if attempt == attempts - 1:
                    raise BackendUnavailableError(
                        f"metadata store {self.uri!r} stayed locked after {attempts} attempts; "
                        "another process holds a long write transaction"
                    ) from exc
                log.debug("write contention on %s, retrying: %s", self.uri, exc)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()
