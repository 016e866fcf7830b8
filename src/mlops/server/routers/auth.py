"""``/api/v1/auth/whoami``, and the admin's ``/users``, ``/tokens``, ``/grants`` and ``/audit``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from mlops.auth.entities import Role
from mlops.server import schemas
from mlops.server.dependencies import State
from mlops.server.permissions import Caller, allow, in_body, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["auth"])
RoleName = Literal["viewer", "editor", "admin"]
Username = Annotated[str, Field(min_length=1, max_length=128)]
UserQuery = Annotated[str | None, Query(min_length=1, max_length=128)]
USER = param("user", "username")


class WhoAmI(schemas.Response):
    username: str
    auth_enabled: bool
    global_role: RoleName | None
    experiments: dict[str, RoleName]
    models: dict[str, RoleName]


class User(schemas.Response):
    id: int
    username: str
    created_at: int
    disabled_at: int | None = None


class UserList(schemas.Response):
    items: list[User]


class ApiToken(schemas.Response):
    id: int
    username: str
    name: str
    prefix: str
    created_at: int
    expires_at: int | None = None
    last_used_at: int | None = None
    revoked_at: int | None = None


class TokenList(schemas.Response):
    items: list[ApiToken]


class IssuedToken(schemas.Response):
    """A new token; ``secret`` is shown this once and never again."""

    token: ApiToken
    secret: str


class Grant(schemas.Response):
    username: str
    scope: Literal["global", "experiment", "model"]
    resource: str
    role: RoleName
    granted_by: str
    granted_at: int


class GrantList(schemas.Response):
    items: list[Grant]


class AuditEntry(schemas.Response):
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


class ChainReport(schemas.Response):
    checked: int
    ok: bool
    first_broken_id: int | None = None
    problem: str | None = None


class CreateUser(schemas.Request):
    username: Username
    role: RoleName | None = None


class CreateToken(schemas.Request):
    username: Username
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    expires_in: Annotated[str, Field(min_length=2, max_length=16)] | None = None


class SetGrant(schemas.Request):
    username: Username
    role: RoleName
    experiment: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    model: schemas.Name | None = None


@router.get("/auth/whoami", response_model=WhoAmI)
@allow("auth.whoami", None)
def whoami(caller: Caller) -> Any:
    """Who the token belongs to and every role they hold (with auth off: an admin)."""
    return {
        "username": caller.username,
        "auth_enabled": caller.auth_enabled,
        "global_role": caller.global_role.value if caller.global_role else None,
        "experiments": {k: v.value for k, v in caller.experiments.items()},
        "models": {k: v.value for k, v in caller.models.items()},
    }


@router.get("/users", response_model=UserList)
@allow("users.list", Role.ADMIN)
def list_users(state: State) -> Any:
    """Every user, by name."""
    return {"items": state.access.list_users()}


@router.post("/users", status_code=201, response_model=User)
@allow("users.create", Role.ADMIN, in_body("user", lambda b: b.username))
def create_user(body: CreateUser, state: State, caller: Caller) -> Any:
    """Create a user, optionally with a global role."""
    return state.access.create_user(body.username, body.role, by=caller.username)


@router.post("/users/{username}/disable", response_model=User)
@allow("users.disable", Role.ADMIN, USER)
def disable_user(username: str, state: State) -> Any:
    """Stop every token of a user from working."""
    return state.access.disable_user(username)


@router.post("/users/{username}/enable", response_model=User)
@allow("users.enable", Role.ADMIN, USER)
def enable_user(username: str, state: State) -> Any:
    """Let a disabled user's tokens work again."""
    return state.access.enable_user(username)


@router.get("/tokens", response_model=TokenList)
@allow("tokens.list", Role.ADMIN)
def list_tokens(state: State, username: UserQuery = None) -> Any:
    """Tokens (never their secrets), of one user or everyone's."""
    return {"items": state.access.list_tokens(username)}


@router.post("/tokens", status_code=201, response_model=IssuedToken)
@allow("tokens.create", Role.ADMIN, in_body("user", lambda b: b.username))
def create_token(body: CreateToken, state: State) -> Any:
    """A new token for a user; its secret is in this answer only (it is stored hashed)."""
    return state.access.create_token(body.username, body.name, body.expires_in)


@router.post("/tokens/{token_id}/revoke", response_model=ApiToken)
@allow("tokens.revoke", Role.ADMIN, param("token", "token_id"))
def revoke_token(token_id: int, state: State) -> Any:
    """Stop a token from working, for good."""
    return state.access.revoke_token(token_id)


@router.get("/grants", response_model=GrantList)
@allow("grants.list", Role.ADMIN)
def list_grants(state: State, username: UserQuery = None) -> Any:
    """Role grants, of one user or everyone's."""
    return {"items": state.access.list_grants(username)}


@router.post("/grants", response_model=Grant)
@allow("grants.set", Role.ADMIN, in_body("user", lambda b: b.username))
def set_grant(body: SetGrant, state: State, caller: Caller) -> Any:
    """Give a user a role globally, on an experiment or on a model (replacing the one held)."""
    return state.access.grant(
        body.username,
        body.role,
        experiment=body.experiment,
        model=body.model,
        by=caller.username,
    )


@router.delete("/grants", status_code=204)
@allow("grants.revoke", Role.ADMIN, param("user", "username"))
def revoke_grant(
    state: State,
    username: Annotated[str, Query(min_length=1, max_length=128)],
    experiment: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
) -> None:
    """Take away the role a user holds globally, on an experiment or on a model."""
    state.access.revoke(username, experiment=experiment, model=model)


@router.get("/audit", response_model=schemas.Page[AuditEntry])
@allow("audit.list", Role.ADMIN)
def list_audit(
    state: State,
    actor: UserQuery = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=32)] = None,
    resource_id: Annotated[str | None, Query(max_length=512)] = None,
    since: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    until: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    page_token: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    """Recorded writes, newest first, filtered by actor, action, resource and time (ms)."""
    return state.access.audit.list_entries(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        until=until,
        limit=limit,
        page_token=page_token,
    )


@router.get("/audit/verify", response_model=ChainReport)
@allow("audit.verify", Role.ADMIN)
def verify_audit(state: State) -> Any:
    """Walk the audit log's hash chain and report the first entry that does not add up."""
    report = state.access.verify_audit()
    return {
        "checked": report.checked,
        "ok": report.ok,
        "first_broken_id": report.first_broken_id,
        "problem": report.problem,
    }
