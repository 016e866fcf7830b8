"""``AccessControl``: users, API tokens, role grants, authentication and the audit log.

The stores keep rows; the rules live here: names are checked, a token's secret is made here
and only its hash leaves, a grant must name an experiment or model that exists, and
authentication refuses unknown, revoked and expired tokens and disabled users. A token's
``last_used_at`` is written at most once a minute, so authenticating costs one read per
request, not a write.
"""

from __future__ import annotations

import re
from datetime import timedelta

from mlops.auth import audit
from mlops.auth.entities import (
    ANONYMOUS,
    ApiToken,
    ChainReport,
    Grant,
    IssuedToken,
    Principal,
    Role,
    Scope,
    User,
)
from mlops.auth.store import AuditStore, AuthStore
from mlops.auth.tokens import SHOWN_PREFIX, hash_secret, new_secret, parse_duration
from mlops.errors import (
    AuthenticationError,
    InvalidInputError,
    InvalidStateError,
)
from mlops.experiments.entities import now_ms
from mlops.experiments.store import TrackingStore
from mlops.models.store import RegistryStore

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$")
TOUCH_EVERY_MS = 60_000
"""A token's ``last_used_at`` is refreshed at most this often."""

NO_TOKEN = (
    "this server requires an API token: send 'Authorization: Bearer <token>' (for the Python "
    "API and CLI set MLOPS_TRACKING_TOKEN); an admin makes one with `mlops tokens create USER`"
)


def check_username(username: str) -> str:
    """``username`` if it is valid; ``InvalidInputError`` saying what a name may hold."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInputError(
            f"user name {username!r} is invalid: start with a letter or digit, then up to 127 "
            "letters, digits, '_', '.', '@' or '-'"
        )
    if username == ANONYMOUS:
        raise InvalidInputError(
            f"user name {ANONYMOUS!r} is reserved for requests to a server without --auth"
        )
    return username


class AccessControl:
    """Users, tokens, grants and the audit log of one metadata store.

    Args:
        store: Where users, tokens and grants are kept.
        audit_store: The audit log.
        tracking: Checks that an experiment named in a grant exists (skipped when None).
        registry: Checks that a model named in a grant exists (skipped when None).
    """

    def __init__(
        self,
        store: AuthStore,
        audit_store: AuditStore,
        tracking: TrackingStore | None = None,
        registry: RegistryStore | None = None,
    ):
        self.store = store
        self.audit = audit_store
        self.tracking = tracking
        self.registry = registry

    # --- users ---------------------------------------------------------------------------------

    def create_user(self, username: str, role: Role | str | None = None, *, by: str) -> User:
        """A new user, with a global ``role`` if one is given (the first admin is made so)."""
        parsed = Role.parse(role) if role is not None else None  # refuse a bad role first
        user = self.store.create_user(check_username(username))
        if parsed is not None:
            self.store.set_grant(user.username, Scope.GLOBAL, "", parsed, by)
        return user

    def list_users(self) -> list[User]:
        """Every user, by name."""
        return self.store.list_users()

    def get_user(self, username: str) -> User:
        """One user (``NotFoundError`` if unknown)."""
        return self.store.get_user(username)

    def disable_user(self, username: str) -> User:
        """Stop a user's tokens from working (their grants and history stay)."""
        return self.store.update_user(username, disabled=True)

    def enable_user(self, username: str) -> User:
        """Let a disabled user's unexpired, unrevoked tokens work again."""
        return self.store.update_user(username, disabled=False)

    # --- tokens --------------------------------------------------------------------------------

    def create_token(
        self, username: str, name: str | None = None, expires_in: str | timedelta | None = None
    ) -> IssuedToken:
        """A new token for ``username``; its secret is in the result and stored nowhere.

        Args:
            name: What the token is for (default ``"token"``), to tell tokens apart.
            expires_in: ``"30d"``, ``"12h"``, ... or a ``timedelta``; None never expires.
        """
        user = self.store.get_user(username)
        if user.disabled:
            raise InvalidStateError(
                f"user {username!r} is disabled; `mlops users enable {username}` first"
            )
        name = name or "token"
        if not 0 < len(name) <= 128:
            raise InvalidInputError("a token name has 1 to 128 characters")
        expires_at = None
        if expires_in is not None:
            ms = (
                int(expires_in.total_seconds() * 1000)
                if isinstance(expires_in, timedelta)
                else parse_duration(expires_in)
            )
            if ms <= 0:
                raise InvalidInputError("a token's lifetime must be positive")
            expires_at = now_ms() + ms
        secret = new_secret()
        record = self.store.create_token(
            username, name, secret[:SHOWN_PREFIX], hash_secret(secret), expires_at
        )
        return IssuedToken(record, secret)

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Tokens (never their secrets) of one user or of everyone."""
        if username is not None:
            self.store.get_user(username)
        return self.store.list_tokens(username)

    def revoke_token(self, token_id: int) -> ApiToken:
        """Stop a token from working, for good."""
        token = self.store.get_token(token_id)
        if token.revoked_at is None:
            self.store.update_token(token_id, revoked_at=now_ms())
        return self.store.get_token(token_id)

    # --- grants --------------------------------------------------------------------------------

    def _scope(self, experiment: str | None, model: str | None) -> tuple[Scope, str]:
        if experiment is not None and model is not None:
            raise InvalidInputError("a grant covers one experiment or one model, not both")
        if experiment is not None:
            if self.tracking is not None:
                experiment = self.tracking.get_experiment(str(experiment)).id
            return Scope.EXPERIMENT, str(experiment)
        if model is not None:
            if self.registry is not None:
                self.registry.get_registered_model(model)
            return Scope.MODEL, model
        return Scope.GLOBAL, ""

    def grant(
        self,
        username: str,
        role: Role | str,
        *,
        experiment: str | None = None,
        model: str | None = None,
        by: str,
    ) -> Grant:
        """Give ``username`` ``role`` globally, on one experiment (by id) or one model."""
        scope, resource = self._scope(experiment, model)
        return self.store.set_grant(username, scope, resource, Role.parse(role), by)

    def revoke(
        self, username: str, *, experiment: str | None = None, model: str | None = None
    ) -> None:
        """Take away the role ``username`` holds globally, on an experiment or on a model."""
        if experiment is not None and model is not None:
            raise InvalidInputError("a grant covers one experiment or one model, not both")
        if experiment is not None:
            self.store.delete_grant(username, Scope.EXPERIMENT, str(experiment))
        elif model is not None:
            self.store.delete_grant(username, Scope.MODEL, model)
        else:
            self.store.delete_grant(username, Scope.GLOBAL, "")

    def list_grants(self, username: str | None = None) -> list[Grant]:
        """Grants of one user or of everyone."""
        return self.store.list_grants(username)

    # --- authentication ------------------------------------------------------------------------

    def principal(self, username: str) -> Principal:
        """Who ``username`` is, with every role they hold."""
        return principal_from(username, self.store.list_grants(username))

    def authenticate(self, secret: str | None) -> Principal:
        """The principal a token's secret stands for; ``AuthenticationError`` if it is not valid."""
        if not secret:
            raise AuthenticationError(NO_TOKEN)
        found = self.store.get_token_by_hash(hash_secret(secret))
        if found is None:
            raise AuthenticationError(
                "the API token is not valid (unknown or mistyped); check MLOPS_TRACKING_TOKEN or "
                "ask an admin for a new one (`mlops tokens create USER`)"
            )
        token, user = found
        now = now_ms()
        if token.revoked_at is not None:
            raise AuthenticationError(
                f"API token {token.prefix}... was revoked; ask an admin for a new one"
            )
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationError(
                f"API token {token.prefix}... has expired; ask an admin for a new one"
            )
        if user.disabled:
            raise AuthenticationError(f"user {user.username!r} is disabled; ask an admin")
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY_MS:
            self.store.update_token(token.id, last_used_at=now)
        return self.principal(user.username)

    # --- audit ---------------------------------------------------------------------------------

    def verify_audit(self) -> ChainReport:
        """Walk the audit log's hash chain; report the first entry that does not add up."""
        return audit.verify(self.audit)


def principal_from(username: str, grants: list[Grant]) -> Principal:
    """A principal holding ``grants``."""
    global_role = None
    experiments: dict[str, Role] = {}
    models: dict[str, Role] = {}
    for g in grants:
        if g.scope is Scope.GLOBAL:
            global_role = g.role
        elif g.scope is Scope.EXPERIMENT:
            experiments[g.resource] = g.role
        else:
            models[g.resource] = g.role
    return Principal(username, global_role, experiments, models)
