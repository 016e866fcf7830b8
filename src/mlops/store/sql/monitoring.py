"""The monitoring store on SQLite or PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from mlops.errors import ModelNotFoundError, NotFoundError
from mlops.experiments.entities import now_ms
from mlops.models.entities import ModelVersion
from mlops.models.store import RegistryStore
from mlops.monitoring.entities import (
    Alert,
    Delivery,
    PredictionBatch,
    PredictionRow,
    Silence,
    StoredDetector,
    WindowResult,
)
from mlops.monitoring.store import MonitoringStore
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database

if TYPE_CHECKING:
    from mlops.config import MonitoringRetention


class SqlMonitoringStore(MonitoringStore):
    """``MonitoringStore`` on a SQL database."""

    MAX_OWNERS = 100_000

    def __init__(self, db: Database, registry: RegistryStore):
        self.db = db
        self.registry = registry
        self._owners: dict[str, str] = {}  # a binding never changes, so it can be cached

    def register_monitor(self, monitor: str, model: str | None) -> None:
        # A local monitor binds its name too, so a server over this database knows the owner.
        if model is not None:
            self.bind_monitor(monitor, model)

    def monitor_owner(self, monitor: str) -> str | None:
        owner = self._owners.get(monitor)
        if owner is None:
            m = t.monitoring_monitors
            with self.db.read() as conn:
                found = conn.execute(
                    sa.select(m.c.model_name).where(m.c.monitor == monitor)
                ).scalar_one_or_none()
            if found is not None:
                owner = self._remember(monitor, str(found))
        return owner

    def list_monitors(self, model: str) -> list[str]:
        m = t.monitoring_monitors
        with self.db.read() as conn:
            query = sa.select(m.c.monitor).where(m.c.model_name == model).order_by(m.c.monitor)
            return [str(name) for name in conn.execute(query).scalars()]

    def bind_monitor(self, monitor: str, model: str) -> str:
        owner = self.monitor_owner(monitor)
        if owner is not None:
            return owner
        m = t.monitoring_monitors

        def bind(conn: Connection) -> str:
            found = conn.execute(
                sa.select(m.c.model_name).where(m.c.monitor == monitor)
            ).scalar_one_or_none()
            if found is None:
                conn.execute(m.insert(), {"monitor": monitor, "model_name": model,
                                          "created_at": now_ms()})  # fmt: skip
                return model
            return str(found)

        try:
            owner = self.db.write_retrying(bind)
        except IntegrityError:  # PostgreSQL: another writer bound it first; read its binding
            owner = self.db.write_retrying(bind)
        return self._remember(monitor, owner)

    def _remember(self, monitor: str, owner: str) -> str:
        if len(self._owners) > self.MAX_OWNERS:
            self._owners.clear()
        self._owners[monitor] = owner
        return owner

    def resolve_version(
        self, model_version: ModelVersion | str | None
    ) -> tuple[str | None, int | None]:
        if model_version is None:
            return None, None
        if isinstance(model_version, ModelVersion):
            return model_version.name, model_version.version
        text = str(model_version)
        if text.startswith("models:/"):
            text = text[len("models:/") :]
        name, _, ref = text.partition("/")
        if ref.isdigit():
            return self.registry.get_model_version(name, int(ref)).name, int(ref)
        try:
            latest = self.registry.get_latest_version(name)
        except ModelNotFoundError:
            return text, None  # a label that is not a registered model (the seed's "model_v1")
        except NotFoundError:
            return text, None
        return latest.name, latest.version

    # --- detectors -----------------------------------------------------------------------------

    def save_detector(self, name: str, model: str | None, version: int | None, blob: bytes) -> None:
        d = t.monitoring_detectors
        now = now_ms()

        def save(conn: Connection) -> None:
            conn.execute(d.delete().where(d.c.name == name))
            conn.execute(
                d.insert().values(
                    name=name,
                    model_name=model,
                    model_version=version,
                    blob=blob,
                    sha256=hashlib.sha256(blob).hexdigest(),
                    created_at=now,
                    updated_at=now,
                )
            )

        self.db.write_retrying(save)

    def get_detector(
        self, model: str | None, version: int | None, name: str | None = None
    ) -> tuple[str, bytes]:
        d = t.monitoring_detectors
        query = sa.select(d.c.name, d.c.blob, d.c.sha256)
        if name is not None:
            query = query.where(d.c.name == name)
        else:
            query = query.where(d.c.model_name == model, d.c.model_version == version)
        with self.db.read() as conn:
            row = conn.execute(query.order_by(d.c.updated_at.desc()).limit(1)).first()
        if row is None:
            what = f"named {name!r}" if name else f"attached to {model}/{version}"
            raise NotFoundError(f"no drift detector {what}; attach one with detector.attach(...)")
        blob = bytes(row.blob)
        if hashlib.sha256(blob).hexdigest() != row.sha256:
            raise NotFoundError(f"stored detector {row.name!r} is corrupted (sha256 mismatch)")
        return str(row.name), blob

    def list_detectors(self, model: str | None = None) -> list[StoredDetector]:
        d = t.monitoring_detectors
        query = sa.select(
            d.c.name,
            d.c.model_name,
            d.c.model_version,
            d.c.sha256,
            sa.func.length(d.c.blob).label("size"),
            d.c.created_at,
            d.c.updated_at,
        )
        if model is not None:
            query = query.where(d.c.model_name == model)
        query = query.order_by(d.c.model_name, d.c.model_version, d.c.name)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            StoredDetector(
                name=r.name,
                model_name=r.model_name,
                model_version=r.model_version,
                sha256=r.sha256,
                size=int(r.size),
                created_at=int(r.created_at),
                updated_at=int(r.updated_at),
            )
            for r in rows
        ]

    # --- open windows --------------------------------------------------------------------------

    def create_chunks(self, monitor: str, chunks: Sequence[tuple[int, float, int, bytes]]) -> None:
        if not chunks:
            return
        now = now_ms()
        rows = [
            {
                "monitor": monitor,
                "seq": seq,
                "window_start": start,
                "n_rows": n,
                "payload": payload,
                "created_at": now,
            }
            for seq, start, n, payload in chunks
        ]
        c = t.monitoring_chunks

        def save(conn: Connection) -> None:
            # A chunk already stored under its seq is kept: a retried batch counts once.
            seqs = [row["seq"] for row in rows]
            have: set[int] = set()
            for start in range(0, len(seqs), 500):
                have.update(
                    conn.execute(
                        sa.select(c.c.seq).where(
                            c.c.monitor == monitor, c.c.seq.in_(seqs[start : start + 500])
                        )
                    ).scalars()
                )
            new = [row for row in rows if row["seq"] not in have]
            if new:
                conn.execute(c.insert(), new)

        self.db.write_retrying(save)

    def list_chunks(self, monitor: str) -> list[tuple[int, float, bytes]]:
        c = t.monitoring_chunks
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(c.c.seq, c.c.window_start, c.c.payload)
                .where(c.c.monitor == monitor)
                .order_by(c.c.seq)
            ).all()
        return [(int(r.seq), float(r.window_start), bytes(r.payload)) for r in rows]

    # --- results -------------------------------------------------------------------------------

    def create_result(self, result: WindowResult, delete_chunks_through: int | None = None) -> None:
        r = t.monitoring_results
        c = t.monitoring_chunks
        now = now_ms()

        def save(conn: Connection) -> None:
            existing = conn.execute(
                sa.select(r.c.id, r.c.created_at).where(
                    r.c.monitor == result.monitor,
                    r.c.kind == result.kind,
                    r.c.window_start == result.window_start,
                )
            ).first()
            values = {
                "monitor": result.monitor,
                "kind": result.kind,
                "model_name": result.model_name,
                "model_version": result.model_version,
                "deployment": result.deployment,
                "window_start": result.window_start,
                "window_end": result.window_end,
                "n_rows": result.n_rows,
                "flagged": result.flagged,
                "score": result.score,
                "payload": json.dumps(result.payload, allow_nan=False),
                "updated_at": now,
            }
            if existing is None:
                conn.execute(r.insert().values(created_at=now, **values))
            else:
                conn.execute(r.update().where(r.c.id == existing.id).values(**values))
            if delete_chunks_through is not None:
                conn.execute(
                    c.delete().where(
                        c.c.monitor == result.monitor, c.c.seq <= delete_chunks_through
                    )
                )

        self.db.write_retrying(save)

    def list_results(
        self,
        monitor: str | None = None,
        kind: str | None = None,
        model: str | None = None,
        version: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        deployment: str | None = None,
    ) -> list[WindowResult]:
        r = t.monitoring_results
        query = sa.select(r)
        if deployment is not None:
            query = query.where(r.c.deployment == deployment)
        if monitor is not None:
            query = query.where(r.c.monitor == monitor)
        if kind is not None:
            query = query.where(r.c.kind == kind)
        if model is not None:
            query = query.where(r.c.model_name == model)
        if version is not None:
            query = query.where(r.c.model_version == version)
        query = query.order_by(r.c.window_start.desc(), r.c.id.desc())
        query = query.offset(offset).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            WindowResult(
                monitor=row.monitor,
                kind=row.kind,
                model_name=row.model_name,
                model_version=row.model_version,
                deployment=row.deployment,
                window_start=float(row.window_start),
                window_end=float(row.window_end),
                n_rows=int(row.n_rows),
                flagged=bool(row.flagged),
                score=row.score,
                payload=json.loads(row.payload),
                created_at=int(row.created_at),
                updated_at=int(row.updated_at),
            )
            for row in reversed(rows)
        ]

    # --- predictions ---------------------------------------------------------------------------

    def create_predictions(self, monitor: str, batch: PredictionBatch) -> None:
        if not len(batch):
            return
        labelled_at = [
            at if label is not None else None
            for at, label in zip(batch.predicted_at, batch.label, strict=True)
        ]
        # Driver-level executemany over zipped columns: a serving monitor logs batches of
        # hundreds of rows, and per-row Python work (row objects, SQLAlchemy's parameter
        # processing) would cost more than the insert itself.
        values = list(zip(itertools.repeat(monitor), *batch.columns(), labelled_at))
        sql = _upsert_predictions_sql(self.db.dialect)
        self.db.write_retrying(lambda conn: conn.exec_driver_sql(sql, values))

    def update_labels(
        self, monitor: str, labels: Sequence[tuple[str, float]], at: float
    ) -> list[float]:
        p = t.monitoring_predictions
        if not labels:
            return []

        def save(conn: Connection) -> list[float]:
            windows: set[float] = set()
            ids = [pid for pid, _ in labels]
            for start in range(0, len(ids), 500):
                windows.update(
                    float(w)
                    for w in conn.execute(
                        sa.select(p.c.window_start)
                        .where(
                            p.c.monitor == monitor, p.c.prediction_id.in_(ids[start : start + 500])
                        )
                        .distinct()
                    ).scalars()
                )
            conn.execute(
                p.update()
                .where(p.c.monitor == monitor, p.c.prediction_id == sa.bindparam("pid"))
                .values(label=sa.bindparam("lab"), labelled_at=at),
                [{"pid": pid, "lab": lab} for pid, lab in labels],
            )
            return sorted(windows)

        return self.db.write_retrying(save)

    def list_predictions(self, monitor: str, window_start: float) -> list[PredictionRow]:
        p = t.monitoring_predictions
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(p)
                .where(p.c.monitor == monitor, p.c.window_start == window_start)
                .order_by(p.c.predicted_at)
            ).all()
        return [
            PredictionRow(
                prediction_id=r.prediction_id,
                window_start=float(r.window_start),
                predicted_at=float(r.predicted_at),
                prediction=r.prediction,
                score=r.score,
                label=r.label,
                latency=r.latency,
                error=bool(r.error),
            )
            for r in rows
        ]

    def list_prediction_windows(self, monitor: str) -> list[float]:
        p = t.monitoring_predictions
        with self.db.read() as conn:
            return [
                float(w)
                for w in conn.execute(
                    sa.select(p.c.window_start)
                    .where(p.c.monitor == monitor)
                    .distinct()
                    .order_by(p.c.window_start)
                ).scalars()
            ]

    # --- alerts --------------------------------------------------------------------------------

    def get_open_alert(self, fingerprint: str, model: str | None = None) -> Alert | None:
        a = t.monitoring_alerts
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(a)
                .where(a.c.fingerprint == fingerprint, a.c.status != "resolved")
                .order_by(a.c.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _alert(row, self._deliveries(conn, [row.id]))

    def create_alert(self, values: dict[str, Any]) -> Alert:
        a = t.monitoring_alerts
        row = {**values, "labels": json.dumps(values.get("labels", {}), sort_keys=True)}

        def save(conn: Connection) -> int:
            key = conn.execute(a.insert().values(**row)).inserted_primary_key
            assert key is not None
            return int(key[0])

        return self.get_alert(self.db.write_retrying(save))

    def update_alert(self, alert_id: int, **values: Any) -> Alert:
        a = t.monitoring_alerts
        if "labels" in values:
            values["labels"] = json.dumps(values["labels"], sort_keys=True)
        self.db.write_retrying(
            lambda conn: conn.execute(a.update().where(a.c.id == alert_id).values(**values))
        )
        return self.get_alert(alert_id)

    def get_alert(self, alert_id: int) -> Alert:
        a = t.monitoring_alerts
        with self.db.read() as conn:
            row = conn.execute(sa.select(a).where(a.c.id == alert_id)).first()
            if row is None:
                raise NotFoundError(f"no alert with id {alert_id}")
            return _alert(row, self._deliveries(conn, [alert_id]))

    def list_alerts(
        self, status: Sequence[str] | None = None, model: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        a = t.monitoring_alerts
        query = sa.select(a)
        if status:
            query = query.where(a.c.status.in_(list(status)))
        if model is not None:
            query = query.where(a.c.model_name == model)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(a.c.id.desc()).limit(limit)).all()
            deliveries = self._deliveries(conn, [r.id for r in rows])
        return [_alert(r, deliveries) for r in rows]

    def _deliveries(self, conn: Connection, alert_ids: list[int]) -> dict[int, list[Delivery]]:
        d = t.monitoring_deliveries
        found: dict[int, list[Delivery]] = {}
        for start in range(0, len(alert_ids), 500):
            rows = conn.execute(
                sa.select(d)
                .where(d.c.alert_id.in_(alert_ids[start : start + 500]))
                .order_by(d.c.id)
            ).all()
            for r in rows:
                found.setdefault(int(r.alert_id), []).append(_delivery(r))
        return found

    def create_deliveries(
        self, alert_id: int, channels: Sequence[str], event: str, at: float
    ) -> None:
        if not channels:
            return
        rows = [
            {
                "alert_id": alert_id,
                "channel": channel,
                "event": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
            for channel in channels
        ]
        self.db.write_retrying(lambda conn: conn.execute(t.monitoring_deliveries.insert(), rows))

    def list_due_deliveries(self, at: float, limit: int = 100) -> list[Delivery]:
        with self.db.read() as conn:
            rows = conn.execute(_due(at, limit)).all()
        return [_delivery(r) for r in rows]

    def claim_deliveries(self, at: float, lease: float, limit: int = 100) -> list[Delivery]:
        d = t.monitoring_deliveries

        def claim(conn: Connection) -> list[Delivery]:
            rows = conn.execute(_due(at, limit)).all()
            claimed = []
            for row in rows:
                # Conditional: a concurrent claimer that got there first makes this match nothing.
                done = conn.execute(
                    d.update()
                    .where(d.c.id == row.id, d.c.status == "pending", d.c.next_attempt_at <= at)
                    .values(next_attempt_at=at + lease)
                )
                if done.rowcount == 1:
                    claimed.append(_delivery(row))
            return claimed

        return self.db.write_retrying(claim)

    def update_delivery(self, delivery_id: int, **values: Any) -> None:
        d = t.monitoring_deliveries
        done = self.db.write_retrying(
            lambda conn: conn.execute(d.update().where(d.c.id == delivery_id).values(**values))
        )
        if done.rowcount == 0:
            raise NotFoundError(f"no alert delivery with id {delivery_id}")

    def create_silence(
        self,
        matchers: dict[str, str],
        starts_at: float,
        ends_at: float,
        user: str,
        comment: str | None,
    ) -> Silence:
        s = t.monitoring_silences

        def save(conn: Connection) -> int:
            key = conn.execute(
                s.insert().values(
                    matchers=json.dumps(matchers, sort_keys=True),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    created_by=user,
                    comment=comment,
                )
            ).inserted_primary_key
            assert key is not None
            return int(key[0])

        silence_id = self.db.write_retrying(save)
        return Silence(silence_id, dict(matchers), starts_at, ends_at, user, comment)

    def list_silences(self, active_at: float | None = None) -> list[Silence]:
        s = t.monitoring_silences
        query = sa.select(s).order_by(s.c.id)
        if active_at is not None:
            query = query.where(s.c.starts_at <= active_at, s.c.ends_at > active_at)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            Silence(
                int(r.id),
                json.loads(r.matchers),
                float(r.starts_at),
                float(r.ends_at),
                r.created_by,
                r.comment,
            )
            for r in rows
        ]

    # --- alert rules ---------------------------------------------------------------------------

    def create_rule(self, name: str, spec: dict[str, Any]) -> None:
        rules = t.monitoring_alert_rules
        now = now_ms()
        model = (spec.get("labels") or {}).get("model")

        def save(conn: Connection) -> None:
            created = conn.execute(
                sa.select(rules.c.created_at).where(rules.c.name == name)
            ).scalar()
            conn.execute(rules.delete().where(rules.c.name == name))
            conn.execute(
                rules.insert().values(
                    name=name,
                    model_name=model,
                    spec=json.dumps(spec, sort_keys=True, allow_nan=False),
                    created_at=now if created is None else created,
                    updated_at=now,
                )
            )

        self.db.write_retrying(save)

    def list_rules(self, model: str | None = None) -> list[dict[str, Any]]:
        rules = t.monitoring_alert_rules
        query = sa.select(rules.c.spec).order_by(rules.c.name)
        if model is not None:
            query = query.where(rules.c.model_name == model)
        with self.db.read() as conn:
            return [json.loads(spec) for spec in conn.execute(query).scalars()]

    def delete_rule(self, name: str) -> None:
        rules = t.monitoring_alert_rules
        done = self.db.write_retrying(
            lambda conn: conn.execute(rules.delete().where(rules.c.name == name))
        )
        if done.rowcount == 0:
            raise NotFoundError(
                f"no stored alert rule named {name!r}; `mlops alerts rules list` shows them"
            )

    # --- retention -----------------------------------------------------------------------------

    def purge_expired(
        self, retention: MonitoringRetention, now: float, progress: Progress | None = None
    ) -> dict[str, int]:
        """Delete monitoring data older than ``retention`` allows, a batch at a time.

        Predictions go only once their window has ended and its result is stored, so an open
        (or never evaluated) window keeps its rows; open windows' drift chunks are never
        touched (they are deleted when their window closes). Returns counts by kind.
        """
        notify = progress or (lambda _what, _id: None)
        counts = {"predictions": 0, "results": 0, "alerts": 0, "silences": 0}
        day = 86_400.0
        # A window whose result goes takes its predictions along (else they would be orphans
        # no later run could match to an evaluated window).
        cutoffs = [now - d * day for d in (retention.predictions, retention.results) if d]
        if cutoffs:
            counts["predictions"] = self._purge_predictions(max(cutoffs), now, notify)
        if retention.results is not None:
            r = t.monitoring_results
            counts["results"] = self._purge_ids(
                r, r.c.id, r.c.window_end < now - retention.results * day, "results", notify
            )
        if retention.alerts is not None:
            cutoff = now - retention.alerts * day
            a = t.monitoring_alerts
            counts["alerts"] = self._purge_ids(
                a,
                a.c.id,
                sa.and_(a.c.status == "resolved", a.c.resolved_at < cutoff),
                "alerts",
                notify,
                children=(t.monitoring_deliveries, t.monitoring_deliveries.c.alert_id),
            )
            s = t.monitoring_silences
            counts["silences"] = self._purge_ids(
                s, s.c.id, s.c.ends_at < cutoff, "silences", notify
            )
        return counts

    def _purge_predictions(self, cutoff: float, now: float, notify: Progress) -> int:
        p = t.monitoring_predictions
        r = t.monitoring_results
        evaluated = (
            sa.select(r.c.monitor, r.c.window_start)
            .where(
                r.c.kind == "performance",
                r.c.window_start < cutoff,
                r.c.window_end <= now,
                sa.exists().where(p.c.monitor == r.c.monitor, p.c.window_start == r.c.window_start),
            )
            .limit(_PURGE_BATCH)
        )
        total = 0
        while True:
            with self.db.read() as conn:
                windows = conn.execute(evaluated).all()
            if not windows:
                return total
            for monitor, start in windows:
                # One window per statement: the rows never enter Python, memory stays flat.
                query = p.delete().where(p.c.monitor == monitor, p.c.window_start == start)
                done = self.db.write_retrying(partial(_rowcount, query))
                total += done
                notify("predictions", f"{monitor}@{start:.0f}")

    def _purge_ids(
        self,
        table: sa.Table,
        key: sa.Column[Any],
        condition: sa.ColumnElement[bool],
        what: str,
        notify: Progress,
        children: tuple[sa.Table, sa.Column[Any]] | None = None,
    ) -> int:
        total = 0
        query = sa.select(key).where(condition).order_by(key).limit(_PURGE_BATCH)
        while True:
            with self.db.read() as conn:
                ids = list(conn.execute(query).scalars())
            if not ids:
                return total

            def delete(conn: Connection, ids: list[Any] = ids) -> None:
                if children is not None:
                    child, parent_key = children
                    conn.execute(child.delete().where(parent_key.in_(ids)))
                conn.execute(table.delete().where(key.in_(ids)))

            self.db.write_retrying(delete)
            total += len(ids)
            notify(what, f"{len(ids)} rows")


_PURGE_BATCH = 500
_PREDICTION_COLUMNS = (
    "monitor",
    "prediction_id",
    "window_start",
    "predicted_at",
    "prediction",
    "score",
    "label",
    "latency",
    "error",
    "labelled_at",
)


def _upsert_predictions_sql(dialect: str) -> str:
    """Insert predictions; an id logged again replaces its row (same SQL on both databases)."""
    mark = "%s" if dialect == "postgresql" else "?"
    update = ", ".join(f"{c} = excluded.{c}" for c in _PREDICTION_COLUMNS[2:])
    return (
        f"INSERT INTO monitoring_predictions ({', '.join(_PREDICTION_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_PREDICTION_COLUMNS))}) "
        f"ON CONFLICT (monitor, prediction_id) DO UPDATE SET {update}"
    )


def _rowcount(statement: sa.Delete, conn: Connection) -> int:
    return max(int(conn.execute(statement).rowcount), 0)


Progress = Callable[[str, str], None]


def _due(at: float, limit: int) -> sa.Select[Any]:
    """Pending deliveries whose next attempt is due, oldest first."""
    d = t.monitoring_deliveries
    return (
        sa.select(d)
        .where(d.c.status == "pending", d.c.next_attempt_at <= at)
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(limit)
    )


def _alert(row: Row[Any], deliveries: dict[int, list[Delivery]]) -> Alert:
    return Alert(
        id=int(row.id),
        fingerprint=row.fingerprint,
        rule=row.rule,
        metric=row.metric,
        severity=row.severity,
        status=row.status,
        group_key=row.group_key,
        message=row.message,
        labels=json.loads(row.labels),
        count=int(row._mapping["count"]),
        started_at=float(row.started_at),
        last_seen_at=float(row.last_seen_at),
        value=row.value,
        threshold=row.threshold,
        model_name=row.model_name,
        model_version=row.model_version,
        deployment=row.deployment,
        resolved_at=row.resolved_at,
        acked_by=row.acked_by,
        acked_at=row.acked_at,
        deliveries=deliveries.get(int(row.id), []),
    )


def _delivery(r: Row[Any]) -> Delivery:
    return Delivery(
        id=int(r.id),
        alert_id=int(r.alert_id),
        channel=r.channel,
        event=r.event,
        status=r.status,
        attempts=int(r.attempts),
        next_attempt_at=float(r.next_attempt_at),
        created_at=float(r.created_at),
        last_error=r.last_error,
        delivered_at=r.delivered_at,
    )
