"""``/api/v1/experiments``: create, look up, list, delete and restore experiments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.auth.entities import Role, Scope
from mlops.experiments.entities import Page
from mlops.server import schemas
from mlops.server.dependencies import Idempotent, Tracking
from mlops.server.permissions import Caller, allow, in_body, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/experiments", tags=["experiments"])


@router.post("", status_code=201, response_model=schemas.Experiment)
@allow("experiments.create", Role.EDITOR, in_body("new_experiment", lambda b: b.name))
def create_experiment(body: schemas.CreateExperiment, tracking: Tracking, once: Idempotent) -> Any:
    """Create an experiment (409 if the name is taken)."""
    return once(
        body,
        schemas.Experiment,
        201,
        lambda: tracking.create_experiment(
            body.name, body.artifact_location, body.description, body.tags
        ),
    )


@router.get("", response_model=schemas.Page[schemas.Experiment])
@allow("experiments.list", None)
def list_experiments(
    tracking: Tracking,
    caller: Caller,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    page_token: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Experiments, newest first, a page at a time (only those the caller may read)."""
    page = tracking.list_experiments(include_deleted, limit, page_token)
    readable = caller.readable(Scope.EXPERIMENT)
    if readable is None:
        return page
    return Page([e for e in page.items if e.id in readable], page.next_page_token)


@router.get("/by-name", response_model=schemas.Experiment)
@allow("experiments.get", Role.VIEWER, param("experiment_name", "name"))
def get_experiment_by_name(
    tracking: Tracking, name: Annotated[str, Query(min_length=1, max_length=256)]
) -> Any:
    """The experiment with this name."""
    return tracking.get_experiment_by_name(name)


@router.get("/{experiment_id}", response_model=schemas.Experiment)
@allow("experiments.get", Role.VIEWER, param("experiment", "experiment_id"))
def get_experiment(experiment_id: str, tracking: Tracking) -> Any:
    """The experiment with this id."""
    return tracking.get_experiment(experiment_id)


@router.delete("/{experiment_id}", status_code=204)
@allow("experiments.delete", Role.ADMIN, param("experiment", "experiment_id"))
def delete_experiment(experiment_id: str, tracking: Tracking) -> None:
    """Soft-delete an experiment (restore undoes it)."""
    tracking.delete_experiment(experiment_id)


@router.post("/{experiment_id}/restore", status_code=204)
@allow("experiments.restore", Role.ADMIN, param("experiment", "experiment_id"))
def restore_experiment(experiment_id: str, tracking: Tracking) -> None:
    """Undo a delete."""
    tracking.restore_experiment(experiment_id)
