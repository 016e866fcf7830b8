"""``/api/v1/models`` and ``/api/v1/requests``: versions, stages, aliases, approvals, history.

The registry's rules (stage transitions, who may approve) live in ``ModelRegistry`` on the
caller's side, exactly as with a local store; these routes apply the store operations.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.auth.entities import Role, Scope
from mlops.errors import ApprovalError
from mlops.models.entities import Stage
from mlops.models.store import RegistryStore
from mlops.server import schemas
from mlops.server.dependencies import Idempotent, Registry, ServerState, State
from mlops.server.permissions import Args, Caller, acting_user, allow, in_body, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["models"])
UserQuery = Annotated[str, Query(min_length=1, max_length=256)]
MODEL = param("model", "name")
REQUEST = param("request", "request_id")


def stage_role(stage: Stage) -> Role:
    """Production is what serves: moving a version into or out of it is an admin's decision."""
    return Role.ADMIN if stage in (Stage.PRODUCTION, Stage.ARCHIVED) else Role.EDITOR


def _stage_role(args: Args, _state: ServerState) -> Role:
    move = args["body"]
    return Role.ADMIN if move.kind == "rollback" else stage_role(move.stage)


def alias_role(alias: str, state: ServerState) -> Role:
    """Moving a protected alias (one that serves, like ``champion``) is an admin's decision."""
    return Role.ADMIN if alias in state.config.model_registry.protected_aliases else Role.EDITOR


def require_approval(
    state: ServerState,
    registry: RegistryStore,
    name: str,
    version: int,
    action: str,
    target: str,
    request_id: int | None,
) -> None:
    """On a server with ``model_registry.approval_required``, a governed change must carry an
    approved request for it: the approval rules run in the client's ``ModelRegistry``, and
    without this check a client could skip them by calling the store route directly."""
    if not state.config.model_registry.approval_required:
        return
    how = (
        "open a request (POST /api/v1/requests, or ModelRegistry with "
        "model_registry.approval_required on) and have another user approve it"
    )
    if request_id is None:
        raise ApprovalError(f"this server requires approval for {action} changes: {how}")
    request = registry.get_request(request_id)
    # A rollback request names the version it rolls back from; its steps move other versions.
    wanted = (name, action) if action == "rollback" else (name, version, action, target)
    found = (
        (request.name, request.action)
        if action == "rollback"
        else (request.name, request.version, request.action, request.target)
    )
    if request.status != "approved" or found != wanted:
        raise ApprovalError(
            f"request {request_id} ({request.status}: {request.action} {request.name} "
            f"v{request.version} -> {request.target}) does not approve this {action} change; {how}"
        )


def _alias_role(args: Args, state: ServerState) -> Role:
    return alias_role(args["alias"], state)


@router.get("/models", response_model=schemas.RegisteredModelList)
@allow("models.list", None)
def list_registered_models(
    registry: Registry, caller: Caller, include_deleted: bool = False
) -> Any:
    """Every registered model the caller may read, by name."""
    models = registry.list_registered_models(include_deleted)
    readable = caller.readable(Scope.MODEL)
    return {"items": [m for m in models if readable is None or m.name in readable]}


@router.get("/models/{name}", response_model=schemas.RegisteredModel)
@allow("models.get", Role.VIEWER, MODEL)
def get_registered_model(name: str, registry: Registry) -> Any:
    """A model with its newest version per stage and its aliases."""
    return registry.get_registered_model(name)


@router.delete("/models/{name}", status_code=204)
@allow("models.delete", Role.ADMIN, MODEL)
def delete_registered_model(name: str, registry: Registry) -> None:
    """Soft-delete a model and hide its versions."""
    registry.delete_registered_model(name)


@router.post("/models/{name}/restore", status_code=204)
@allow("models.restore", Role.ADMIN, MODEL)
def restore_registered_model(name: str, registry: Registry) -> None:
    """Undo a delete."""
    registry.delete_registered_model(name, restore=True)


@router.post("/models/{name}/versions", status_code=201, response_model=schemas.ModelVersion)
@allow("models.register", Role.EDITOR, MODEL)
def create_model_version(
    name: str,
    body: schemas.CreateModelVersion,
    registry: Registry,
    once: Idempotent,
    caller: Caller,
) -> Any:
    """Register the next version of ``name`` (creating the model on first use)."""
    fields = {**body.model_dump(), "user": acting_user(caller, body.user)}
    return once(
        body, schemas.ModelVersion, 201, lambda: registry.create_model_version(name, **fields)
    )


@router.get("/models/{name}/versions", response_model=schemas.ModelVersionList)
@allow("models.list_versions", Role.VIEWER, MODEL)
def list_model_versions(name: str, registry: Registry, include_deleted: bool = False) -> Any:
    """Every version, newest first."""
    return {"items": registry.list_model_versions(name, include_deleted)}


@router.get("/models/{name}/latest", response_model=schemas.ModelVersion)
@allow("models.latest", Role.VIEWER, MODEL)
def get_latest_version(name: str, registry: Registry, stage: Stage | None = None) -> Any:
    """The newest live version, optionally in ``stage``."""
    return registry.get_latest_version(name, stage)


@router.get("/models/{name}/versions/{version}", response_model=schemas.ModelVersion)
@allow("models.get_version", Role.VIEWER, MODEL)
def get_model_version(name: str, version: int, registry: Registry) -> Any:
    """One version."""
    return registry.get_model_version(name, version)


@router.delete("/models/{name}/versions/{version}", status_code=204)
@allow("models.delete_version", Role.ADMIN, MODEL)
def delete_model_version(name: str, version: int, registry: Registry) -> None:
    """Soft-delete a version."""
    registry.delete_model_version(name, version)


@router.post("/models/{name}/versions/{version}/restore", status_code=204)
@allow("models.restore_version", Role.ADMIN, MODEL)
def restore_model_version(name: str, version: int, registry: Registry) -> None:
    """Undo a delete."""
    registry.delete_model_version(name, version, restore=True)


@router.post("/models/{name}/versions/{version}/stage", response_model=schemas.ModelVersion)
@allow("models.transition", _stage_role, MODEL)
def set_stage(
    name: str,
    version: int,
    body: schemas.SetStage,
    registry: Registry,
    once: Idempotent,
    caller: Caller,
    state: State,
) -> Any:
    """Move a version to a stage, archiving the current production one if asked."""
    fields = {**body.model_dump(), "user": acting_user(caller, body.user)}
    action = "rollback" if body.kind == "rollback" else "stage"
    require_approval(state, registry, name, version, action, body.stage.value, body.request_id)
    return once(
        body, schemas.ModelVersion, 200, lambda: registry.set_stage(name, version, **fields)
    )


@router.get("/models/{name}/aliases/{alias}", response_model=schemas.ModelVersion)
@allow("models.get_alias", Role.VIEWER, MODEL)
def get_version_by_alias(name: str, alias: str, registry: Registry) -> Any:
    """The version an alias points at."""
    return registry.get_version_by_alias(name, alias)


@router.put("/models/{name}/aliases/{alias}", status_code=204, response_model=None)
@allow("models.set_alias", _alias_role, MODEL)
def set_alias(
    name: str,
    alias: str,
    body: schemas.SetAlias,
    registry: Registry,
    once: Idempotent,
    caller: Caller,
    state: State,
) -> Any:
    """Point an alias at a version."""
    user = acting_user(caller, body.user)
    if alias in state.config.model_registry.protected_aliases:
        require_approval(state, registry, name, body.version, "alias", alias, body.request_id)
    return once(
        body,
        None,
        204,
        lambda: registry.set_alias(
            name, alias, body.version, user=user, request_id=body.request_id
        ),
    )


@router.delete("/models/{name}/aliases/{alias}", status_code=204, response_model=None)
@allow("models.delete_alias", _alias_role, MODEL)
def delete_alias(
    name: str, alias: str, user: UserQuery, registry: Registry, once: Idempotent, caller: Caller
) -> Any:
    """Remove an alias."""
    acting = acting_user(caller, user)
    return once(None, None, 204, lambda: registry.delete_alias(name, alias, user=acting))


@router.get("/models/{name}/events", response_model=schemas.RegistryEventList)
@allow("models.history", Role.VIEWER, MODEL)
def list_events(name: str, registry: Registry, version: int | None = None) -> Any:
    """History of a model (or one version), oldest first."""
    return {"items": registry.list_events(name, version)}


@router.post("/requests", status_code=201, response_model=schemas.ApprovalRequest)
@allow("requests.create", Role.EDITOR, in_body("model", lambda b: b.name))
def create_request(
    body: schemas.CreateApprovalRequest, registry: Registry, once: Idempotent, caller: Caller
) -> Any:
    """Record a pending approval request."""
    fields = body.model_dump(exclude={"name", "version", "action", "target"})
    fields["user"] = acting_user(caller, body.user)
    return once(
        body,
        schemas.ApprovalRequest,
        201,
        lambda: registry.create_request(
            body.name, body.version, body.action, body.target, **fields
        ),
    )


@router.get("/requests", response_model=schemas.ApprovalRequestList)
@allow("requests.list", None)
def list_requests(
    registry: Registry,
    caller: Caller,
    status: Annotated[str, Query(max_length=16)] = "pending",
) -> Any:
    """Requests on models the caller may read, oldest first; ``status=any`` lists every one."""
    requests = registry.list_requests(None if status == "any" else status)
    readable = caller.readable(Scope.MODEL)
    return {"items": [r for r in requests if readable is None or r.name in readable]}


@router.get("/requests/{request_id}", response_model=schemas.ApprovalRequest)
@allow("requests.get", Role.VIEWER, REQUEST)
def get_request(request_id: int, registry: Registry) -> Any:
    """One request."""
    return registry.get_request(request_id)


@router.post("/requests/{request_id}/decision", response_model=schemas.ApprovalRequest)
@allow("requests.decide", Role.ADMIN, REQUEST)
def decide_request(
    request_id: int,
    body: schemas.DecideRequest,
    registry: Registry,
    once: Idempotent,
    caller: Caller,
) -> Any:
    """Approve or reject a pending request (the caller's registry then applies it).

    With authentication on, the decider is the caller, who must not be the requester.
    """
    user = acting_user(caller, body.user)

    def decide() -> Any:
        if caller.auth_enabled and registry.get_request(request_id).requested_by == user:
            raise ApprovalError(
                f"{user!r} requested change {request_id} and cannot decide it; another user "
                "with the admin role on the model must"
            )
        return registry.decide_request(request_id, body.approved, user=user, comment=body.comment)

    return once(body, schemas.ApprovalRequest, 200, decide)
