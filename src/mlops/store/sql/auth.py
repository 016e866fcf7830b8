"""``SqlAuthStore`` and ``SqlAuditStore``: users, tokens, grants and the audit log in SQL.

Audit appends are serialized across threads and processes: on SQLite by the write
transaction's ``BEGIN IMMEDIATE``, on PostgreSQL by a transaction-scoped advisory lock taken
before the last entry's hash is read, so two appenders can never chain onto the same entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from mlops.auth.audit import GENESIS, chain_hash, encode_details
from mlops.auth.entities import (
    ApiToken,
    AuditEntry,
    Grant,
    NewAuditEntry,
    Role,
    Scope,
    User,
)
from mlops.auth.store import AuditStore, AuthStore
from mlops.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from mlops.experiments.entities import Page, now_ms
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database, Rider, riding

# Any constant works: it names "audit log appends" among the database's advisory locks.
_AUDIT_LOCK = 0x6D6C6F7073_01


def _user(row: Row[Any]) -> User:
    return User(row.id, row.username, row.created_at, row.disabled_at)


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        username=row.username,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _grant(row: Row[Any]) -> Grant:
    return Grant(
        row.username,
        Scope(row.scope),
        row.resource,
        Role(row.role),
        row.granted_by,
        row.granted_at,
    )


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        status_code=row.status_code,
        details=json.loads(row.details) if row.details is not None else None,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


_TOKENS = sa.select(t.api_tokens, t.users.c.username).join(
    t.users, t.users.c.id == t.api_tokens.c.user_id
)
_GRANTS = sa.select(t.role_grants, t.users.c.username).join(
    t.users, t.users.c.id == t.role_grants.c.user_id
)


class SqlAuthStore(AuthStore):
    """``AuthStore`` on the metadata database: ``users``, ``api_tokens``, ``role_grants``."""

    def __init__(self, db: Database):
        self.db = db

    def _user_id(self, conn: Connection, username: str) -> int:
        found = conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).scalar()
        if found is None:
            raise NotFoundError(f"no user named {username!r}; `mlops users list` shows them")
        return int(found)

    def create_user(self, username: str) -> User:
        def create(conn: Connection) -> int:
            exists = conn.execute(
                sa.select(t.users.c.id).where(t.users.c.username == username)
            ).first()
            if exists is not None:
                raise AlreadyExistsError(f"user {username!r} exists already")
            insert = t.users.insert().values(username=username, created_at=now_ms())
            return int(conn.execute(insert.returning(t.users.c.id)).scalar_one())

        try:
            self.db.write_retrying(create)
        except IntegrityError as exc:  # created by another process between check and insert
            raise AlreadyExistsError(f"user {username!r} exists already") from exc
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.username == username)).first()
        if row is None:
            raise NotFoundError(f"no user named {username!r}; `mlops users list` shows them")
        return _user(row)

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.users).order_by(t.users.c.username)).all()
        return [_user(r) for r in rows]

    def update_user(self, username: str, *, disabled: bool) -> User:
        def update(conn: Connection) -> None:
            self._user_id(conn, username)
            conn.execute(
                t.users.update()
                .where(t.users.c.username == username)
                .values(disabled_at=now_ms() if disabled else None)
            )

        self.db.write_retrying(update)
        return self.get_user(username)

    def create_token(
        self, username: str, name: str, prefix: str, token_hash: str, expires_at: int | None
    ) -> ApiToken:
        def create(conn: Connection) -> int:
            insert = t.api_tokens.insert().values(
                user_id=self._user_id(conn, username),
                name=name,
                prefix=prefix,
                token_hash=token_hash,
                created_at=now_ms(),
                expires_at=expires_at,
            )
            return int(conn.execute(insert.returning(t.api_tokens.c.id)).scalar_one())

        return self.get_token(self.db.write_retrying(create))

    def get_token(self, token_id: int) -> ApiToken:
        with self.db.read() as conn:
            row = conn.execute(_TOKENS.where(t.api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"no API token with id {token_id}; `mlops tokens list` shows them")
        return _token(row)

    def get_token_by_hash(self, token_hash: str) -> tuple[ApiToken, User] | None:
        query = sa.select(
            t.api_tokens,
            t.users.c.username,
            t.users.c.created_at.label("user_created_at"),
            t.users.c.disabled_at,
        ).join(t.users, t.users.c.id == t.api_tokens.c.user_id)
        with self.db.read() as conn:
            row = conn.execute(query.where(t.api_tokens.c.token_hash == token_hash)).first()
        if row is None:
            return None
        user = User(row.user_id, row.username, row.user_created_at, row.disabled_at)
        return _token(row), user

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        query = _TOKENS.order_by(t.api_tokens.c.id)
        if username is not None:
            query = query.where(t.users.c.username == username)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_token(r) for r in rows]

    def update_token(
        self, token_id: int, *, revoked_at: int | None = None, last_used_at: int | None = None
    ) -> None:
        values = {
            k: v for k, v in (("revoked_at", revoked_at), ("last_used_at", last_used_at)) if v
        }
        if not values:
            return

        def update(conn: Connection) -> None:
            done = conn.execute(
                t.api_tokens.update().where(t.api_tokens.c.id == token_id).values(**values)
            ).rowcount
            if done == 0:
                raise NotFoundError(
                    f"no API token with id {token_id}; `mlops tokens list` shows them"
                )

        self.db.write_retrying(update)

    def set_grant(
        self, username: str, scope: Scope, resource: str, role: Role, granted_by: str
    ) -> Grant:
        def grant(conn: Connection) -> None:
            user_id = self._user_id(conn, username)
            key = (
                (t.role_grants.c.user_id == user_id)
                & (t.role_grants.c.scope == scope.value)
                & (t.role_grants.c.resource == resource)
            )
            conn.execute(t.role_grants.delete().where(key))
            conn.execute(
                t.role_grants.insert().values(
                    user_id=user_id,
                    scope=scope.value,
                    resource=resource,
                    role=role.value,
                    granted_by=granted_by,
                    granted_at=now_ms(),
                )
            )

        self.db.write_retrying(grant)
        return next(
            g for g in self.list_grants(username) if g.scope is scope and g.resource == resource
        )

    def delete_grant(self, username: str, scope: Scope, resource: str) -> None:
        def delete(conn: Connection) -> None:
            user_id = self._user_id(conn, username)
            done = conn.execute(
                t.role_grants.delete().where(
                    t.role_grants.c.user_id == user_id,
                    t.role_grants.c.scope == scope.value,
                    t.role_grants.c.resource == resource,
                )
            ).rowcount
            if done == 0:
                where = "globally" if scope is Scope.GLOBAL else f"on {scope.value} {resource!r}"
                raise NotFoundError(f"user {username!r} has no role {where}")

        self.db.write_retrying(delete)

    def list_grants(self, username: str | None = None) -> list[Grant]:
        query = _GRANTS.order_by(
            t.users.c.username, t.role_grants.c.scope, t.role_grants.c.resource
        )
        if username is not None:
            query = query.where(t.users.c.username == username)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_grant(r) for r in rows]

    def experiments_of_runs(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        runs = t.runs
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, runs.c.experiment_id).where(runs.c.id.in_(set(run_ids)))
            ).all()
        return {row.id: str(row.experiment_id) for row in rows}


class SqlAuditStore(AuditStore):
    """``AuditStore`` on the metadata database (table ``audit_log``)."""

    def __init__(self, db: Database):
        self.db = db

    def append(self, entries: Sequence[NewAuditEntry]) -> list[AuditEntry]:
        if not entries:
            return []
        rows = self.db.write_retrying(lambda conn: self._append_in(conn, entries))
        return [
            AuditEntry(**{**row, "details": entry.details})
            for row, entry in zip(rows, entries, strict=True)
        ]

    @contextmanager
    def alongside_next_write(
        self, entries: Sequence[NewAuditEntry]
    ) -> Iterator[Callable[[], bool]]:
        rider = Rider(self.db, lambda conn: self._append_in(conn, entries))
        with riding(rider):
            yield lambda: rider.done

    def _append_in(
        self, conn: Connection, entries: Sequence[NewAuditEntry]
    ) -> list[dict[str, Any]]:
        """Chain ``entries`` after the newest entry, inside the caller's write transaction."""
        log = t.audit_log
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_AUDIT_LOCK})")
        last = conn.execute(
            sa.select(log.c.id, log.c.hash).order_by(log.c.id.desc()).limit(1)
        ).first()
        next_id, prev_hash = (last.id + 1, last.hash) if last else (1, GENESIS)
        rows = []
        now = now_ms()
        for entry in entries:
            row: dict[str, Any] = {
                "id": next_id,
                "at": entry.at if entry.at is not None else now,
                "actor": entry.actor,
                "action": entry.action,
                "resource_type": entry.resource_type[:32],
                "resource_id": entry.resource_id[:512],
                "status_code": entry.status_code,
                "details": encode_details(entry.details),
            }
            row["prev_hash"] = prev_hash
            row["hash"] = prev_hash = chain_hash(prev_hash, row)
            rows.append(row)
            next_id += 1
        conn.execute(log.insert(), rows)
        return rows

    def list_entries(
        self,
        *,
        actor: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[AuditEntry]:
        log = t.audit_log
        query = sa.select(log).order_by(log.c.id.desc()).limit(limit + 1)
        conditions = {
            log.c.actor: actor,
            log.c.resource_type: resource_type,
            log.c.resource_id: resource_id,
            log.c.action: action,
        }
        for column, value in conditions.items():
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(log.c.at >= since)
        if until is not None:
            query = query.where(log.c.at < until)
        if page_token:
            query = query.where(log.c.id < _decode_after(page_token))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        items = [_entry(r) for r in rows[:limit]]
        token = str(items[-1].id) if len(rows) > limit else None
        return Page(items, token)

    def list_chain(self, after_id: int = 0, limit: int = 1000) -> list[AuditEntry]:
        log = t.audit_log
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(log).where(log.c.id > after_id).order_by(log.c.id).limit(limit)
            ).all()
        return [_entry(r) for r in rows]


def _decode_after(token: str) -> int:
    if not token.isdigit():
        raise InvalidInputError(
            f"page token {token!r} is not valid; pass back the next_page_token of a listing"
        )
    return int(token)
