"""Users, tokens and grants through ``AccessControl`` on a real database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlops.auth import AccessControl, Role, Scope
from mlops.auth.access import TOUCH_EVERY_MS
from mlops.auth.tokens import hash_secret, parse_duration
from mlops.errors import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from mlops.store.sql import tables as t


def test_secrets_are_stored_only_as_their_hash(access: AccessControl) -> None:
    access.create_user("alice", by="test")
    issued = access.create_token("alice", "laptop")
    assert issued.secret.startswith("mlops_")
    assert len(issued.secret) > 40
    db = access.store.db  # type: ignore[attr-defined]
    with db.read() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                assert not any(issued.secret in str(v) for v in row), table.name
        stored = conn.execute(sa.select(t.api_tokens.c.token_hash)).scalar_one()
    assert stored == hash_secret(issued.secret)
    assert issued.token.prefix == issued.secret[:12]
    if db.dialect == "sqlite":
        database = Path(db.engine.url.database)
        for file in (database, database.with_name(database.name + "-wal")):
            if file.exists():
                assert issued.secret.encode() not in file.read_bytes()


def test_authenticate_checks_every_state_of_a_token(access: AccessControl) -> None:
    access.create_user("alice", "editor", by="test")
    issued = access.create_token("alice")
    principal = access.authenticate(issued.secret)
    assert (principal.username, principal.global_role) == ("alice", Role.EDITOR)
    with pytest.raises(AuthenticationError, match="requires an API token"):
        access.authenticate(None)
    with pytest.raises(AuthenticationError, match="not valid"):
        access.authenticate(issued.secret + "x")
    access.disable_user("alice")
    with pytest.raises(AuthenticationError, match="disabled"):
        access.authenticate(issued.secret)
    with pytest.raises(InvalidStateError, match="users enable"):
        access.create_token("alice")
    access.enable_user("alice")
    short = access.create_token("alice", expires_in="1s")
    time.sleep(1.05)
    with pytest.raises(AuthenticationError, match="expired"):
        access.authenticate(short.secret)
    access.revoke_token(issued.token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        access.authenticate(issued.secret)


def test_last_used_is_written_at_most_once_a_minute(access: AccessControl) -> None:
    access.create_user("alice", by="test")
    issued = access.create_token("alice")
    access.authenticate(issued.secret)
    first = access.store.get_token(issued.token.id).last_used_at
    assert first is not None
    access.authenticate(issued.secret)
    assert access.store.get_token(issued.token.id).last_used_at == first
    access.store.update_token(issued.token.id, last_used_at=first - TOUCH_EVERY_MS)
    access.authenticate(issued.secret)
    assert access.store.get_token(issued.token.id).last_used_at > first - TOUCH_EVERY_MS  # type: ignore[operator]


def test_grants_name_existing_resources_and_the_highest_role_wins(
    access: AccessControl,
) -> None:
    access.create_user("sam", "viewer", by="test")
    with pytest.raises(NotFoundError):
        access.grant("sam", "editor", experiment="999", by="test")
    with pytest.raises(NotFoundError):
        access.grant("sam", "editor", model="nope", by="test")
    exp = access.tracking.create_experiment("e")  # type: ignore[union-attr]
    access.grant("sam", "admin", experiment=exp.id, by="test")
    principal = access.principal("sam")
    assert principal.role_on(Scope.EXPERIMENT, exp.id) is Role.ADMIN
    assert principal.role_on(Scope.EXPERIMENT, "other") is Role.VIEWER
    access.grant("sam", "editor", experiment=exp.id, by="test")  # replaces
    assert access.principal("sam").experiments == {exp.id: Role.EDITOR}
    access.revoke("sam", experiment=exp.id)
    assert access.principal("sam").experiments == {}
    with pytest.raises(NotFoundError, match="no role"):
        access.revoke("sam", experiment=exp.id)


def test_bad_input_says_what_is_wrong(access: AccessControl) -> None:
    with pytest.raises(InvalidInputError, match="user name"):
        access.create_user("no spaces", by="test")
    with pytest.raises(InvalidInputError, match="reserved"):
        access.create_user("anonymous", by="test")
    access.create_user("alice", by="test")
    with pytest.raises(AlreadyExistsError):
        access.create_user("alice", by="test")
    with pytest.raises(InvalidInputError, match="viewer, editor or admin"):
        access.grant("alice", "owner", by="test")
    with pytest.raises(InvalidInputError, match="viewer, editor or admin"):
        access.create_user("carol", "owner", by="test")
    assert [u.username for u in access.list_users()] == ["alice"]
    with pytest.raises(InvalidInputError, match="30d"):
        access.create_token("alice", expires_in="soon")
    with pytest.raises(NotFoundError, match="users list"):
        access.create_token("bob")
    assert parse_duration("30d") == 30 * 86_400_000
    assert parse_duration("2w") == 14 * 86_400_000
