"""``/api/v1/deployments``: the recorded rollouts, each with its steps, gate verdicts,
promotions and rollbacks, read from the served database.

Deployments are started by the process that runs them (``mlops deploy``, ``deploy_model``),
which writes their records as they happen; these routes only read, so the web UI and remote
clients see every rollout however many processes ran them. A deployment belongs to its model:
the list shows only the models the caller may read, and a deployment of another model answers
404, as an unknown one does, so grants do not leak what exists beyond them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as FastApiPath
from pydantic import Field

from mlops.auth.entities import Scope
from mlops.models.deployment.entities import DeploymentRecord
from mlops.models.deployment.store import DeploymentNotFoundError
from mlops.server import schemas
from mlops.server.dependencies import State
from mlops.server.permissions import Caller, allow
from mlops.server.routers import API_PREFIX
from mlops.store.sql.deployments import SqlDeploymentStore

router = APIRouter(prefix=f"{API_PREFIX}/deployments", tags=["deployments"])
SECRET_SETTINGS = ("control_token",)
"""Settings a deployment stores for its own process and never shows (the router's control
token would let a reader roll the deployment back)."""


class EventOut(schemas.Response):
    id: int
    kind: str
    traffic: schemas.JsonFloat | None
    passed: bool | None
    detail: dict[str, Any]
    message: str | None
    at: int


class DeploymentOut(schemas.Response):
    id: str
    name: str
    target: str
    strategy: str
    model_name: str
    model_version: int | None
    previous_version: int | None
    status: str
    url: str | None
    config: dict[str, Any]
    message: str | None
    created_by: str
    created_at: int
    updated_at: int
    finished_at: int | None
    events: list[EventOut] = Field(default_factory=list)


class DeploymentList(schemas.Response):
    items: list[DeploymentOut]
    next_page_token: str | None = None


def _shown(record: DeploymentRecord) -> dict[str, Any]:
    out = dict(record.__dict__)
    out["config"] = {k: v for k, v in record.config.items() if k not in SECRET_SETTINGS}
    out["events"] = [e.__dict__ for e in record.events]
    return out


@router.get("", response_model=DeploymentList)
@allow("deployments.list", None)
def list_deployments(
    state: State,
    caller: Caller,
    model: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Deployments the caller may read, newest first (optionally of one model and version)."""
    readable = caller.readable(Scope.MODEL)
    page = SqlDeploymentStore(state.stores.db).list_deployments(model, version, limit, page_token)
    items = [_shown(d) for d in page if readable is None or d.model_name in readable]
    return {"items": items, "next_page_token": page.next_page_token}


@router.get("/{deployment_id}", response_model=DeploymentOut)
@allow("deployments.get", None)
def get_deployment(
    deployment_id: Annotated[str, FastApiPath(min_length=6, max_length=64)],
    state: State,
    caller: Caller,
) -> Any:
    """A deployment with every event (an id prefix of 6+ characters is enough)."""
    record = SqlDeploymentStore(state.stores.db).get_deployment(deployment_id)
    readable = caller.readable(Scope.MODEL)
    if readable is not None and record.model_name not in readable:
        raise DeploymentNotFoundError(f"no deployment {deployment_id!r}")
    return _shown(record)
