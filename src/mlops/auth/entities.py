"""Users, API tokens, role grants, audit entries, and who a request acts as (``Principal``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidInputError


class Role(enum.StrEnum):
    """What a user may do: each role includes the ones below it (viewer < editor < admin)."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank < other.rank

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """``value`` as a role; ``InvalidInputError`` naming the valid ones otherwise."""
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidInputError(
                f"role {value!r} does not exist; use viewer, editor or admin"
            ) from None


_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Scope(enum.StrEnum):
    """What a grant covers: everything, one experiment (by id) or one registered model (name)."""

    GLOBAL = "global"
    EXPERIMENT = "experiment"
    MODEL = "model"


def highest(*roles: Role | None) -> Role | None:
    """The strongest of ``roles`` (None when there is none)."""
    present = [r for r in roles if r is not None]
    return max(present, key=lambda r: r.rank) if present else None


@dataclass(frozen=True)
class User:
    id: int
    username: str
    created_at: int
    disabled_at: int | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class ApiToken:
    """A token's record; the secret itself is never stored (only its sha256)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: int
    expires_at: int | None = None
    last_used_at: int | None = None
    revoked_at: int | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token and its secret, which is shown this once and never again."""

    token: ApiToken
    secret: str


@dataclass(frozen=True)
class Grant:
    username: str
    scope: Scope
    resource: str
    role: Role
    granted_by: str
    granted_at: int


@dataclass(frozen=True)
class AuditEntry:
    """One recorded write: who (``actor``), what (``action`` on a resource), when, and outcome."""

    id: int
    at: int
    actor: str
    action: str
    resource_type: str
    resource_id: str
    status_code: int | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class NewAuditEntry:
    """An audit entry before it is chained (the store gives it an id and its hashes)."""

    actor: str
    action: str
    resource_type: str = ""
    resource_id: str = ""
    status_code: int | None = None
    details: dict[str, Any] | None = None
    at: int | None = None


@dataclass(frozen=True)
class ChainReport:
    """What ``verify()`` found: how many entries it checked and the first broken one, if any."""

    checked: int
    first_broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, with every role they hold.

    With authentication off, everyone is ``anonymous`` with the global admin role.
    """

    username: str
    global_role: Role | None
    experiments: dict[str, Role] = field(default_factory=dict)
    models: dict[str, Role] = field(default_factory=dict)
    auth_enabled: bool = True

    def role_on(self, scope: Scope, resource: str = "") -> Role | None:
        """Effective role on a resource: the stronger of the global role and its own grant."""
        if scope is Scope.EXPERIMENT:
            return highest(self.global_role, self.experiments.get(resource))
        if scope is Scope.MODEL:
            return highest(self.global_role, self.models.get(resource))
        return self.global_role

    def can(self, role: Role, scope: Scope = Scope.GLOBAL, resource: str = "") -> bool:
        held = self.role_on(scope, resource)
        return held is not None and held >= role

    def readable(self, scope: Scope) -> set[str] | None:
        """Resources of ``scope`` this principal may read; None means all of them."""
        if self.global_role is not None:
            return None
        return set(self.experiments if scope is Scope.EXPERIMENT else self.models)


ANONYMOUS = "anonymous"
ANONYMOUS_ADMIN = Principal(ANONYMOUS, Role.ADMIN, auth_enabled=False)
"""Who acts when the server runs without ``--auth``."""
