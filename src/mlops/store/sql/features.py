"""Feature definitions and materialization history in the SQL metadata store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlops.errors import FeatureDefinitionNotFoundError
from mlops.experiments.entities import now_ms
from mlops.features.store import DefinitionStore, Materialization, StoredDefinition
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database

fd = t.feature_definitions
fm = t.feature_materializations


def _stored(row: Any) -> StoredDefinition:
    return StoredDefinition(
        kind=row.kind,
        name=row.name,
        version=row.version,
        spec=json.loads(row.spec),
        schema_hash=row.schema_hash,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlDefinitionStore(DefinitionStore):
    """``DefinitionStore`` on the metadata database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database):
        self.db = db

    def create_version(
        self, kind: str, name: str, spec: dict[str, Any], schema_hash: str, user: str
    ) -> StoredDefinition:
        def write(conn: Connection) -> StoredDefinition:
            newest = conn.execute(
                sa.select(sa.func.max(fd.c.version)).where(fd.c.kind == kind, fd.c.name == name)
            ).scalar()
            version = (newest or 0) + 1
            now = now_ms()
            # A re-created (deleted) definition comes back live: old versions too.
            conn.execute(
                fd.update().where(fd.c.kind == kind, fd.c.name == name).values(deleted_at=None)
            )
            conn.execute(
                fd.insert().values(
                    kind=kind,
                    name=name,
                    version=version,
                    spec=json.dumps(spec),
                    schema_hash=schema_hash,
                    created_by=user,
                    created_at=now,
                    updated_at=now,
                )
            )
            return StoredDefinition(kind, name, version, spec, schema_hash, user, now, now)

        return self.db.write_retrying(write)

    def update_version(
        self, kind: str, name: str, version: int, spec: dict[str, Any], schema_hash: str
    ) -> StoredDefinition:
        def write(conn: Connection) -> StoredDefinition:
            where = (fd.c.kind == kind, fd.c.name == name, fd.c.version == version)
            done = conn.execute(
                fd.update()
                .where(*where)
                .values(spec=json.dumps(spec), schema_hash=schema_hash, updated_at=now_ms())
            )
            if done.rowcount == 0:
                raise FeatureDefinitionNotFoundError(f"no {kind} {name!r} version {version}")
            return _stored(conn.execute(sa.select(fd).where(*where)).one())

        return self.db.write_retrying(write)

    def get_definition(self, kind: str, name: str, version: int | None = None) -> StoredDefinition:
        query = sa.select(fd).where(fd.c.kind == kind, fd.c.name == name, fd.c.deleted_at.is_(None))
        if version is None:
            query = query.order_by(fd.c.version.desc()).limit(1)
        else:
            query = query.where(fd.c.version == version)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            label = kind.replace("_", " ")
            which = f" version {version}" if version is not None else ""
            raise FeatureDefinitionNotFoundError(
                f"no {label} named {name!r}{which}; `mlops features list` shows what exists"
            )
        return _stored(row)

    def list_definitions(self, kind: str | None = None) -> list[StoredDefinition]:
        newest = (
            sa.select(fd.c.kind, fd.c.name, sa.func.max(fd.c.version).label("version"))
            .where(fd.c.deleted_at.is_(None))
            .group_by(fd.c.kind, fd.c.name)
        )
        if kind is not None:
            newest = newest.where(fd.c.kind == kind)
        sub = newest.subquery()
        query = (
            sa.select(fd)
            .join(
                sub,
                sa.and_(
                    fd.c.kind == sub.c.kind, fd.c.name == sub.c.name, fd.c.version == sub.c.version
                ),
            )
            .order_by(fd.c.kind, fd.c.name)
        )
        with self.db.read() as conn:
            return [_stored(r) for r in conn.execute(query)]

    def list_versions(self, kind: str, name: str) -> list[StoredDefinition]:
        query = (
            sa.select(fd)
            .where(fd.c.kind == kind, fd.c.name == name, fd.c.deleted_at.is_(None))
            .order_by(fd.c.version)
        )
        with self.db.read() as conn:
            return [_stored(r) for r in conn.execute(query)]

    def delete_definition(self, kind: str, name: str) -> None:
        self.get_definition(kind, name)  # raises when there is none

        def write(conn: Connection) -> None:
            conn.execute(
                fd.update()
                .where(fd.c.kind == kind, fd.c.name == name, fd.c.deleted_at.is_(None))
                .values(deleted_at=now_ms())
            )

        self.db.write_retrying(write)

    def create_materialization(self, record: Materialization) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                fm.insert().values(
                    view=record.view,
                    version=record.version,
                    online_store=record.online_store,
                    start_us=record.start_us,
                    end_us=record.end_us,
                    rows=record.rows,
                    created_at=record.created_at,
                )
            )

        self.db.write_retrying(write)

    def create_lineage(self, edges: Sequence[tuple[str, str, str, str, str]]) -> None:
        le = t.lineage_edges
        names = ("src_type", "src_id", "relation", "dst_type", "dst_id")

        def write(conn: Connection) -> None:
            now = now_ms()
            for edge in edges:
                where = [le.c[n] == v for n, v in zip(names, edge, strict=True)]
                if conn.execute(sa.select(le.c.src_type).where(*where)).first() is None:
                    conn.execute(
                        le.insert().values(**dict(zip(names, edge, strict=True)), created_at=now)
                    )

        self.db.write_retrying(write)

    def get_last_materialization(
        self, view: str, version: int, online_store: str
    ) -> Materialization | None:
        query = (
            sa.select(fm)
            .where(fm.c.view == view, fm.c.version == version, fm.c.online_store == online_store)
            .order_by(fm.c.end_us.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Materialization(
            row.view,
            row.version,
            row.online_store,
            row.start_us,
            row.end_us,
            row.rows,
            row.created_at,
        )
