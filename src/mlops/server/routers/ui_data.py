"""What the web UI needs beyond the store API: run summaries, chart data and registry actions.

- ``POST /api/v1/runs/keys`` and ``/runs/counts``, ``/runs/count``: the columns a runs table
  can show, run counts per experiment and the number of runs a filter matches (one SQL query
  each, fast on 10,000 runs).
- ``POST /api/v1/metrics/histories``: several runs' histories of several metrics in one request,
  thinned to at most ``max_points`` points per series for drawing.
- ``POST /api/v1/models/{name}/versions/{version}/promote`` and ``.../alias``,
  ``/models/{name}/aliases/{alias}/remove``, ``/models/{name}/rollback``,
  ``/requests/{id}/approve`` and ``/requests/{id}/reject``: the registry's *rules* applied on
  the server (stage transitions, approvals when ``model_registry.approval_required``), for a
  browser, which cannot run ``ModelRegistry`` itself. The plain ``/stage`` route applies a stage
  change as given; these go through ``ModelRegistry`` exactly as a Python caller does.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field

from mlops.auth.entities import Role
from mlops.errors import ConfigError
from mlops.models.entities import ApprovalRequest, ModelVersion, Stage
from mlops.models.registry import ModelRegistry
from mlops.server import schemas
from mlops.server.dependencies import ServerState, State, Tracking
from mlops.server.permissions import Args, Caller, acting_user, allow, in_body
from mlops.server.routers import API_PREFIX
from mlops.server.routers.models import MODEL, REQUEST, alias_role, stage_role
from mlops.store.sql import overview
from mlops.store.sql.database import Database
from mlops.store.sql.tracking import SqlTrackingStore

router = APIRouter(prefix=API_PREFIX, tags=["ui"])
EXPERIMENTS = in_body("experiment", lambda b: b.experiment_ids)
RUNS = in_body("run", lambda b: b.run_ids)
ExperimentIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1, max_length=1000)
]
Comment = Annotated[str, Field(max_length=10_000)] | None
UserName = Annotated[str, Field(min_length=1, max_length=256)] | None
Number = Annotated[int, FastApiPath(ge=0, le=2**31 - 1)]  # a version or request number


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Experiments(_Body):
    experiment_ids: ExperimentIds


class CountRuns(_Body):
    experiment_ids: ExperimentIds
    filter: Annotated[str, Field(max_length=100_000)] | None = None


class RunKeys(BaseModel):
    params: list[str]
    metrics: list[str]
    tags: list[str]


class RunCounts(BaseModel):
    counts: dict[str, int]


class RunCount(BaseModel):
    count: int


class GetHistories(_Body):
    run_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=32)]],
        Field(min_length=1, max_length=100),
    ]
    keys: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=250)]],
        Field(min_length=1, max_length=20),
    ]
    max_points: Annotated[int, Field(ge=2, le=100_000)] = 2000


class Series(BaseModel):
    run_id: str
    key: str
    count: int  # points stored; ``steps``/``values`` hold at most ``max_points`` of them
    steps: list[int]
    values: list[schemas.JsonFloat]


class Histories(BaseModel):
    items: list[Series]


class Promote(_Body):
    stage: Stage
    archive_existing: bool = True
    comment: Comment = None
    user: UserName = None


class SetAlias(_Body):
    alias: Annotated[str, Field(min_length=1, max_length=256)]
    user: UserName = None


class Decide(_Body):
    comment: Comment = None
    user: UserName = None


class Outcome(BaseModel):
    """A change applied (``version``), waiting for approval (``request``), or neither (removed)."""

    version: schemas.ModelVersion | None = None
    request: schemas.ApprovalRequest | None = None


def _database(state: ServerState) -> Database:
    tracking = state.stores.tracking
    if not isinstance(tracking, SqlTrackingStore):  # a server's stores are always SQL
        raise ConfigError("the server's tracking store is not a SQL store")
    return tracking.db


@router.post("/runs/keys", response_model=RunKeys)
@allow("runs.keys", Role.VIEWER, EXPERIMENTS)
def run_keys(body: Experiments, state: State) -> Any:
    """The param, metric and tag keys the experiments' live runs use (the table's columns)."""
    return overview.run_keys(_database(state), body.experiment_ids)


@router.post("/runs/counts", response_model=RunCounts)
@allow("runs.counts", Role.VIEWER, EXPERIMENTS)
def count_runs_by_experiment(body: Experiments, state: State) -> Any:
    """Live runs per experiment."""
    return {"counts": overview.count_runs_by_experiment(_database(state), body.experiment_ids)}


@router.post("/runs/count", response_model=RunCount)
@allow("runs.count", Role.VIEWER, EXPERIMENTS)
def count_runs(body: CountRuns, tracking: Tracking) -> Any:
    """How many live runs of the experiments match the filter (the table's page count)."""
    if not isinstance(tracking, SqlTrackingStore):
        raise ConfigError("the server's tracking store is not a SQL store")
    overview.experiment_keys(body.experiment_ids)  # a 404 for ids no database integer holds
    return {"count": tracking.count_runs(body.experiment_ids, body.filter)}


@router.post("/metrics/histories", response_model=Histories)
@allow("metrics.histories", Role.VIEWER, RUNS)
def get_metric_histories(body: GetHistories, tracking: Tracking) -> Any:
    """Each run's history of each key that it logged, thinned evenly to ``max_points``."""
    items = []
    for run_id in body.run_ids:
        for key in body.keys:
            history = tracking.get_metric_history(run_id, key)
            count = len(history.steps)
            if count == 0:
                continue
            keep = _thin(count, body.max_points)
            items.append(
                Series(
                    run_id=run_id,
                    key=key,
                    count=count,
                    steps=history.steps[keep].tolist(),
                    values=history.values[keep].tolist(),
                )
            )
    return {"items": items}


def _thin(count: int, max_points: int) -> Any:
    """Indices of at most ``max_points`` evenly spread points, first and last included."""
    if count <= max_points:
        return slice(None)
    return np.unique(np.linspace(0, count - 1, max_points).round().astype(np.int64))


def _registry(state: ServerState, caller: Caller, user: str | None) -> ModelRegistry:
    """``ModelRegistry`` over the server's open stores, acting as the caller."""
    stores = state.stores
    acting = acting_user(caller, user or state.config.user)
    return ModelRegistry(config=stores.config, stores=stores, user=acting)


def _alias_role(alias: str, state: ServerState) -> Role:
    # With approval on, a protected alias's move is only a request, which an editor may open.
    if state.config.model_registry.approval_required:
        return Role.EDITOR
    return alias_role(alias, state)


def _governed_role(args: Args, state: ServerState) -> Role:
    """Production moves and rollbacks need an admin, unless approval is on: then an editor's
    change only opens a request, and an admin (another user) decides it."""
    if state.config.model_registry.approval_required:
        return Role.EDITOR
    body = args["body"]
    return stage_role(body.stage) if isinstance(body, Promote) else Role.ADMIN


def _outcome(result: ModelVersion | ApprovalRequest | None) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, ApprovalRequest):
        return {"request": result}
    return {"version": result}


@router.post("/models/{name}/versions/{version}/promote", response_model=Outcome)
@allow("models.promote", _governed_role, MODEL)
def promote(name: str, version: Number, body: Promote, state: State, caller: Caller) -> Any:
    """Move a version to a stage under the stage rules (a pending request if approval is on)."""
    registry = _registry(state, caller, body.user)
    return _outcome(
        registry.promote_model(name, version, body.stage, body.archive_existing, body.comment)
    )


@router.post("/models/{name}/versions/{version}/alias", response_model=Outcome)
@allow("models.set_alias", lambda args, state: _alias_role(args["body"].alias, state), MODEL)
def set_alias(name: str, version: Number, body: SetAlias, state: State, caller: Caller) -> Any:
    """Point an alias at a version (a pending request if the alias is protected and approval on)."""
    return _outcome(_registry(state, caller, body.user).set_alias(name, body.alias, version))


@router.post("/models/{name}/aliases/{alias}/remove", response_model=Outcome)
@allow("models.delete_alias", lambda args, state: _alias_role(args["alias"], state), MODEL)
def remove_alias(name: str, alias: str, body: Decide, state: State, caller: Caller) -> Any:
    """Remove an alias (a pending request if it is protected and approval on)."""
    return _outcome(_registry(state, caller, body.user).delete_alias(name, alias))


@router.post("/models/{name}/rollback", response_model=Outcome)
@allow("models.rollback", _governed_role, MODEL)
def rollback(name: str, body: Decide, state: State, caller: Caller) -> Any:
    """Put the previous production version back (a pending request if approval is on)."""
    return _outcome(_registry(state, caller, body.user).rollback(name, body.comment))


@router.post("/requests/{request_id}/approve", response_model=Outcome)
@allow("requests.approve", Role.ADMIN, REQUEST)
def approve(request_id: Number, body: Decide, state: State, caller: Caller) -> Any:
    """Approve another user's pending request and apply it."""
    return _outcome(_registry(state, caller, body.user).approve(request_id, body.comment))


@router.post("/requests/{request_id}/reject", response_model=Outcome)
@allow("requests.reject", Role.ADMIN, REQUEST)
def reject(request_id: Number, body: Decide, state: State, caller: Caller) -> Any:
    """Reject a pending request."""
    return _outcome(_registry(state, caller, body.user).reject(request_id, body.comment))
