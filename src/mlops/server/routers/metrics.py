"""``/api/v1/metrics``: batched ingestion and one metric's history, both as columns."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.auth.entities import Role
from mlops.experiments.store import MetricRow
from mlops.server import schemas
from mlops.server.dependencies import Tracking
from mlops.server.permissions import allow, in_body, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/metrics", tags=["metrics"])


@router.post("/batch", status_code=204)
@allow("metrics.log_batch", Role.EDITOR, in_body("run", lambda b: b.runs))
def log_metric_batch(body: schemas.MetricBatch, tracking: Tracking) -> None:
    """Write metric points in one transaction; re-sending the same points is a no-op."""
    runs, keys = body.runs, body.keys
    rows: list[MetricRow] = [
        (runs[r], keys[k], v, s, ts)
        for r, k, v, s, ts in zip(
            body.run, body.key, body.value, body.step, body.timestamp, strict=True
        )
    ]
    tracking.log_metric_rows(rows)


@router.get("/history", response_model=schemas.MetricHistory)
@allow("metrics.history", Role.VIEWER, param("run", "run_id"))
def get_metric_history(
    tracking: Tracking,
    run_id: Annotated[str, Query(min_length=1, max_length=32)],
    key: Annotated[str, Query(min_length=1, max_length=250)],
) -> Any:
    """Every point of one metric of one run, ordered by step then timestamp."""
    history = tracking.get_metric_history(run_id, key)
    return schemas.MetricHistory(
        key=history.key,
        steps=history.steps.tolist(),
        timestamps=history.timestamps.tolist(),
        values=history.values.tolist(),
    )
