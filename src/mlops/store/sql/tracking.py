"""Experiment tracking on SQLite or PostgreSQL (one implementation, SQLAlchemy Core)."""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from mlops.errors import (
    ExperimentAlreadyExistsError,
    ExperimentNotFoundError,
    InvalidFilterError,
    InvalidParamError,
    InvalidRunStateError,
    NotFoundError,
    RunNotFoundError,
)
from mlops.experiments.entities import (
    ArtifactRecord,
    Dataset,
    DatasetInput,
    Experiment,
    MetricHistory,
    Page,
    Run,
    RunStatus,
    now_ms,
)
from mlops.experiments.filter import parse_filter, parse_order_by
from mlops.experiments.store import MetricRow, TrackingStore
from mlops.store import process
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database
from mlops.store.sql.search import count_runs_query, search_runs_query

MAX_RESULTS = 50_000
_Point = tuple[int, int, int, float, bool]  # (series_id, step, timestamp, value, is_nan)
_HISTORY_POINT = np.dtype([("step", "i8"), ("timestamp", "i8"), ("value", "f8"), ("is_nan", "?")])


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidFilterError(
            f"page token {token!r} is not one this store issued; pass the token from the "
            "previous page unchanged"
        ) from exc
    if not isinstance(offset, int) or offset < 0:
        raise InvalidFilterError(f"page token {token!r} is malformed")
    return offset


def _experiment_key(experiment_id: str) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError) as exc:
        raise ExperimentNotFoundError(
            f"experiment id {experiment_id!r} is not an experiment id (they are integers); "
            "look experiments up by name with get_experiment_by_name"
        ) from exc


class SqlTrackingStore(TrackingStore):
    """``TrackingStore`` on a SQL database."""

    def __init__(self, db: Database, artifact_root: str):
        self.db = db
        self.artifact_root = artifact_root.rstrip("/")
        self._insert_metric_sql = self._metric_insert_sql()
        self._multi_insert_sql = _sqlite_multi_insert(_SQLITE_ROWS_PER_INSERT)
        # (run_id, key) -> series id, for series this process has written to.
        self._series: dict[tuple[str, str], int] = {}

    # --- experiments ---------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        if not name or not name.strip():
            raise InvalidParamError("experiment name must be a non-empty string")
        _fits("experiment name", name, 256)
        now = now_ms()

        def create(conn: Connection) -> str:
            existing = conn.execute(
                sa.select(t.experiments.c.id).where(t.experiments.c.name == name)
            ).first()
            if existing is not None:
                raise ExperimentAlreadyExistsError(
                    f"experiment {name!r} already exists (id {existing.id}); use it, or restore it "
                    "if it was deleted"
                )
            exp_id = conn.execute(
                t.experiments.insert().values(
                    name=name,
                    artifact_location=artifact_location or "",
                    description=description,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key
            assert exp_id is not None
            exp_id = exp_id[0]
            location = artifact_location or f"{self.artifact_root}/{exp_id}"
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.id == exp_id)
                .values(artifact_location=location)
            )
            if tags:
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": exp_id, "key": k, "value": str(v)} for k, v in tags.items()],
                )
            return str(exp_id)

        try:
            exp_id = self.db.write_retrying(create)
        except IntegrityError as exc:  # lost a race with another process creating the same name
            raise ExperimentAlreadyExistsError(f"experiment {name!r} already exists") from exc
        return self.get_experiment(exp_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        key = _experiment_key(experiment_id)
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.experiments).where(t.experiments.c.id == key)).first()
            if row is None:
                raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
            return self._experiment(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is None:
                raise ExperimentNotFoundError(
                    f"no experiment named {name!r}; `mlops experiments list` shows existing ones"
                )
            return self._experiment(conn, row)

    def list_experiments(
        self, include_deleted: bool = False, limit: int = 1000, page_token: str | None = None
    ) -> Page[Experiment]:
        offset = decode_page_token(page_token)
        query = sa.select(t.experiments).order_by(t.experiments.c.id.desc())
        if not include_deleted:
            query = query.where(t.experiments.c.deleted_at.is_(None))
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit + 1).offset(offset)).all()
            items = self._experiments(conn, rows[:limit])
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return Page(items, token)

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_deleted(t.experiments, experiment_id, now_ms())

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_deleted(t.experiments, experiment_id, None)

    def _set_deleted(self, table: sa.Table, ident: str, when: int | None) -> None:
        key: Any = _experiment_key(ident) if table is t.experiments else ident
        kind = table.name[:-1]

        def update(conn: Connection) -> None:
            deleted = conn.execute(sa.select(table.c.deleted_at).where(table.c.id == key)).first()
            if deleted is None:
                error = ExperimentNotFoundError if table is t.experiments else RunNotFoundError
                raise error(f"no {kind} with id {ident!r}")
            if (deleted.deleted_at is None) == (when is None):
                raise InvalidRunStateError(
                    f"{kind} {ident!r} is already deleted"
                    if when is not None
                    else f"{kind} {ident!r} is not deleted; there is nothing to restore"
                )
            conn.execute(table.update().where(table.c.id == key).values(deleted_at=when))

        self.db.write_retrying(update)

    def _experiment(self, conn: Connection, row: Any) -> Experiment:
        return self._experiments(conn, [row])[0]

    def _experiments(self, conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
        """Experiments with their tags, fetched in one query for all of them."""
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        if rows:
            et = t.experiment_tags
            for tag in conn.execute(
                sa.select(et.c.experiment_id, et.c.key, et.c.value).where(
                    et.c.experiment_id.in_([r.id for r in rows])
                )
            ):
                tags[tag.experiment_id][tag.key] = tag.value
        return [
            Experiment(
                id=str(row.id),
                name=row.name,
                artifact_location=row.artifact_location,
                description=row.description,
                tags=tags.get(row.id, {}),
                created_at=row.created_at,
                updated_at=row.updated_at,
                deleted_at=row.deleted_at,
            )
            for row in rows
        ]

    # --- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None,
        user: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> Run:
        if name is not None:
            _fits("run name", name, 256)
        experiment = self.get_experiment(experiment_id)
        if experiment.deleted:
            raise InvalidRunStateError(
                f"experiment {experiment.name!r} is deleted; restore it before starting runs"
            )
        run_id = uuid.uuid4().hex
        now = now_ms()
        row = {
            "id": run_id,
            "experiment_id": int(experiment.id),
            "parent_run_id": parent_run_id,
            "name": name or f"run-{run_id[:8]}",
            "status": RunStatus.RUNNING.value,
            "user": user,
            "start_time": now,
            "artifact_uri": f"{experiment.artifact_location}/{run_id}/artifacts",
            "host": host or process.hostname(),
            "pid": os.getpid() if pid is None else pid,
            "heartbeat_at": now,
        }

        def create(conn: Connection) -> None:
            if parent_run_id is not None:
                self._require_run(conn, parent_run_id)
            conn.execute(t.runs.insert().values(**row))
            if tags:
                conn.execute(
                    t.tags.insert(),
                    [{"run_id": run_id, "key": k, "value": str(v)} for k, v in tags.items()],
                )

        self.db.write_retrying(create)
        return self.get_run(run_id)

    def _require_run(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFoundError(f"no run with id {run_id!r}")
        return row

    def get_run(self, run_id: str) -> Run:
        with self.db.read() as conn:
            runs = self._hydrate(conn, [run_id])
        if not runs:
            raise RunNotFoundError(
                f"no run with id {run_id!r}; `mlops runs list` shows the existing ones"
            )
        return runs[0]

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix`` (at least 6 characters)."""
        if len(prefix) == 32:
            return prefix
        if len(prefix) < 6 or not all(c in "0123456789abcdef" for c in prefix):
            raise InvalidParamError(
                f"run id {prefix!r} is neither a full run id nor a hex prefix of 6+ characters"
            )
        with self.db.read() as conn:
            found = list(
                conn.execute(
                    sa.select(t.runs.c.id).where(t.runs.c.id.like(f"{prefix}%")).limit(2)
                ).scalars()
            )
        if not found:
            raise RunNotFoundError(f"no run id starts with {prefix!r}")
        if len(found) > 1:
            raise InvalidParamError(f"run id prefix {prefix!r} is ambiguous; give more characters")
        return str(found[0])

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Several runs in one round of queries, in the given order; unknown ids raise."""
        with self.db.read() as conn:
            runs = self._hydrate(conn, run_ids)
        missing = set(run_ids) - {r.id for r in runs}
        if missing:
            raise RunNotFoundError(f"no run with id {sorted(missing)[0]!r}")
        return runs

    def update_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": RunStatus(status).value, "heartbeat_at": now_ms()}
        if end_time is not None:
            values["end_time"] = end_time
        if status is not RunStatus.RUNNING:
            values["error"] = error  # a run that ends cleanly carries no stale error text

        def update(conn: Connection) -> int:
            return conn.execute(
                t.runs.update().where(t.runs.c.id == run_id).values(**values)
            ).rowcount

        if self.db.write_retrying(update) == 0:
            raise RunNotFoundError(f"no run with id {run_id!r}")

    def delete_run(self, run_id: str) -> None:
        self._set_deleted(t.runs, run_id, now_ms())

    def restore_run(self, run_id: str) -> None:
        self._set_deleted(t.runs, run_id, None)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page[Run]:
        if not 0 < max_results <= MAX_RESULTS:
            raise InvalidFilterError(
                f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}"
            )
        expr = parse_filter(filter_string)
        order = parse_order_by(order_by)
        offset = decode_page_token(page_token)
        exp_keys = [_experiment_key(e) for e in experiment_ids]
        query = search_runs_query(
            exp_keys, expr, order, max_results + 1, offset=offset, include_deleted=include_deleted
        )
        with self.db.read() as conn:
            ids = [row[0] for row in conn.execute(query)]
            runs = self._hydrate(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return Page(runs, token)

    def count_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        include_deleted: bool = False,
    ) -> int:
        """How many runs match (for paging UIs)."""
        query = count_runs_query(
            [_experiment_key(e) for e in experiment_ids],
            parse_filter(filter_string),
            include_deleted=include_deleted,
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def list_child_runs(self, run_id: str) -> list[Run]:
        with self.db.read() as conn:
            self._require_run(conn, run_id)  # an unknown parent is a 404, not "no children"
            ids = list(
                conn.execute(
                    sa.select(t.runs.c.id)
                    .where(t.runs.c.parent_run_id == run_id, t.runs.c.deleted_at.is_(None))
                    .order_by(t.runs.c.start_time)
                ).scalars()
            )
            return self._hydrate(conn, ids)

    def _hydrate(self, conn: Connection, ids: Sequence[str]) -> list[Run]:
        """Runs by id, in the given order, with their data fetched in one query per table."""
        if not ids:
            return []
        id_list = list(ids)
        run_rows = {
            r.id: r for r in conn.execute(sa.select(t.runs).where(t.runs.c.id.in_(id_list)))
        }
        params: dict[str, dict[str, str]] = defaultdict(dict)
        for r in conn.execute(
            sa.select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
                t.params.c.run_id.in_(id_list)
            )
        ):
            params[r.run_id][r.key] = r.value
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for r in conn.execute(
            sa.select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(
                t.tags.c.run_id.in_(id_list)
            )
        ):
            tags[r.run_id][r.key] = r.value
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        lm = t.latest_metrics
        for m in conn.execute(
            sa.select(lm.c.run_id, lm.c.key, lm.c.value, lm.c.is_nan).where(
                lm.c.run_id.in_(id_list)
            )
        ):
            metrics[m.run_id][m.key] = math.nan if m.is_nan else m.value
        inputs: dict[str, list[DatasetInput]] = defaultdict(list)
        for r in conn.execute(
            sa.select(t.run_inputs.c.run_id, t.run_inputs.c.context, t.datasets)
            .join(t.datasets, t.datasets.c.id == t.run_inputs.c.dataset_id)
            .where(t.run_inputs.c.run_id.in_(id_list))
            .order_by(t.run_inputs.c.created_at)
        ):
            inputs[r.run_id].append(DatasetInput(_dataset(r), r.context))
        out: list[Run] = []
        for run_id in id_list:
            row = run_rows.get(run_id)
            if row is None:
                continue
            out.append(
                Run(
                    id=row.id,
                    experiment_id=str(row.experiment_id),
                    name=row.name,
                    status=RunStatus(row.status),
                    user=row.user,
                    start_time=row.start_time,
                    end_time=row.end_time,
                    artifact_uri=row.artifact_uri,
                    parent_run_id=row.parent_run_id,
                    error=row.error,
                    params=params.get(run_id, {}),
                    metrics=metrics.get(run_id, {}),
                    tags=tags.get(run_id, {}),
                    inputs=inputs.get(run_id, []),
                    deleted_at=row.deleted_at,
                )
            )
        return out

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        now = now_ms()
        self.db.write_retrying(
            lambda conn: conn.execute(
                t.runs.update()
                .where(t.runs.c.id.in_(list(run_ids)), t.runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=now)
            )
        )

    def mark_dead_runs(self, stale_after_ms: int) -> list[str]:
        here = process.hostname()
        now = now_ms()
        with self.db.read() as conn:
            running = conn.execute(
                sa.select(
                    t.runs.c.id,
                    t.runs.c.host,
                    t.runs.c.pid,
                    t.runs.c.start_time,
                    t.runs.c.heartbeat_at,
                ).where(t.runs.c.status == RunStatus.RUNNING.value)
            ).all()
        dead = [
            r.id
            for r in running
            if (
                not process.process_alive(r.pid, started_before_ms=r.start_time)
                if r.host == here
                else now - r.heartbeat_at > stale_after_ms
            )
        ]
        if dead:
            self.db.write_retrying(
                lambda conn: conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id.in_(dead), t.runs.c.status == RunStatus.RUNNING.value)
                    .values(
                        status=RunStatus.KILLED.value,
                        end_time=t.runs.c.heartbeat_at,
                        error="the process running this run died without ending it",
                    )
                )
            )
        return dead

    # --- run data ------------------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if not params:
            return

        def write(conn: Connection) -> None:
            self._require_writable(conn, run_id)
            existing = {
                r.key: r.value
                for r in conn.execute(
                    sa.select(t.params.c.key, t.params.c.value).where(
                        t.params.c.run_id == run_id, t.params.c.key.in_(list(params))
                    )
                )
            }
            for key, value in params.items():
                if key in existing and existing[key] != value:
                    raise InvalidParamError(
                        f"parameter {key!r} of run {run_id} is already {existing[key]!r} and "
                        f"cannot change to {value!r}; parameters are immutable, log a new key or "
                        "start a "
                        "new run"
                    )
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in params.items()
                if k not in existing
            ]
            if new:
                conn.execute(t.params.insert(), new)

        self.db.write_retrying(write)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]

        def write(conn: Connection) -> None:
            self._require_run(conn, run_id)
            stmt = self._upsert(t.tags, rows[0], ["run_id", "key"], ["value"])
            conn.execute(stmt, rows)

        self.db.write_retrying(write)

    def _require_writable(self, conn: Connection, run_id: str) -> None:
        row = self._require_run(conn, run_id)
        if row.deleted_at is not None:
            raise InvalidRunStateError(f"run {run_id} is deleted; restore it before logging to it")

    def _upsert(
        self, table: sa.Table, sample: Mapping[str, Any], keys: list[str], update: list[str]
    ) -> Any:
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        stmt = insert(table)
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in update}
        )

    def _metric_insert_sql(self) -> str:
        columns = '(series_id, step, "timestamp", value, is_nan)'
        if self.db.dialect == "postgresql":
            return (
                f"INSERT INTO metrics {columns} VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
            )
        return f"INSERT OR IGNORE INTO metrics {columns} VALUES (?, ?, ?, ?, ?)"

    def _insert_points(
        self, conn: Connection, points: list[tuple[int, int, int, float, bool]]
    ) -> None:
        if self.db.dialect != "sqlite":
            conn.exec_driver_sql(self._insert_metric_sql, points)  # psycopg pipelines these
            return
        # SQLite: thousands of rows per statement. executemany would release and retake the GIL
        # around every row, starving this thread while the training loop runs; one statement
        # binds a whole chunk in C and releases the GIL once for all of its b-tree work.
        chunk = _SQLITE_ROWS_PER_INSERT
        for start in range(0, len(points), chunk):
            part = points[start : start + chunk]
            sql = self._multi_insert_sql if len(part) == chunk else _sqlite_multi_insert(len(part))
            conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(part)))

    def log_metric_rows(self, rows: Sequence[MetricRow]) -> None:
        if not rows:
            return
        pairs = {(row[0], row[1]) for row in rows}
        try:
            ids = self.db.write_retrying(lambda conn: self._write_points(conn, rows, pairs))
        except IntegrityError as exc:
            raise RunNotFoundError(
                f"metrics name a run that does not exist (runs {sorted({p[0] for p in pairs})}): "
                f"{exc.orig}"
            ) from exc
        # Cached only once committed: an id from a rolled-back transaction names nothing.
        if len(self._series) > 100_000:
            self._series.clear()
        self._series.update(ids)

    def _series_ids(
        self,
        conn: Connection,
        pairs: set[tuple[str, str]],
        first: Mapping[tuple[str, str], MetricRow],
    ) -> dict[tuple[str, str], int]:
        """The series id of each (run, key), creating the series that do not exist yet."""
        ids = {pair: self._series[pair] for pair in pairs if pair in self._series}
        missing = pairs - ids.keys()
        if not missing:
            return ids
        lm = t.latest_metrics
        by_run: dict[str, list[str]] = defaultdict(list)
        for run_id, key in missing:
            by_run[run_id].append(key)

        def lookup() -> None:
            for run_id, keys in by_run.items():
                for row in conn.execute(
                    sa.select(lm.c.id, lm.c.key).where(lm.c.run_id == run_id, lm.c.key.in_(keys))
                ):
                    ids[(run_id, row.key)] = row.id

        lookup()
        new = [pair for pair in missing if pair not in ids]
        if new:
            # Placeholder values: the caller sets the real newest point in this transaction.
            # ON CONFLICT DO NOTHING: another writer may create the same series concurrently.
            insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
            conn.execute(
                insert(lm).on_conflict_do_nothing(),
                [
                    {
                        "run_id": r,
                        "key": k,
                        "step": first[(r, k)][3],
                        "timestamp": first[(r, k)][4],
                        "value": 0.0,
                        "is_nan": False,
                    }
                    for r, k in new
                ],
            )
            lookup()
        return ids

    def _write_points(
        self, conn: Connection, rows: Sequence[MetricRow], pairs: set[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        first: dict[tuple[str, str], MetricRow] = {}
        if pairs - self._series.keys():
            for point in rows:
                first.setdefault((point[0], point[1]), point)
        ids = self._series_ids(conn, pairs, first)
        # NaN cannot be stored by SQLite; it is flagged and stored as 0 (see tables.metrics).
        points = [
            (ids[(run_id, key)], step, ts, value, False)
            if value == value
            else (ids[(run_id, key)], step, ts, 0.0, True)
            for run_id, key, value, step, ts in rows
        ]
        self._insert_points(conn, points)
        # The newest point of each series is read back through the primary key, so it is right
        # even when batches arrive out of step order: one UPDATE, one index probe per series.
        m, lm = t.metrics, t.latest_metrics

        def newest(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
            return (
                sa.select(column)
                .where(m.c.series_id == lm.c.id)
                .order_by(m.c.step.desc(), m.c.timestamp.desc())
                .limit(1)
                .scalar_subquery()
            )

        conn.execute(
            lm.update()
            .where(lm.c.id.in_(list(ids.values())))
            .values(
                step=newest(m.c.step),
                timestamp=newest(m.c.timestamp),
                value=newest(m.c.value),
                is_nan=newest(m.c.is_nan),
            )
        )
        return ids

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        m, lm = t.metrics, t.latest_metrics
        series = sa.select(lm.c.id).where(lm.c.run_id == run_id, lm.c.key == key).scalar_subquery()
        query = (
            sa.select(m.c.step, m.c.timestamp, m.c.value, m.c.is_nan)
            .where(m.c.series_id == series)
            .order_by(m.c.step, m.c.timestamp)
        )
        with self.db.read() as conn:
            # Straight from the DBAPI cursor into one structured array: no Row object or tuple
            # per point (100,000 of each set the garbage collector running, ~6x slower).
            cursor = conn.execute(query).cursor
            assert cursor is not None
            points = np.fromiter(cast(Iterable[tuple[Any, ...]], cursor), dtype=_HISTORY_POINT)
            if len(points) == 0:
                self._require_run(conn, run_id)
        values = points["value"].copy()
        values[points["is_nan"]] = np.nan
        return MetricHistory(key, points["step"].copy(), points["timestamp"].copy(), values)

    def log_input(self, run_id: str, dataset: Dataset, context: str) -> Dataset:
        _fits("dataset name", dataset.name, 256)
        _fits("dataset context", context, 64)

        def write(conn: Connection) -> Dataset:
            self._require_writable(conn, run_id)
            row = conn.execute(
                sa.select(t.datasets).where(
                    t.datasets.c.name == dataset.name, t.datasets.c.digest == dataset.digest
                )
            ).first()
            if row is None:
                conn.execute(
                    t.datasets.insert().values(
                        id=dataset.id,
                        name=dataset.name,
                        digest=dataset.digest,
                        source=dataset.source,
                        schema=json.dumps(dataset.schema),
                        num_rows=dataset.num_rows,
                        created_at=dataset.created_at,
                    )
                )
                stored = dataset
            else:
                stored = _dataset(row)
            link = {
                "run_id": run_id,
                "dataset_id": stored.id,
                "context": context,
                "created_at": now_ms(),
            }
            exists = conn.execute(
                sa.select(t.run_inputs.c.run_id).where(
                    t.run_inputs.c.run_id == run_id,
                    t.run_inputs.c.dataset_id == stored.id,
                    t.run_inputs.c.context == context,
                )
            ).first()
            if exists is None:
                conn.execute(t.run_inputs.insert().values(**link))
                conn.execute(
                    self._upsert(
                        t.lineage_edges,
                        {},
                        ["src_type", "src_id", "relation", "dst_type", "dst_id"],
                        ["created_at"],
                    ),
                    [
                        {
                            "src_type": "dataset",
                            "src_id": stored.id,
                            "relation": f"input:{context}",
                            "dst_type": "run",
                            "dst_id": run_id,
                            "created_at": link["created_at"],
                        }
                    ],
                )
            return stored

        return self.db.write_retrying(write)

    def record_artifact(self, record: ArtifactRecord) -> None:
        self.record_artifacts([record])

    def record_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        """Remember several artifacts in one transaction."""
        rows = [
            {
                "uri": r.uri,
                "run_id": r.run_id,
                "path": r.path,
                "size": r.size,
                "sha256": r.sha256,
                "created_at": r.created_at,
            }
            for r in records
        ]
        if not rows:
            return
        stmt = self._upsert(t.artifacts, rows[0], ["uri"], ["size", "sha256", "created_at", "path"])
        self.db.write_retrying(lambda conn: conn.execute(stmt, rows))

    def get_artifact(self, uri: str) -> ArtifactRecord:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.artifacts).where(t.artifacts.c.uri == uri)).first()
        if row is None:
            raise NotFoundError(f"no artifact recorded at {uri!r}")
        return _artifact(row)

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        with self.db.read() as conn:
            self._require_run(conn, run_id)  # an unknown run is a 404, not "no artifacts"
            rows = conn.execute(
                sa.select(t.artifacts)
                .where(t.artifacts.c.run_id == run_id)
                .order_by(t.artifacts.c.path)
            ).all()
        return [_artifact(r) for r in rows]

    def close(self) -> None:
        self.db.dispose()


# SQLite binds at most 32,766 parameters a statement (999 before 3.32); a point has five.
_SQLITE_ROWS_PER_INSERT = (32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999) // 5


def _sqlite_multi_insert(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?)"] * rows)
    columns = '(series_id, step, "timestamp", value, is_nan)'
    return f"INSERT OR IGNORE INTO metrics {columns} VALUES {values}"


def _fits(what: str, value: str, limit: int) -> None:
    """PostgreSQL enforces column lengths and SQLite does not: refuse the same on both."""
    if len(value) > limit:
        raise InvalidParamError(
            f"{what} is {len(value)} characters long; the limit is {limit}: {value[:40]!r}..."
        )


def _dataset(row: Any) -> Dataset:
    return Dataset(
        id=row.id,
        name=row.name,
        digest=row.digest,
        source=row.source,
        schema=json.loads(row.schema),
        num_rows=row.num_rows,
        created_at=row.created_at,
    )


def _artifact(row: Any) -> ArtifactRecord:
    return ArtifactRecord(
        uri=row.uri,
        path=row.path,
        size=row.size,
        sha256=row.sha256,
        created_at=row.created_at,
        run_id=row.run_id,
    )
