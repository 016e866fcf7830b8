"""``/api/v1/runs``: runs, their params, tags, dataset inputs and artifact records, and search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.auth.entities import Role, Scope
from mlops.experiments.entities import ArtifactRecord, Dataset, Page
from mlops.server import schemas
from mlops.server.dependencies import Idempotent, ServerState, Tracking
from mlops.server.permissions import Args, Caller, acting_user, allow, in_body, param
from mlops.server.routers import API_PREFIX
from mlops.server.scopes import Target

router = APIRouter(prefix=API_PREFIX, tags=["runs"])
RunPrefix = Annotated[str, Query(min_length=1, max_length=32)]
RUN = param("run", "run_id")


def _search_role(args: Args, _state: ServerState) -> Role | None:
    # No experiment named: the route searches the ones the caller may read.
    return Role.VIEWER if args["body"].experiment_ids else None


def _record_targets(args: Args) -> list[Target]:
    # A run's artifact is checked on its experiment; a model's file on its model (by path).
    return [("run", r.run_id) if r.run_id else ("artifact", r.path) for r in args["body"].records]


@router.post("/runs", status_code=201, response_model=schemas.Run)
@allow("runs.create", Role.EDITOR, in_body("experiment", lambda b: b.experiment_id))
def create_run(
    body: schemas.CreateRun, tracking: Tracking, once: Idempotent, caller: Caller
) -> Any:
    """Start a RUNNING run owned by the calling process (``host``, ``pid``)."""
    fields = {**body.model_dump(), "user": acting_user(caller, body.user)}
    return once(body, schemas.Run, 201, lambda: tracking.create_run(**fields))


@router.post("/runs/search", response_model=schemas.Page[schemas.Run])
@allow("runs.search", _search_role, in_body("experiment", lambda b: b.experiment_ids))
def search_runs(body: schemas.SearchRuns, tracking: Tracking, caller: Caller) -> Any:
    """Runs matching the filter language, ordered and paged in the database.

    With no experiment named, every experiment the caller may read is searched.
    """
    experiment_ids = body.experiment_ids
    readable = caller.readable(Scope.EXPERIMENT)
    if not experiment_ids and readable is not None:
        if not readable:
            return Page([])
        experiment_ids = sorted(readable)
    return tracking.search_runs(
        experiment_ids,
        body.filter,
        body.order_by,
        body.max_results,
        body.page_token,
        body.include_deleted,
    )


@router.post("/runs/get", response_model=schemas.RunList)
@allow("runs.get_many", Role.VIEWER, in_body("run", lambda b: b.run_ids))
def get_runs(body: schemas.GetRuns, tracking: Tracking) -> Any:
    """Several runs in one request, in the given order (404 if one is unknown)."""
    return {"items": tracking.get_runs(body.run_ids)}


@router.get("/runs/resolve", response_model=schemas.RunId)
@allow("runs.resolve", Role.VIEWER, param("run_prefix", "prefix"))
def resolve_run_id(tracking: Tracking, prefix: RunPrefix) -> Any:
    """The full id of the one run whose id starts with ``prefix``."""
    return {"run_id": tracking.resolve_run_id(prefix)}


@router.post("/runs/heartbeat", status_code=204)
@allow("runs.heartbeat", Role.EDITOR, in_body("run", lambda b: b.run_ids))
def heartbeat(body: schemas.Heartbeat, tracking: Tracking) -> None:
    """Record that the process owning these runs is alive."""
    tracking.heartbeat(body.run_ids)


@router.post("/runs/mark-dead", response_model=schemas.RunIds)
@allow("runs.mark_dead", Role.EDITOR)
def mark_dead_runs(body: schemas.MarkDeadRuns, tracking: Tracking) -> Any:
    """Mark RUNNING runs whose process is gone as KILLED."""
    return {"run_ids": tracking.mark_dead_runs(body.stale_after_ms)}


@router.get("/runs/{run_id}", response_model=schemas.Run)
@allow("runs.get", Role.VIEWER, RUN)
def get_run(run_id: str, tracking: Tracking) -> Any:
    """A run with params, newest metrics, tags and inputs."""
    return tracking.get_run(run_id)


@router.patch("/runs/{run_id}", status_code=204)
@allow("runs.update", Role.EDITOR, RUN)
def update_run(run_id: str, body: schemas.UpdateRun, tracking: Tracking) -> None:
    """Set a run's status (and end time / error when it ends)."""
    tracking.update_run(run_id, body.status, body.end_time, body.error)


@router.delete("/runs/{run_id}", status_code=204)
@allow("runs.delete", Role.ADMIN, RUN)
def delete_run(run_id: str, tracking: Tracking) -> None:
    """Soft-delete a run."""
    tracking.delete_run(run_id)


@router.post("/runs/{run_id}/restore", status_code=204)
@allow("runs.restore", Role.ADMIN, RUN)
def restore_run(run_id: str, tracking: Tracking) -> None:
    """Undo a delete."""
    tracking.restore_run(run_id)


@router.get("/runs/{run_id}/children", response_model=schemas.RunList)
@allow("runs.children", Role.VIEWER, RUN)
def list_child_runs(run_id: str, tracking: Tracking) -> Any:
    """Runs nested directly under this one."""
    return {"items": tracking.list_child_runs(run_id)}


@router.post("/runs/{run_id}/params", status_code=204)
@allow("runs.log_params", Role.EDITOR, RUN)
def log_params(run_id: str, body: schemas.LogParams, tracking: Tracking) -> None:
    """Record parameters; re-sending the same values is a no-op, changing one is a 400."""
    tracking.log_params(run_id, body.params)


@router.post("/runs/{run_id}/tags", status_code=204)
@allow("runs.set_tags", Role.EDITOR, RUN)
def set_tags(run_id: str, body: schemas.SetTags, tracking: Tracking) -> None:
    """Set or overwrite tags."""
    tracking.set_tags(run_id, body.tags)


@router.post("/runs/{run_id}/inputs", response_model=schemas.Dataset)
@allow("runs.log_input", Role.EDITOR, RUN)
def log_input(run_id: str, body: schemas.LogInput, tracking: Tracking) -> Any:
    """Record that the run consumed a dataset; returns the stored dataset."""
    dataset = Dataset(**body.dataset.model_dump(by_alias=True))
    return tracking.log_input(run_id, dataset, body.context)


@router.get("/runs/{run_id}/artifacts", response_model=schemas.ArtifactRecordList)
@allow("runs.list_artifacts", Role.VIEWER, RUN)
def list_artifacts(run_id: str, tracking: Tracking) -> Any:
    """The artifacts recorded for a run."""
    return {"items": tracking.list_artifacts(run_id)}


@router.post("/artifact-records", status_code=204)
@allow("artifacts.record", Role.EDITOR, _record_targets)
def record_artifacts(body: schemas.RecordArtifacts, tracking: Tracking) -> None:
    """Remember artifacts' locations, sizes and hashes (re-sending one overwrites it)."""
    tracking.record_artifacts([ArtifactRecord(**r.model_dump()) for r in body.records])


@router.get("/artifact-records", response_model=schemas.ArtifactRecord)
@allow("artifacts.get_record", Role.VIEWER, param("artifact_uri", "uri"))
def get_artifact_record(
    tracking: Tracking, uri: Annotated[str, Query(min_length=1, max_length=1024)]
) -> Any:
    """The record of the artifact at ``uri``."""
    return tracking.get_artifact(uri)
