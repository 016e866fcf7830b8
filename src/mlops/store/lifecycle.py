"""The end of stored data's life: garbage collection, and moving a whole store elsewhere.

Both work in bounded memory however large the store: deleted objects are found a batch of ids
at a time, their rows are deleted by SQL statements (a run's million metric points never enter
Python), and a copy streams each table in chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlops.errors import InvalidInputError, InvalidStateError, NotFoundError
from mlops.experiments.entities import now_ms
from mlops.store.open import Stores
from mlops.store.sql import tables as t

log = logging.getLogger(__name__)
Progress = Callable[[str, str], None]  # (what, id)

_BATCH = 200
_CHUNK = 20_000


@dataclass
class GcReport:
    """What ``collect_garbage`` removed for good."""

    experiments: int = 0
    runs: int = 0
    model_versions: int = 0
    models: int = 0
    artifacts: int = 0
    errors: list[str] = field(default_factory=list)
    monitoring: dict[str, int] = field(default_factory=dict)
    """Monitoring rows past their retention (``monitoring.retention_days``), by kind."""


def _ids(stores: Stores, query: sa.Select[Any]) -> Iterator[list[Any]]:
    """Batches of ids, re-queried each time: purged rows drop out, so this terminates."""
    while True:
        with stores.db.read() as conn:
            batch = list(conn.execute(query.limit(_BATCH)).scalars())
        if not batch:
            return
        yield batch


def collect_garbage(
    stores: Stores, older_than_ms: int = 0, progress: Progress | None = None
) -> GcReport:
    """Remove soft-deleted runs, experiments, model versions and models, and their artifacts,
    and monitoring data older than its retention (``monitoring.retention_days``).

    Only objects deleted at least ``older_than_ms`` ago are removed.
    """
    cutoff = now_ms() - older_than_ms
    report = GcReport()
    notify = progress or (lambda _what, _id: None)
    mv = t.model_versions

    deleted_models = sa.select(t.registered_models.c.name).where(
        t.registered_models.c.deleted_at <= cutoff
    )
    for names in _ids(stores, deleted_models):
        for name in names:
            with stores.db.read() as conn:
                versions = list(
                    conn.execute(sa.select(mv.c.version).where(mv.c.name == name)).scalars()
                )
            for version in versions:
                _purge_version(stores, name, version, report)
            stores.db.write_retrying(partial(_delete_model_rows, name=name))
            report.models += 1
            notify("model", name)

    while True:
        with stores.db.read() as conn:
            pairs = conn.execute(
                sa.select(mv.c.name, mv.c.version).where(mv.c.deleted_at <= cutoff).limit(_BATCH)
            ).all()
        if not pairs:
            break
        for name, version in pairs:
            _purge_version(stores, name, version, report)
            notify("model_version", f"{name}/{version}")

    runs = t.runs
    doomed_runs = sa.select(runs.c.id).where(
        sa.or_(
            runs.c.deleted_at <= cutoff,
            runs.c.experiment_id.in_(
                sa.select(t.experiments.c.id).where(t.experiments.c.deleted_at <= cutoff)
            ),
        )
    )
    for batch in _ids(stores, doomed_runs):
        for run_id in batch:
            _purge_run(stores, run_id, report)
            notify("run", run_id)

    deleted_experiments = sa.select(t.experiments.c.id).where(t.experiments.c.deleted_at <= cutoff)
    for batch in _ids(stores, deleted_experiments):
        for exp_id in batch:
            stores.db.write_retrying(partial(_delete_experiment_rows, experiment_id=exp_id))
            report.experiments += 1
            notify("experiment", str(exp_id))

    from mlops.store.sql.monitoring import SqlMonitoringStore

    monitoring = SqlMonitoringStore(stores.db, stores.registry)
    report.monitoring = monitoring.purge_expired(
        stores.config.monitoring.retention_days, now_ms() / 1000, notify
    )
    return report


def _delete_prefix(stores: Stores, uri: str, report: GcReport) -> None:
    artifacts = stores.artifacts
    try:
        prefix = artifacts.relative(uri)
    except InvalidInputError as exc:  # an artifact root outside this store: report, keep going
        report.errors.append(f"{uri}: {exc}")
        return
    report.artifacts += artifacts.delete_prefix(prefix)


def _purge_run(stores: Stores, run_id: str, report: GcReport) -> None:
    with stores.db.read() as conn:
        row = conn.execute(sa.select(t.runs.c.artifact_uri).where(t.runs.c.id == run_id)).first()
        children = list(
            conn.execute(sa.select(t.runs.c.id).where(t.runs.c.parent_run_id == run_id)).scalars()
        )
    if row is None:
        return
    for child in children:  # a deleted parent takes its nested runs with it
        _purge_run(stores, child, report)
    # Artifacts first: if we crash after this, the rows still say the run is deleted and the
    # next gc finishes the job; the reverse order would leak files nobody can find.
    # The run's folder holds its artifacts/ (and whatever else was put beside them).
    run_root = row.artifact_uri.removesuffix("/artifacts")
    _delete_prefix(stores, run_root, report)

    def delete(conn: Connection) -> None:
        series = sa.select(t.latest_metrics.c.id).where(t.latest_metrics.c.run_id == run_id)
        conn.execute(t.metrics.delete().where(t.metrics.c.series_id.in_(series)))
        for table in (t.latest_metrics, t.params, t.tags, t.run_inputs, t.artifacts):
            conn.execute(table.delete().where(table.c.run_id == run_id))
        conn.execute(
            t.model_versions.update().where(t.model_versions.c.run_id == run_id).values(run_id=None)
        )
        conn.execute(
            t.lineage_edges.delete().where(
                sa.or_(
                    sa.and_(
                        t.lineage_edges.c.src_type == "run", t.lineage_edges.c.src_id == run_id
                    ),
                    sa.and_(
                        t.lineage_edges.c.dst_type == "run", t.lineage_edges.c.dst_id == run_id
                    ),
                )
            )
        )
        conn.execute(t.runs.delete().where(t.runs.c.id == run_id))

    stores.db.write_retrying(delete)
    report.runs += 1


def _purge_version(stores: Stores, name: str, version: int, report: GcReport) -> None:
    mv = t.model_versions
    with stores.db.read() as conn:
        uri = conn.execute(
            sa.select(mv.c.artifact_uri).where(mv.c.name == name, mv.c.version == version)
        ).scalar()
    if uri is None:
        return
    _delete_prefix(stores, uri, report)
    ref = f"{name}/{version}"

    def delete(conn: Connection) -> None:
        conn.execute(t.artifacts.delete().where(t.artifacts.c.uri.like(f"{uri}/%")))
        for table in (t.model_version_tags, t.model_aliases):
            conn.execute(table.delete().where(table.c.name == name, table.c.version == version))
        conn.execute(
            t.lineage_edges.delete().where(
                sa.or_(t.lineage_edges.c.src_id == ref, t.lineage_edges.c.dst_id == ref)
            )
        )
        conn.execute(mv.delete().where(mv.c.name == name, mv.c.version == version))

    stores.db.write_retrying(delete)
    report.model_versions += 1


def _delete_experiment_rows(conn: Connection, *, experiment_id: int) -> None:
    conn.execute(
        t.experiment_tags.delete().where(t.experiment_tags.c.experiment_id == experiment_id)
    )
    conn.execute(t.experiments.delete().where(t.experiments.c.id == experiment_id))


def _delete_model_rows(conn: Connection, *, name: str) -> None:
    for table in (t.registered_model_tags, t.model_aliases):
        conn.execute(table.delete().where(table.c.name == name))
    conn.execute(t.registered_models.delete().where(t.registered_models.c.name == name))


# --- copying a whole store ---------------------------------------------------------------------

# Columns that hold artifact URIs: rewritten when the artifact root moves.
_URI_COLUMNS = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "artifacts": ("uri",),
    "model_versions": ("artifact_uri",),
}
# Tables with an autoincrement id whose PostgreSQL sequence must follow the copied ids.
_SERIAL = ("experiments", "latest_metrics", "registry_events", "approval_requests")


def require_existing_store(uri: str) -> None:
    """Refuse a URI with no mlops store behind it (opening one would create it empty)."""
    from mlops.store.sql import engine as engines

    url = engines.sqlalchemy_url(uri)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:" and not Path(path).is_file():
            raise NotFoundError(f"no mlops store at {uri!r}: {path} does not exist")
    engine = engines.create_engine(uri)
    try:
        if engines.current_revision(engine) is None:
            raise NotFoundError(f"no mlops store at {uri!r}: the database has no mlops schema")
    finally:
        engine.dispose()


def copy_store(src: Stores, dst: Stores, progress: Progress | None = None) -> dict[str, int]:
    """Copy every row and every artifact from ``src`` to an empty ``dst``; returns row counts."""
    notify = progress or (lambda _what, _id: None)
    with dst.db.read() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(t.experiments)).scalar():
            raise InvalidStateError(
                f"destination {dst.db.uri!r} already holds experiments; copy into an empty store "
                "(after a copy that failed half-way, drop and recreate the destination first)"
            )
    src_root = src.artifacts.uri_for("").rstrip("/")
    dst_root = dst.artifacts.uri_for("").rstrip("/")
    move_artifacts = src_root != dst_root

    def rewrite(table: str, row: dict[str, Any]) -> dict[str, Any]:
        if move_artifacts:
            for column in _URI_COLUMNS.get(table, ()):
                value = row.get(column)
                if isinstance(value, str) and value.startswith(src_root):
                    row[column] = dst_root + value[len(src_root) :]
        return row

    counts: dict[str, int] = {}
    for table in t.metadata.sorted_tables:
        counts[table.name] = _copy_table(src, dst, table, rewrite)
        notify("table", table.name)
    _restore_parents(src, dst)
    if dst.db.dialect == "postgresql":
        with dst.db.write() as conn:
            for name in _SERIAL:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
                )
    if move_artifacts:
        counts["artifact files"] = _copy_artifact_files(src, dst, notify)
    return counts


def _copy_artifact_files(src: Stores, dst: Stores, notify: Progress) -> int:
    """Copy every recorded artifact, a page of records at a time (keyset by URI)."""
    copied, after = 0, ""
    while True:
        with src.db.read() as conn:
            page = conn.execute(
                sa.select(t.artifacts.c.uri, t.artifacts.c.sha256)
                .where(t.artifacts.c.uri > after)
                .order_by(t.artifacts.c.uri)
                .limit(_BATCH)
            ).all()
        if not page:
            return copied
        for uri, sha256 in page:
            path = src.artifacts.relative(uri)
            src.artifacts.copy_to(dst.artifacts, path, sha256=sha256)
            notify("artifact", path)
        copied += len(page)
        after = page[-1].uri


def _copy_table(
    src: Stores,
    dst: Stores,
    table: sa.Table,
    rewrite: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> int:
    copied = 0
    with src.db.engine.connect() as read:
        result = read.execution_options(stream_results=True, yield_per=_CHUNK).execute(
            sa.select(table)
        )
        for chunk in result.partitions():
            rows = [rewrite(table.name, dict(r._mapping)) for r in chunk]
            if table is t.runs:
                for row in rows:
                    row["parent_run_id"] = None  # set once every run exists (self-reference)
            with dst.db.write() as write:
                write.execute(table.insert(), rows)
            copied += len(rows)
    return copied


def _restore_parents(src: Stores, dst: Stores) -> None:
    with src.db.read() as conn:
        links = conn.execute(
            sa.select(t.runs.c.id, t.runs.c.parent_run_id).where(t.runs.c.parent_run_id.isnot(None))
        ).all()
    for start in range(0, len(links), _CHUNK):
        chunk = links[start : start + _CHUNK]
        with dst.db.write() as conn:
            for run_id, parent in chunk:
                conn.execute(
                    t.runs.update().where(t.runs.c.id == run_id).values(parent_run_id=parent)
                )
