"""The storage interfaces of users, tokens and grants (``AuthStore``) and the audit log."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from mlops.auth.entities import (
    ApiToken,
    AuditEntry,
    Grant,
    NewAuditEntry,
    Role,
    Scope,
    User,
)
from mlops.experiments.entities import Page


class AuthStore(abc.ABC):
    """Users, their API tokens (as sha256 hashes) and their role grants."""

    @abc.abstractmethod
    def create_user(self, username: str) -> User:
        """A new, enabled user; ``AlreadyExistsError`` if the name is taken."""

    @abc.abstractmethod
    def get_user(self, username: str) -> User:
        """The user; ``NotFoundError`` if there is none."""

    @abc.abstractmethod
    def list_users(self) -> list[User]:
        """Every user, by name."""

    @abc.abstractmethod
    def update_user(self, username: str, *, disabled: bool) -> User:
        """Disable (or enable again) a user; a disabled user's tokens stop working."""

    @abc.abstractmethod
    def create_token(
        self, username: str, name: str, prefix: str, token_hash: str, expires_at: int | None
    ) -> ApiToken:
        """Record a token by its hash (the secret itself is never given to the store)."""

    @abc.abstractmethod
    def get_token(self, token_id: int) -> ApiToken:
        """One token's record; ``NotFoundError`` if there is none."""

    @abc.abstractmethod
    def get_token_by_hash(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The token with this hash and its user, in one query (every request asks this)."""

    @abc.abstractmethod
    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Tokens (of one user, or everyone's), oldest first."""

    @abc.abstractmethod
    def update_token(
        self, token_id: int, *, revoked_at: int | None = None, last_used_at: int | None = None
    ) -> None:
        """Revoke a token or record when it was last used."""

    @abc.abstractmethod
    def set_grant(
        self, username: str, scope: Scope, resource: str, role: Role, granted_by: str
    ) -> Grant:
        """Give ``username`` ``role`` on a scope (replacing the role it had there)."""

    @abc.abstractmethod
    def delete_grant(self, username: str, scope: Scope, resource: str) -> None:
        """Take a grant away; ``NotFoundError`` if there is no such grant."""

    @abc.abstractmethod
    def list_grants(self, username: str | None = None) -> list[Grant]:
        """Grants (of one user, or everyone's), by user, scope and resource."""

    @abc.abstractmethod
    def experiments_of_runs(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The experiment id of each known run (grants are per experiment; requests name runs)."""


class AuditStore(abc.ABC):
    """An append-only, hash-chained log of writes."""

    @abc.abstractmethod
    def append(self, entries: Sequence[NewAuditEntry]) -> list[AuditEntry]:
        """Chain and store entries, serialized with every other appender (any process)."""

    @contextmanager
    def alongside_next_write(
        self, entries: Sequence[NewAuditEntry]
    ) -> Iterator[Callable[[], bool]]:
        """Append ``entries`` inside the next write transaction this context makes on the store.

        Yields a function that tells, afterwards, whether they were written that way; if not
        (nothing was written, or this store cannot share a transaction), call ``append``.
        """
        yield lambda: False

    @abc.abstractmethod
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
        """Entries matching every filter given, newest first, a page at a time."""

    @abc.abstractmethod
    def list_chain(self, after_id: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Entries with ``id > after_id`` in chain order (oldest first), for verification."""
