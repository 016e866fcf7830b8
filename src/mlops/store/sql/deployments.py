"""The deployment store on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlops.errors import InvalidInputError
from mlops.experiments.entities import Page, now_ms
from mlops.models.deployment.entities import DeploymentEvent, DeploymentRecord
from mlops.models.deployment.store import DeploymentNotFoundError, DeploymentStore
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database

d = t.deployments
e = t.deployment_events
_FINAL = {"succeeded", "rolled_back", "failed", "stopped"}


def _record(row: Any, events: list[DeploymentEvent] | None = None) -> DeploymentRecord:
    return DeploymentRecord(
        id=row.id,
        name=row.name,
        target=row.target,
        strategy=row.strategy,
        model_name=row.model_name,
        model_version=row.model_version,
        previous_version=row.previous_version,
        status=row.status,
        url=row.url,
        config=json.loads(row.config),
        message=row.message,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        events=events or [],
    )


def _event(row: Any) -> DeploymentEvent:
    return DeploymentEvent(
        id=row.id,
        deployment_id=row.deployment_id,
        kind=row.kind,
        traffic=row.traffic,
        passed=row.passed,
        detail=json.loads(row.detail),
        message=row.message,
        at=row.at,
    )


class SqlDeploymentStore(DeploymentStore):
    """``DeploymentStore`` on the metadata database."""

    def __init__(self, db: Database):
        self.db = db

    def create_deployment(
        self,
        *,
        name: str,
        target: str,
        strategy: str,
        model_name: str,
        model_version: int | None,
        previous_version: int | None,
        config: dict[str, Any],
        user: str,
        url: str | None = None,
    ) -> DeploymentRecord:
        deployment_id = uuid.uuid4().hex
        now = now_ms()

        def write(conn: Connection) -> None:
            conn.execute(
                d.insert().values(
                    id=deployment_id,
                    name=name,
                    target=target,
                    strategy=strategy,
                    model_name=model_name,
                    model_version=model_version,
                    previous_version=previous_version,
                    status="running",
                    url=url,
                    config=json.dumps(config),
                    created_by=user,
                    created_at=now,
                    updated_at=now,
                )
            )

        self.db.write_retrying(write)
        return self.get_deployment(deployment_id)

    def update_deployment(
        self,
        deployment_id: str,
        *,
        status: str | None = None,
        url: str | None = None,
        message: str | None = None,
    ) -> DeploymentRecord:
        found = self.get_deployment(deployment_id)
        now = now_ms()
        values: dict[str, Any] = {"updated_at": now}
        if status is not None:
            values["status"] = status
            if status in _FINAL:
                values["finished_at"] = now
        if url is not None:
            values["url"] = url
        if message is not None:
            values["message"] = message

        def write(conn: Connection) -> None:
            conn.execute(d.update().where(d.c.id == found.id).values(**values))

        self.db.write_retrying(write)
        return self.get_deployment(found.id)

    def get_deployment(self, deployment_id: str) -> DeploymentRecord:
        if len(deployment_id) < 6:
            raise InvalidInputError(
                f"deployment id {deployment_id!r} is too short: give at least 6 characters"
            )
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(d).where(d.c.id.startswith(deployment_id, autoescape=True)).limit(2)
            ).all()
            if len(rows) != 1:
                why = "matches more than one deployment" if rows else "names no deployment"
                raise DeploymentNotFoundError(f"deployment id {deployment_id!r} {why}")
            events = conn.execute(
                sa.select(e).where(e.c.deployment_id == rows[0].id).order_by(e.c.id)
            ).all()
        return _record(rows[0], [_event(r) for r in events])

    def list_deployments(
        self,
        model_name: str | None = None,
        model_version: int | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[DeploymentRecord]:
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        try:
            offset = int(page_token) if page_token else 0
        except ValueError:
            offset = -1
        if not 0 <= offset < 2**62:
            raise InvalidInputError(
                f"malformed page token {page_token!r}; pass back a next_page_token unchanged"
            )
        query = sa.select(d).order_by(d.c.created_at.desc(), d.c.id)
        if model_name is not None:
            query = query.where(d.c.model_name == model_name)
        if model_version is not None:
            query = query.where(d.c.model_version == model_version)
        with self.db.read() as conn:
            rows = conn.execute(query.offset(offset).limit(limit + 1)).all()
        more = len(rows) > limit
        return Page([_record(r) for r in rows[:limit]], str(offset + limit) if more else None)

    def create_event(
        self,
        deployment_id: str,
        kind: str,
        *,
        traffic: float | None = None,
        passed: bool | None = None,
        detail: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> DeploymentEvent:
        now = now_ms()

        def write(conn: Connection) -> int:
            result = conn.execute(
                e.insert().values(
                    deployment_id=deployment_id,
                    kind=kind,
                    traffic=traffic,
                    passed=passed,
                    detail=json.dumps(detail or {}),
                    message=message,
                    at=now,
                )
            )
            conn.execute(d.update().where(d.c.id == deployment_id).values(updated_at=now))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        event_id = self.db.write_retrying(write)
        return DeploymentEvent(
            event_id, deployment_id, kind, traffic, passed, detail or {}, message, now
        )
