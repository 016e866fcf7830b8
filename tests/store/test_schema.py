"""Schema creation, refusal of outdated databases, and upgrade from the first revision."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from mlops.cli import app
from mlops.errors import ConfigError, SchemaOutdatedError
from mlops.store.sql import engine as engines
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database


def test_new_database_is_created_at_head(sql_backend: str) -> None:
    db = Database(sql_backend)
    db.ensure_schema()
    assert engines.current_revision(db.engine) == engines.head_revision()
    with db.engine.connect() as conn:
        # The migrations build exactly the schema tables.py declares.
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
    db.dispose()


def test_outdated_database_is_refused_then_upgraded(sql_backend: str) -> None:
    engine = engines.create_engine(sql_backend)
    engines.upgrade(engine, "0001")
    with engines.write_transaction(engine) as conn:
        conn.execute(
            t.experiments.insert().values(
                name="old", artifact_location="/tmp/a", created_at=1, updated_at=1
            )
        )
    engine.dispose()
    outdated = Database(sql_backend)
    with pytest.raises(SchemaOutdatedError, match="mlops db upgrade"):
        outdated.ensure_schema()
    outdated.dispose()
    result = CliRunner().invoke(app, ["db", "upgrade", "--tracking-uri", sql_backend])
    assert result.exit_code == 0, result.output
    assert f"Upgraded schema from 0001 to {engines.head_revision()}" in result.output
    db = Database(sql_backend)
    db.ensure_schema()
    with db.read() as conn:
        assert conn.execute(sa.select(t.experiments.c.name)).scalars().all() == ["old"]
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.approval_requests)).scalar() == 0
        )
    db.dispose()


def test_foreign_database_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE something (x INTEGER)")
    engine.dispose()
    with pytest.raises(ConfigError, match="no mlops schema revision"):
        Database(uri).ensure_schema()


def test_newer_database_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    db = Database(uri)
    db.ensure_schema()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    db.dispose()
    with pytest.raises(SchemaOutdatedError, match="newer"):
        Database(uri).ensure_schema()


RACER = """
import sys, time
from mlops.config import MLOpsConfig
from mlops.experiments import ExperimentTracker

start = float(sys.argv[2])
while time.time() < start:
    pass
tracker = ExperimentTracker(config=MLOpsConfig(home=sys.argv[3], tracking_uri=sys.argv[1]))
with tracker.start_experiment("race") as run:
    run.log_metric("x", 1.0)
"""


def test_many_processes_create_a_new_store_at_once(sql_backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    import time

    start = time.time() + 6.0  # every process is imported and spinning before the gun
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, sql_backend, str(start), str(tmp_path / f"h{i}")],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    from mlops.experiments import ExperimentTracker

    tracker = ExperimentTracker(uri=sql_backend)
    assert len(tracker.search_runs("race", max_results=100)) == 8


def test_an_exhausted_pool_is_a_passing_backend_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Callers retry BackendUnavailableError; a pool timeout must be one, never a raw error."""
    from mlops.errors import BackendUnavailableError

    uri = f"sqlite:///{tmp_path / 'pool.db'}"
    db = Database(uri)
    db.ensure_schema()
    db.engine.dispose()
    db.engine = sa.create_engine(uri, pool_size=1, max_overflow=0, pool_timeout=0.1)
    held = db.engine.connect()
    with pytest.raises(BackendUnavailableError, match="failed"), db.read():
        pass
    with pytest.raises(BackendUnavailableError, match="failed"), db.write():
        pass
    held.close()
    db.dispose()


def test_upgrading_binds_existing_monitors_to_their_models(sql_backend: str) -> None:
    """0010 binds every monitor that already stored a result, so no existing monitor is left
    for another model's editor to claim after an upgrade."""
    engine = engines.create_engine(sql_backend)
    engines.upgrade(engine, "0009")
    row = {"kind": "drift", "window_start": 0.0, "window_end": 1.0, "n_rows": 1,
           "flagged": False, "payload": "{}", "created_at": 5, "updated_at": 5}  # fmt: skip
    with engines.write_transaction(engine) as conn:
        conn.execute(sa.text(
            "INSERT INTO monitoring_results (monitor, model_name, kind, window_start, window_end,"
            " n_rows, flagged, payload, created_at, updated_at) VALUES (:monitor, :model_name,"
            " :kind, :window_start, :window_end, :n_rows, :flagged, :payload, :created_at,"
            " :updated_at)"
        ), [{**row, "monitor": "churn-v1-drift", "model_name": "churn"},
            {**row, "monitor": "churn-v1-drift", "model_name": "churn", "window_start": 1.0},
            {**row, "monitor": "unlabelled", "model_name": None}])  # fmt: skip
    engines.upgrade(engine, "head")
    with engine.connect() as conn:
        bound = conn.execute(
            sa.select(t.monitoring_monitors.c.monitor, t.monitoring_monitors.c.model_name)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in bound] == [("churn-v1-drift", "churn")]
