"""``/api/v1/experiments``: create, look up, list, delete and restore experiments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.server import schemas
from mlops.server.dependencies import Idempotent, Tracking
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/experiments", tags=["experiments"])


@router.post("", status_code=201, response_model=schemas.Experiment)
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
def list_experiments(
    tracking: Tracking,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    page_token: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Experiments, newest first, a page at a time."""
    return tracking.list_experiments(include_deleted, limit, page_token)


@router.get("/by-name", response_model=schemas.Experiment)
def get_experiment_by_name(
    tracking: Tracking, name: Annotated[str, Query(min_length=1, max_length=256)]
) -> Any:
    """The experiment with this name."""
    return tracking.get_experiment_by_name(name)


@router.get("/{experiment_id}", response_model=schemas.Experiment)
def get_experiment(experiment_id: str, tracking: Tracking) -> Any:
    """The experiment with this id."""
    return tracking.get_experiment(experiment_id)


@router.delete("/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, tracking: Tracking) -> None:
    """Soft-delete an experiment (restore undoes it)."""
    tracking.delete_experiment(experiment_id)


@router.post("/{experiment_id}/restore", status_code=204)
def restore_experiment(experiment_id: str, tracking: Tracking) -> None:
    """Undo a delete."""
    tracking.restore_experiment(experiment_id)
