"""``/api/v1/models`` and ``/api/v1/requests``: versions, stages, aliases, approvals, history.

The registry's rules (stage transitions, who may approve) live in ``ModelRegistry`` on the
caller's side, exactly as with a local store; these routes apply the store operations.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.models.entities import Stage
from mlops.server import schemas
from mlops.server.dependencies import Idempotent, Registry
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["models"])
UserQuery = Annotated[str, Query(min_length=1, max_length=256)]


@router.get("/models", response_model=schemas.RegisteredModelList)
def list_registered_models(registry: Registry, include_deleted: bool = False) -> Any:
    """Every registered model, by name."""
    return {"items": registry.list_registered_models(include_deleted)}


@router.get("/models/{name}", response_model=schemas.RegisteredModel)
def get_registered_model(name: str, registry: Registry) -> Any:
    """A model with its newest version per stage and its aliases."""
    return registry.get_registered_model(name)


@router.delete("/models/{name}", status_code=204)
def delete_registered_model(name: str, registry: Registry) -> None:
    """Soft-delete a model and hide its versions."""
    registry.delete_registered_model(name)


@router.post("/models/{name}/restore", status_code=204)
def restore_registered_model(name: str, registry: Registry) -> None:
    """Undo a delete."""
    registry.delete_registered_model(name, restore=True)


@router.post("/models/{name}/versions", status_code=201, response_model=schemas.ModelVersion)
def create_model_version(
    name: str, body: schemas.CreateModelVersion, registry: Registry, once: Idempotent
) -> Any:
    """Register the next version of ``name`` (creating the model on first use)."""
    return once(
        body,
        schemas.ModelVersion,
        201,
        lambda: registry.create_model_version(name, **body.model_dump()),
    )


@router.get("/models/{name}/versions", response_model=schemas.ModelVersionList)
def list_model_versions(name: str, registry: Registry, include_deleted: bool = False) -> Any:
    """Every version, newest first."""
    return {"items": registry.list_model_versions(name, include_deleted)}


@router.get("/models/{name}/latest", response_model=schemas.ModelVersion)
def get_latest_version(name: str, registry: Registry, stage: Stage | None = None) -> Any:
    """The newest live version, optionally in ``stage``."""
    return registry.get_latest_version(name, stage)


@router.get("/models/{name}/versions/{version}", response_model=schemas.ModelVersion)
def get_model_version(name: str, version: int, registry: Registry) -> Any:
    """One version."""
    return registry.get_model_version(name, version)


@router.delete("/models/{name}/versions/{version}", status_code=204)
def delete_model_version(name: str, version: int, registry: Registry) -> None:
    """Soft-delete a version."""
    registry.delete_model_version(name, version)


@router.post("/models/{name}/versions/{version}/restore", status_code=204)
def restore_model_version(name: str, version: int, registry: Registry) -> None:
    """Undo a delete."""
    registry.delete_model_version(name, version, restore=True)


@router.post("/models/{name}/versions/{version}/stage", response_model=schemas.ModelVersion)
def set_stage(
    name: str, version: int, body: schemas.SetStage, registry: Registry, once: Idempotent
) -> Any:
    """Move a version to a stage, archiving the current production one if asked."""
    return once(
        body,
        schemas.ModelVersion,
        200,
        lambda: registry.set_stage(name, version, **body.model_dump()),
    )


@router.get("/models/{name}/aliases/{alias}", response_model=schemas.ModelVersion)
def get_version_by_alias(name: str, alias: str, registry: Registry) -> Any:
    """The version an alias points at."""
    return registry.get_version_by_alias(name, alias)


@router.put("/models/{name}/aliases/{alias}", status_code=204, response_model=None)
def set_alias(
    name: str, alias: str, body: schemas.SetAlias, registry: Registry, once: Idempotent
) -> Any:
    """Point an alias at a version."""
    return once(
        body,
        None,
        204,
        lambda: registry.set_alias(
            name, alias, body.version, user=body.user, request_id=body.request_id
        ),
    )


@router.delete("/models/{name}/aliases/{alias}", status_code=204, response_model=None)
def delete_alias(
    name: str, alias: str, user: UserQuery, registry: Registry, once: Idempotent
) -> Any:
    """Remove an alias."""
    return once(None, None, 204, lambda: registry.delete_alias(name, alias, user=user))


@router.get("/models/{name}/events", response_model=schemas.RegistryEventList)
def list_events(name: str, registry: Registry, version: int | None = None) -> Any:
    """History of a model (or one version), oldest first."""
    return {"items": registry.list_events(name, version)}


@router.post("/requests", status_code=201, response_model=schemas.ApprovalRequest)
def create_request(
    body: schemas.CreateApprovalRequest, registry: Registry, once: Idempotent
) -> Any:
    """Record a pending approval request."""
    fields = body.model_dump(exclude={"name", "version", "action", "target"})
    return once(
        body,
        schemas.ApprovalRequest,
        201,
        lambda: registry.create_request(
            body.name, body.version, body.action, body.target, **fields
        ),
    )


@router.get("/requests", response_model=schemas.ApprovalRequestList)
def list_requests(
    registry: Registry, status: Annotated[str, Query(max_length=16)] = "pending"
) -> Any:
    """Requests, oldest first; ``status=any`` lists every one."""
    return {"items": registry.list_requests(None if status == "any" else status)}


@router.get("/requests/{request_id}", response_model=schemas.ApprovalRequest)
def get_request(request_id: int, registry: Registry) -> Any:
    """One request."""
    return registry.get_request(request_id)


@router.post("/requests/{request_id}/decision", response_model=schemas.ApprovalRequest)
def decide_request(
    request_id: int, body: schemas.DecideRequest, registry: Registry, once: Idempotent
) -> Any:
    """Approve or reject a pending request (the caller's registry then applies it)."""
    return once(
        body,
        schemas.ApprovalRequest,
        200,
        lambda: registry.decide_request(
            request_id, body.approved, user=body.user, comment=body.comment
        ),
    )
