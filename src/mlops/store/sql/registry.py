"""The model registry on SQLite or PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from mlops.errors import (
    ApprovalError,
    InvalidStageTransitionError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
    NotFoundError,
    RunNotFoundError,
)
from mlops.experiments.entities import now_ms
from mlops.models.entities import (
    ALLOWED_TRANSITIONS,
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)
from mlops.models.store import RegistryStore
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database
from mlops.store.sql.tracking import SqlTrackingStore

mv = t.model_versions


class SqlRegistryStore(RegistryStore):
    """``RegistryStore`` on a SQL database."""

    def __init__(self, db: Database, tracking: SqlTrackingStore):
        self.db = db
        self.tracking = tracking

    # --- writes --------------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        *,
        artifact_uri: str,
        sha256: str,
        size: int,
        flavor: str,
        format: str,
        user: str,
        run_id: str | None = None,
        signature: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        now = now_ms()

        def create(conn: Connection) -> int:
            if (
                run_id is not None
                and conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first()
                is None
            ):
                raise RunNotFoundError(f"cannot register {name!r}: no run with id {run_id!r}")
            model = conn.execute(
                sa.select(t.registered_models).where(t.registered_models.c.name == name)
            ).first()
            if model is None:
                conn.execute(
                    t.registered_models.insert().values(
                        name=name, description=None, created_at=now, updated_at=now
                    )
                )
            elif model.deleted_at is not None:
                raise ModelNotFoundError(
                    f"model {name!r} is deleted; restore it before registering new versions"
                )
            # The write lock (SQLite) or the primary key (PostgreSQL, retried) makes the next
            # version number unique under concurrent registrations.
            # Numbers are never reused, even after gc purged the newest version: its history
            # (register events are never purged with it) still holds the number.
            ev = t.registry_events
            version = (
                max(
                    conn.execute(
                        sa.select(sa.func.max(mv.c.version)).where(mv.c.name == name)
                    ).scalar()
                    or 0,
                    conn.execute(
                        sa.select(sa.func.max(ev.c.version)).where(
                            ev.c.name == name, ev.c.kind == "register"
                        )
                    ).scalar()
                    or 0,
                )
                + 1
            )
            conn.execute(
                mv.insert().values(
                    name=name,
                    version=version,
                    run_id=run_id,
                    stage=Stage.NONE.value,
                    artifact_uri=artifact_uri,
                    sha256=sha256,
                    size=size,
                    flavor=flavor,
                    format=format,
                    signature=json.dumps(signature) if signature is not None else None,
                    description=description,
                    created_by=user,
                    created_at=now,
                    updated_at=now,
                )
            )
            if tags:
                conn.execute(
                    t.model_version_tags.insert(),
                    [
                        {"name": name, "version": version, "key": k, "value": str(v)}
                        for k, v in tags.items()
                    ],
                )
            conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == name)
                .values(updated_at=now)
            )
            self._event(conn, name, version, "register", None, Stage.NONE.value, user)
            if run_id is not None:
                conn.execute(
                    t.lineage_edges.insert().values(
                        src_type="run",
                        src_id=run_id,
                        relation="produced",
                        dst_type="model_version",
                        dst_id=f"{name}/{version}",
                        created_at=now,
                    )
                )
            return version

        for attempt in range(5):
            try:
                version = self.db.write_retrying(create)
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        return self.get_model_version(name, version)

    def set_stage(
        self,
        name: str,
        version: int,
        stage: Stage,
        *,
        user: str,
        archive_existing: bool,
        kind: str = "stage",
        comment: str | None = None,
        request_id: int | None = None,
    ) -> ModelVersion:
        now = now_ms()

        def move(conn: Connection) -> None:
            row = self._version_row(conn, name, version)
            current = Stage(row.stage)
            # Checked again here, under the write lock: the caller's check may be stale.
            if kind != "rollback" and stage not in ALLOWED_TRANSITIONS[current]:
                raise InvalidStageTransitionError(
                    f"model {name!r} version {version} is in stage {current.value} and cannot "
                    f"move to {stage.value}"
                )
            if stage is Stage.PRODUCTION and archive_existing:
                for other in conn.execute(
                    sa.select(mv.c.version).where(
                        mv.c.name == name,
                        mv.c.stage == Stage.PRODUCTION.value,
                        mv.c.version != version,
                        mv.c.deleted_at.is_(None),
                    )
                ).scalars():
                    conn.execute(
                        mv.update()
                        .where(mv.c.name == name, mv.c.version == other)
                        .values(stage=Stage.ARCHIVED.value, updated_at=now)
                    )
                    self._event(
                        conn,
                        name,
                        other,
                        kind,
                        Stage.PRODUCTION.value,
                        Stage.ARCHIVED.value,
                        user,
                        f"superseded by version {version}",
                        request_id,
                    )
            conn.execute(
                mv.update()
                .where(mv.c.name == name, mv.c.version == version)
                .values(stage=stage.value, updated_at=now)
            )
            self._event(
                conn, name, version, kind, row.stage, stage.value, user, comment, request_id
            )

        self.db.write_retrying(move)
        return self.get_model_version(name, version)

    def set_alias(
        self, name: str, alias: str, version: int, *, user: str, request_id: int | None = None
    ) -> None:
        now = now_ms()

        def move(conn: Connection) -> None:
            self._version_row(conn, name, version)
            old = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if old is None:
                conn.execute(
                    t.model_aliases.insert().values(
                        name=name, alias=alias, version=version, updated_at=now
                    )
                )
            else:
                conn.execute(
                    t.model_aliases.update()
                    .where(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
                    .values(version=version, updated_at=now)
                )
            self._event(
                conn,
                name,
                version,
                "alias",
                None if old is None else f"{alias}@{old}",
                f"{alias}@{version}",
                user,
                None,
                request_id,
            )

        self.db.write_retrying(move)

    def delete_alias(self, name: str, alias: str, *, user: str) -> None:
        def remove(conn: Connection) -> None:
            old = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if old is None:
                raise ModelVersionNotFoundError(f"model {name!r} has no alias {alias!r}")
            conn.execute(
                t.model_aliases.delete().where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            )
            self._event(conn, name, old, "alias_removed", f"{alias}@{old}", None, user)

        self.db.write_retrying(remove)

    def create_request(
        self,
        name: str,
        version: int,
        action: str,
        target: str,
        *,
        user: str,
        archive_existing: bool = True,
        comment: str | None = None,
    ) -> ApprovalRequest:
        now = now_ms()

        def create(conn: Connection) -> int:
            self._version_row(conn, name, version)
            inserted = conn.execute(
                t.approval_requests.insert().values(
                    name=name,
                    version=version,
                    action=action,
                    target=target,
                    archive_existing=archive_existing,
                    status="pending",
                    requested_by=user,
                    requested_at=now,
                    comment=comment,
                )
            ).inserted_primary_key
            assert inserted is not None
            request_id = int(inserted[0])
            self._event(conn, name, version, "request", action, target, user, comment, request_id)
            return request_id

        return self.get_request(self.db.write_retrying(create))

    def decide_request(
        self, request_id: int, approved: bool, *, user: str, comment: str | None = None
    ) -> ApprovalRequest:
        now = now_ms()
        status = "approved" if approved else "rejected"

        def decide(conn: Connection) -> None:
            # The status guard makes the decision single-shot even between racing approvers.
            done = conn.execute(
                t.approval_requests.update()
                .where(
                    t.approval_requests.c.id == request_id,
                    t.approval_requests.c.status == "pending",
                )
                .values(status=status, decided_by=user, decided_at=now, comment=comment)
            ).rowcount
            if done == 0:
                request = self.get_request(request_id)
                raise ApprovalError(
                    f"request {request_id} was already {request.status} by {request.decided_by}"
                )
            row = conn.execute(
                sa.select(t.approval_requests).where(t.approval_requests.c.id == request_id)
            ).one()
            self._event(
                conn,
                row.name,
                row.version,
                "approve" if approved else "reject",
                row.action,
                row.target,
                user,
                comment,
                request_id,
            )

        self.db.write_retrying(decide)
        return self.get_request(request_id)

    def delete_model_version(self, name: str, version: int, restore: bool = False) -> None:
        def delete(conn: Connection) -> None:
            self._version_row(conn, name, version, include_deleted=True)
            now = now_ms()
            conn.execute(
                mv.update()
                .where(mv.c.name == name, mv.c.version == version)
                .values(deleted_at=None if restore else now)
            )
            # Aliases stay (reading one that points at a deleted version says so), so a restore
            # brings them back. Pending requests about the version can no longer be approved.
            if not restore:
                ar = t.approval_requests
                conn.execute(
                    ar.update()
                    .where(ar.c.name == name, ar.c.version == version, ar.c.status == "pending")
                    .values(
                        status="rejected",
                        decided_by="mlops",
                        decided_at=now,
                        comment="the version was deleted",
                    )
                )

        self.db.write_retrying(delete)

    def delete_registered_model(self, name: str, restore: bool = False) -> None:
        def delete(conn: Connection) -> None:
            done = conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == name)
                .values(deleted_at=None if restore else now_ms())
            ).rowcount
            if done == 0:
                raise ModelNotFoundError(f"no registered model named {name!r}")

        self.db.write_retrying(delete)

    def _event(
        self,
        conn: Connection,
        name: str,
        version: int | None,
        kind: str,
        from_value: str | None,
        to_value: str | None,
        user: str,
        comment: str | None = None,
        request_id: int | None = None,
    ) -> None:
        conn.execute(
            t.registry_events.insert().values(
                name=name,
                version=version,
                kind=kind,
                from_value=from_value,
                to_value=to_value,
                user=user,
                comment=comment,
                request_id=request_id,
                created_at=now_ms(),
            )
        )

    # --- reads ---------------------------------------------------------------------------------

    def _version_row(
        self, conn: Connection, name: str, version: int, include_deleted: bool = False
    ) -> Any:
        row = conn.execute(sa.select(mv).where(mv.c.name == name, mv.c.version == version)).first()
        if row is None or (row.deleted_at is not None and not include_deleted):
            self._require_model(conn, name)
            raise ModelVersionNotFoundError(
                f"model {name!r} has no version {version}"
                + (" (it was deleted; restore it first)" if row is not None else "")
            )
        return row

    def _require_model(self, conn: Connection, name: str) -> Any:
        row = conn.execute(
            sa.select(t.registered_models).where(t.registered_models.c.name == name)
        ).first()
        if row is None or row.deleted_at is not None:
            raise ModelNotFoundError(
                f"no registered model named {name!r}; `mlops models list` shows the existing ones"
            )
        return row

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._require_model(conn, name)
            return self._models(conn, [row])[0]

    def list_registered_models(self, include_deleted: bool = False) -> list[RegisteredModel]:
        query = sa.select(t.registered_models).order_by(t.registered_models.c.name)
        if not include_deleted:
            query = query.where(t.registered_models.c.deleted_at.is_(None))
        with self.db.read() as conn:
            return self._models(conn, conn.execute(query).all())

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        names = [r.name for r in rows]
        if not names:
            return []
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for r in conn.execute(
            sa.select(t.registered_model_tags).where(t.registered_model_tags.c.name.in_(names))
        ):
            tags[r.name][r.key] = r.value
        latest: dict[str, int] = {}
        stages: dict[str, dict[str, int]] = defaultdict(dict)
        for r in conn.execute(
            sa.select(mv.c.name, mv.c.stage, sa.func.max(mv.c.version).label("version"))
            .where(mv.c.name.in_(names), mv.c.deleted_at.is_(None))
            .group_by(mv.c.name, mv.c.stage)
        ):
            stages[r.name][r.stage] = r.version
            latest[r.name] = max(latest.get(r.name, 0), r.version)
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        for r in conn.execute(sa.select(t.model_aliases).where(t.model_aliases.c.name.in_(names))):
            aliases[r.name][r.alias] = r.version
        return [
            RegisteredModel(
                name=r.name,
                description=r.description,
                tags=tags.get(r.name, {}),
                created_at=r.created_at,
                updated_at=r.updated_at,
                latest_version=latest.get(r.name),
                stages={k: v for k, v in stages.get(r.name, {}).items() if k != Stage.NONE.value},
                aliases=aliases.get(r.name, {}),
                deleted_at=r.deleted_at,
            )
            for r in rows
        ]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self.db.read() as conn:
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def get_latest_version(self, name: str, stage: Stage | None = None) -> ModelVersion:
        query = (
            sa.select(mv)
            .where(mv.c.name == name, mv.c.deleted_at.is_(None))
            .order_by(mv.c.version.desc())
            .limit(1)
        )
        if stage is not None:
            query = query.where(mv.c.stage == stage.value)
        with self.db.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                self._require_model(conn, name)
                where = f" in stage {stage.value}" if stage is not None else ""
                raise ModelVersionNotFoundError(f"model {name!r} has no version{where}")
            return self._versions(conn, [row])[0]

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self.db.read() as conn:
            version = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if version is None:
                self._require_model(conn, name)
                raise ModelVersionNotFoundError(
                    f"model {name!r} has no alias {alias!r}; set it with set_alias"
                )
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def list_model_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        query = sa.select(mv).where(mv.c.name == name).order_by(mv.c.version.desc())
        if not include_deleted:
            query = query.where(mv.c.deleted_at.is_(None))
        with self.db.read() as conn:
            self._require_model(conn, name)
            return self._versions(conn, conn.execute(query).all())

    def _versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        if not rows:
            return []
        name = rows[0].name
        versions = [r.version for r in rows]
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        for r in conn.execute(
            sa.select(t.model_version_tags).where(
                t.model_version_tags.c.name == name, t.model_version_tags.c.version.in_(versions)
            )
        ):
            tags[r.version][r.key] = r.value
        aliases: dict[int, list[str]] = defaultdict(list)
        for r in conn.execute(
            sa.select(t.model_aliases).where(
                t.model_aliases.c.name == name, t.model_aliases.c.version.in_(versions)
            )
        ):
            aliases[r.version].append(r.alias)
        return [
            ModelVersion(
                name=r.name,
                version=r.version,
                stage=Stage(r.stage),
                artifact_uri=r.artifact_uri,
                sha256=r.sha256,
                size=r.size,
                flavor=r.flavor,
                format=r.format,
                created_by=r.created_by,
                created_at=r.created_at,
                updated_at=r.updated_at,
                run_id=r.run_id,
                signature=json.loads(r.signature) if r.signature else None,
                description=r.description,
                tags=tags.get(r.version, {}),
                aliases=sorted(aliases.get(r.version, [])),
                deleted_at=r.deleted_at,
            )
            for r in rows
        ]

    def list_events(self, name: str, version: int | None = None) -> list[RegistryEvent]:
        ev = t.registry_events
        query = sa.select(ev).where(ev.c.name == name).order_by(ev.c.id)
        if version is not None:
            query = query.where(ev.c.version == version)
        with self.db.read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(query).all()
        return [
            RegistryEvent(
                id=r.id,
                name=r.name,
                version=r.version,
                kind=r.kind,
                from_value=r.from_value,
                to_value=r.to_value,
                user=r.user,
                created_at=r.created_at,
                comment=r.comment,
                request_id=r.request_id,
            )
            for r in rows
        ]

    def get_request(self, request_id: int) -> ApprovalRequest:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.approval_requests).where(t.approval_requests.c.id == request_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no approval request with id {request_id}")
        return _request(row)

    def list_requests(self, status: str | None = "pending") -> list[ApprovalRequest]:
        query = sa.select(t.approval_requests).order_by(t.approval_requests.c.id)
        if status is not None:
            query = query.where(t.approval_requests.c.status == status)
        with self.db.read() as conn:
            return [_request(r) for r in conn.execute(query)]


def _request(row: Any) -> ApprovalRequest:
    return ApprovalRequest(
        id=row.id,
        name=row.name,
        version=row.version,
        action=row.action,
        target=row.target,
        archive_existing=bool(row.archive_existing),
        status=row.status,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
    )
