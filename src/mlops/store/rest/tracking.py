"""``RestTrackingStore``: the tracking store interface, served by an mlops server."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
from pydantic import TypeAdapter

from mlops.errors import PermissionDeniedError
from mlops.experiments.entities import (
    ArtifactRecord,
    Dataset,
    Experiment,
    MetricHistory,
    Page,
    Run,
    RunStatus,
)
from mlops.experiments.store import MetricRow, TrackingStore
from mlops.server.schemas import encode_float
from mlops.store import process
from mlops.store.rest.client import RestClient

BATCH_POINTS = 50_000
"""Metric points per request: bounds the server's memory per request, not the caller's batch."""

_EXPERIMENT = TypeAdapter(Experiment)
_EXPERIMENTS = TypeAdapter(list[Experiment])
_RUN = TypeAdapter(Run)
_RUNS = TypeAdapter(list[Run])
_DATASET = TypeAdapter(Dataset)
_RECORD = TypeAdapter(ArtifactRecord)
_RECORDS = TypeAdapter(list[ArtifactRecord])
_FLOATS = TypeAdapter(list[float])


class RestTrackingStore(TrackingStore):
    """``TrackingStore`` over HTTP: every call is one request (metric batches a few)."""

    def __init__(self, client: RestClient):
        self.client = client

    def _get(self, path: str, **params: Any) -> Any:
        return self.client.request("GET", path, params=params or None).json()

    # --- experiments ---------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        body = {
            "name": name,
            "artifact_location": artifact_location,
            "description": description,
            "tags": dict(tags) if tags else None,
        }
        response = self.client.request("POST", "/api/v1/experiments", json_body=body, once=True)
        return _EXPERIMENT.validate_python(response.json())

    def get_experiment(self, experiment_id: str) -> Experiment:
        return _EXPERIMENT.validate_python(self._get(f"/api/v1/experiments/{_seg(experiment_id)}"))

    def get_experiment_by_name(self, name: str) -> Experiment:
        return _EXPERIMENT.validate_python(self._get("/api/v1/experiments/by-name", name=name))

    def list_experiments(
        self, include_deleted: bool = False, limit: int = 1000, page_token: str | None = None
    ) -> Page[Experiment]:
        params: dict[str, Any] = {"include_deleted": include_deleted, "limit": limit}
        if page_token:
            params["page_token"] = page_token
        page = self._get("/api/v1/experiments", **params)
        return Page(_EXPERIMENTS.validate_python(page["items"]), page["next_page_token"])

    def delete_experiment(self, experiment_id: str) -> None:
        self.client.request("DELETE", f"/api/v1/experiments/{_seg(experiment_id)}")

    def restore_experiment(self, experiment_id: str) -> None:
        self.client.request("POST", f"/api/v1/experiments/{_seg(experiment_id)}/restore")

    # --- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None,
        user: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "user": user,
            "parent_run_id": parent_run_id,
            "tags": dict(tags) if tags else None,
            # The run belongs to this process, not to the server: its death marks it KILLED.
            "host": host or process.hostname(),
            "pid": os.getpid() if pid is None else pid,
        }
        response = self.client.request("POST", "/api/v1/runs", json_body=body, once=True)
        return _RUN.validate_python(response.json())

    def get_run(self, run_id: str) -> Run:
        return _RUN.validate_python(self._get(f"/api/v1/runs/{_seg(run_id)}"))

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        body = {"run_ids": list(run_ids)}
        response = self.client.request("POST", "/api/v1/runs/get", json_body=body)
        return _RUNS.validate_python(response.json()["items"])

    def resolve_run_id(self, prefix: str) -> str:
        return str(self._get("/api/v1/runs/resolve", prefix=prefix)["run_id"])

    def update_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        error: str | None = None,
    ) -> None:
        body = {"status": RunStatus(status).value, "end_time": end_time, "error": error}
        self.client.request("PATCH", f"/api/v1/runs/{_seg(run_id)}", json_body=body)

    def delete_run(self, run_id: str) -> None:
        self.client.request("DELETE", f"/api/v1/runs/{_seg(run_id)}")

    def restore_run(self, run_id: str) -> None:
        self.client.request("POST", f"/api/v1/runs/{_seg(run_id)}/restore")

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page[Run]:
        body = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "order_by": list(order_by) if order_by is not None else None,
            "max_results": max_results,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        page = self.client.request("POST", "/api/v1/runs/search", json_body=body).json()
        return Page(_RUNS.validate_python(page["items"]), page["next_page_token"])

    def list_child_runs(self, run_id: str) -> list[Run]:
        return _RUNS.validate_python(self._get(f"/api/v1/runs/{_seg(run_id)}/children")["items"])

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            body = {"run_ids": list(run_ids)}
            self.client.request("POST", "/api/v1/runs/heartbeat", json_body=body)

    def mark_dead_runs(self, stale_after_ms: int) -> list[str]:
        body = {"stale_after_ms": stale_after_ms}
        try:
            response = self.client.request("POST", "/api/v1/runs/mark-dead", json_body=body)
        except PermissionDeniedError:
            # Opening the stores asks this of every client; on a server with --auth only global
            # editors may, and anyone else's client simply leaves it to them.
            return []
        return [str(r) for r in response.json()["run_ids"]]

    # --- run data ------------------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if params:
            body = {"params": dict(params)}
            self.client.request("POST", f"/api/v1/runs/{_seg(run_id)}/params", json_body=body)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if tags:
            body = {"tags": dict(tags)}
            self.client.request("POST", f"/api/v1/runs/{_seg(run_id)}/tags", json_body=body)

    def log_metric_rows(self, rows: Sequence[MetricRow]) -> None:
        # No idempotency key: a point's identity is all of its fields, so the server ignores
        # points it already has and a re-sent batch is a no-op by itself.
        for start in range(0, len(rows), BATCH_POINTS):
            body = metric_batch(rows[start : start + BATCH_POINTS])
            self.client.request("POST", "/api/v1/metrics/batch", json_body=body)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        data = self._get("/api/v1/metrics/history", run_id=run_id, key=key)
        return MetricHistory(
            key,
            np.asarray(data["steps"], dtype=np.int64),
            np.asarray(data["timestamps"], dtype=np.int64),
            np.asarray(_FLOATS.validate_python(data["values"]), dtype=np.float64),
        )

    def log_input(self, run_id: str, dataset: Dataset, context: str) -> Dataset:
        body = {"dataset": dataclasses.asdict(dataset), "context": context}
        response = self.client.request(
            "POST", f"/api/v1/runs/{_seg(run_id)}/inputs", json_body=body
        )
        return _DATASET.validate_python(response.json())

    def record_artifact(self, record: ArtifactRecord) -> None:
        self.record_artifacts([record])

    def record_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        if records:
            body = {"records": [dataclasses.asdict(r) for r in records]}
            self.client.request("POST", "/api/v1/artifact-records", json_body=body)

    def get_artifact(self, uri: str) -> ArtifactRecord:
        return _RECORD.validate_python(self._get("/api/v1/artifact-records", uri=uri))

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        return _RECORDS.validate_python(
            self._get(f"/api/v1/runs/{_seg(run_id)}/artifacts")["items"]
        )

    def close(self) -> None:
        self.client.close()


def metric_batch(rows: Sequence[MetricRow]) -> dict[str, Any]:
    """Rows as the batch endpoint's columns, run ids and keys sent once each."""
    runs: dict[str, int] = {}
    keys: dict[str, int] = {}
    return {
        "run": [runs.setdefault(row[0], len(runs)) for row in rows],
        "key": [keys.setdefault(row[1], len(keys)) for row in rows],
        "value": [v if math.isfinite(v) else encode_float(v) for v in (row[2] for row in rows)],
        "step": [row[3] for row in rows],
        "timestamp": [row[4] for row in rows],
        "runs": list(runs),
        "keys": list(keys),
    }


def _seg(value: str) -> str:
    """``value`` as one URL path segment, percent-encoded."""
    return quote(str(value), safe="")
