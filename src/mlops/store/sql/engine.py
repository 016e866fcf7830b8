"""Engines and schema revisions for the SQL metadata store.

SQLite runs in WAL mode (readers never block the writer) with a long busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer takes the lock up front and waits
for it, instead of starting deferred and failing with "database is locked" when it upgrades.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from mlops.errors import BackendUnavailableError, ConfigError, SchemaOutdatedError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

# Engines whose pooled connections a forked child must not use (SQLAlchemy's documented recipe:
# dispose(close=False) in the child leaves the parent's connections alone).
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _drop_inherited_pools() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_pools)
WRITE = "mlops_write"


def sqlalchemy_url(uri: str) -> str:
    """Map a user-facing tracking URI to the SQLAlchemy URL with the right driver."""
    if uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"tracking URI {uri!r} points at an mlops server, and this operation needs direct "
            "access to its database: run it on the server, with the server's own tracking URI "
            "(sqlite:///PATH or postgresql://USER@HOST/DB)"
        )
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    if uri.startswith(("sqlite://", "postgresql+psycopg://")):
        return uri
    raise ConfigError(
        f"tracking URI {uri!r} has no supported scheme; use sqlite:///PATH or postgresql://..."
    )


def create_engine(uri: str, busy_timeout: float = 60.0) -> Engine:
    """An engine for ``uri`` with the per-backend settings the store relies on."""
    url = sqlalchemy_url(uri)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the folder of the metadata store {path!r}: {exc.strerror}; "
                    "set MLOPS_HOME (or MLOPS_TRACKING_URI) to a writable place"
                ) from exc
        # Pooled: opening a SQLite connection reruns the PRAGMAs (and closing the last one
        # checkpoints the WAL), ~1.5 ms per transaction. Forked children drop the inherited pool.
        engine = sa.create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _engines.add(engine)
        _configure_sqlite(engine, busy_timeout)
        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "PostgreSQL needs the psycopg driver: pip install 'mlops[postgres]'"
        ) from exc
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    _engines.add(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN (below) control transactions instead of pysqlite's guesses.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoint; never corrupt
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock at BEGIN."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


def _alembic_config(conn: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    """The newest schema revision this version of mlops knows."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# Any constant works: it names "mlops schema changes" among the database's advisory locks.
_SCHEMA_LOCK = 0x6D6C6F7073


def _lock_schema(conn: Connection) -> None:
    """Serialise schema changes between processes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (``mlops db upgrade``)."""
    with write_transaction(engine) as conn:
        _lock_schema(conn)
        command.upgrade(_alembic_config(conn), revision)


def _create_schema(engine: Engine) -> None:
    """Create the schema in an empty database, once, however many processes race to do it."""
    with write_transaction(engine) as conn:
        _lock_schema(conn)
        # Re-read under the lock: another process may have created it meanwhile.
        if MigrationContext.configure(conn).get_current_revision() is not None:
            return
        if sa.inspect(conn).get_table_names():
            raise ConfigError(
                f"database {engine.url!r} has tables but no mlops schema revision; "
                "point MLOPS_TRACKING_URI at an empty database or an mlops store"
            )
        log.info("creating mlops schema in %s", engine.url)
        command.upgrade(_alembic_config(conn), "head")


def ensure_schema(engine: Engine) -> None:
    """Create a new database at the current schema; refuse an outdated one with a clear error."""
    try:
        revision = current_revision(engine)
        if revision is None:
            _create_schema(engine)
            return
    except DBAPIError as exc:
        raise BackendUnavailableError(f"cannot open metadata store {engine.url!r}: {exc}") from exc
    head = head_revision()
    if revision != head:
        script = ScriptDirectory(str(MIGRATIONS))
        known = {rev.revision for rev in script.walk_revisions()}
        if revision not in known:
            raise SchemaOutdatedError(
                f"database {engine.url!r} is at schema revision {revision}, which this version "
                "of mlops does not know (it is newer); upgrade the mlops package"
            )
        raise SchemaOutdatedError(
            f"database {engine.url!r} is at schema revision {revision} but this mlops needs "
            f"{head}; back it up and run `mlops db upgrade`"
        )
