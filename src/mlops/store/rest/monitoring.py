"""``RestMonitoringStore``: the monitoring store interface, served by an mlops server.

Each method is one request (big batches a few) through the shared ``RestClient``, which
retries transient failures with backoff. A retried write counts once: chunks are keyed by their
sequence number, predictions by id and results by window on the server, and the appends that
are not idempotent by themselves (alerts, deliveries, silences, claims) carry an
``Idempotency-Key``. So a row the server acknowledged is never lost or doubled by a retry, and
one it never acknowledged makes the call raise (``BackendUnavailableError``), which the
streaming writer answers by keeping the rows queued and trying again.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from mlops.models.entities import ModelVersion
from mlops.monitoring.entities import (
    Alert,
    Delivery,
    PredictionBatch,
    PredictionRow,
    Silence,
    StoredDetector,
    WindowResult,
)
from mlops.monitoring.store import MonitoringStore
from mlops.store.rest.client import RestClient

BATCH_ROWS = 10_000
"""Predictions or labels per request: bounds the server's memory per request."""
BATCH_BYTES = 8 * 1024**2
"""Chunk payload bytes per request (base64 makes it a third bigger on the wire)."""
PREFIX = "/api/v1/monitoring"

_ALERT = TypeAdapter(Alert)
_RESULTS = TypeAdapter(list[WindowResult])
_PREDICTIONS = TypeAdapter(list[PredictionRow])
_DELIVERIES = TypeAdapter(list[Delivery])
_SILENCE = TypeAdapter(Silence)
_SILENCES = TypeAdapter(list[Silence])
_DETECTORS = TypeAdapter(list[StoredDetector])


class RestMonitoringStore(MonitoringStore):
    """``MonitoringStore`` over HTTP (see the module docstring)."""

    def __init__(self, client: RestClient):
        self.client = client
        self._models: dict[str, str] = {}

    def register_monitor(self, monitor: str, model: str | None) -> None:
        if model is not None:
            self._models[monitor] = model

    def _monitor(self, monitor: str) -> tuple[str, dict[str, Any]]:
        """The monitor's path and the ``model`` parameter the server checks permissions on."""
        model = self._models.get(monitor)
        return f"{PREFIX}/monitors/{_seg(monitor)}", ({"model": model} if model else {})

    def _get(self, path: str, **params: Any) -> Any:
        wanted = {k: v for k, v in params.items() if v is not None}
        return self.client.request("GET", path, params=wanted or None).json()

    def resolve_version(
        self, model_version: ModelVersion | str | None
    ) -> tuple[str | None, int | None]:
        if model_version is None:
            return None, None
        if isinstance(model_version, ModelVersion):
            return model_version.name, model_version.version
        found = self._get(f"{PREFIX}/resolve", ref=str(model_version))
        return found["model"], found["version"]

    # --- detectors -----------------------------------------------------------------------------

    def save_detector(self, name: str, model: str | None, version: int | None, blob: bytes) -> None:
        body = {"model": model, "version": version, "blob": _enc(blob)}
        self.client.request("PUT", f"{PREFIX}/detectors/{_seg(name)}", json_body=body)

    def get_detector(
        self, model: str | None, version: int | None, name: str | None = None
    ) -> tuple[str, bytes]:
        found = self._get(f"{PREFIX}/detector", model=model, version=version, name=name)
        return str(found["name"]), base64.b64decode(found["blob"])

    def list_detectors(self, model: str | None = None) -> list[StoredDetector]:
        return _DETECTORS.validate_python(self._get(f"{PREFIX}/detectors", model=model)["items"])

    # --- open windows --------------------------------------------------------------------------

    def create_chunks(self, monitor: str, chunks: Sequence[tuple[int, float, int, bytes]]) -> None:
        if not chunks:
            return
        path, params = self._monitor(monitor)
        # Requests of at most ~BATCH_BYTES (the server refuses big bodies); each chunk keeps its
        # seq, so a batch the server took before a later one failed is not counted twice.
        batch: list[dict[str, Any]] = []
        size = 0
        for seq, start, n, payload in chunks:
            if batch and size + len(payload) > BATCH_BYTES:
                self._send_chunks(path, params, batch)
                batch, size = [], 0
            batch.append({"seq": seq, "window_start": start, "n_rows": n, "payload": _enc(payload)})
            size += len(payload)
        self._send_chunks(path, params, batch)

    def _send_chunks(self, path: str, params: dict[str, Any], batch: list[dict[str, Any]]) -> None:
        self.client.request("POST", f"{path}/chunks", params=params, json_body={"chunks": batch})

    def list_chunks(self, monitor: str) -> list[tuple[int, float, bytes]]:
        path, params = self._monitor(monitor)
        items = self._get(f"{path}/chunks", **params)["items"]
        return [
            (int(c["seq"]), float(c["window_start"]), base64.b64decode(c["payload"])) for c in items
        ]

    # --- results -------------------------------------------------------------------------------

    def create_result(self, result: WindowResult, delete_chunks_through: int | None = None) -> None:
        values = asdict(result)
        del values["created_at"], values["updated_at"]
        if values["score"] is not None and not math.isfinite(values["score"]):
            values["score"] = None
        body = {"result": values, "delete_chunks_through": delete_chunks_through}
        self.client.request("POST", f"{PREFIX}/results", json_body=body)

    def list_results(
        self,
        monitor: str | None = None,
        kind: str | None = None,
        model: str | None = None,
        version: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        deployment: str | None = None,
    ) -> list[WindowResult]:
        if model is None and monitor is not None:
            model = self._models.get(monitor)
        found = self._get(
            f"{PREFIX}/results",
            monitor=monitor,
            kind=kind,
            model=model,
            version=version,
            deployment=deployment,
            limit=limit,
            offset=offset,
        )
        return _RESULTS.validate_python(found["items"])

    # --- predictions ---------------------------------------------------------------------------

    def create_predictions(self, monitor: str, batch: PredictionBatch) -> None:
        path, params = self._monitor(monitor)
        for start in range(0, len(batch), BATCH_ROWS):
            rows = batch.slice(start, start + BATCH_ROWS).rows()
            body = {"rows": [_finite(asdict(r)) for r in rows]}
            self.client.request("POST", f"{path}/predictions", params=params, json_body=body)

    def update_labels(
        self, monitor: str, labels: Sequence[tuple[str, float]], at: float
    ) -> list[float]:
        path, params = self._monitor(monitor)
        windows: set[float] = set()
        for start in range(0, len(labels), BATCH_ROWS):
            part = labels[start : start + BATCH_ROWS]
            body = {"ids": [i for i, _ in part], "labels": [v for _, v in part], "at": at}
            response = self.client.request("POST", f"{path}/labels", params=params, json_body=body)
            windows.update(float(w) for w in response.json()["windows"])
        return sorted(windows)

    def list_predictions(self, monitor: str, window_start: float) -> list[PredictionRow]:
        path, params = self._monitor(monitor)
        found = self._get(f"{path}/predictions", window_start=window_start, **params)
        return _PREDICTIONS.validate_python(found["items"])

    def list_monitors(self, model: str) -> list[str]:
        return [str(name) for name in self._get(f"{PREFIX}/monitors", model=model)["names"]]

    def list_prediction_windows(self, monitor: str) -> list[float]:
        path, params = self._monitor(monitor)
        return [float(w) for w in self._get(f"{path}/windows", **params)["windows"]]

    # --- alerts --------------------------------------------------------------------------------

    def get_open_alert(self, fingerprint: str, model: str | None = None) -> Alert | None:
        found = self._get(f"{PREFIX}/open-alert", fingerprint=fingerprint, model=model)["alert"]
        return None if found is None else _ALERT.validate_python(found)

    def create_alert(self, values: dict[str, Any]) -> Alert:
        response = self.client.request(
            "POST", f"{PREFIX}/alerts", json_body=_finite(values), once=True
        )
        return _ALERT.validate_python(response.json())

    def update_alert(self, alert_id: int, **values: Any) -> Alert:
        response = self.client.request(
            "PATCH", f"{PREFIX}/alerts/{alert_id}", json_body=_finite(values)
        )
        return _ALERT.validate_python(response.json())

    def get_alert(self, alert_id: int) -> Alert:
        return _ALERT.validate_python(self._get(f"{PREFIX}/alerts/{alert_id}"))

    def list_alerts(
        self, status: Sequence[str] | None = None, model: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        found = self._get(
            f"{PREFIX}/alerts",
            status=",".join(status) if status else None,
            model=model,
            limit=limit,
        )
        return [_ALERT.validate_python(a) for a in found["items"]]

    def create_deliveries(
        self, alert_id: int, channels: Sequence[str], event: str, at: float
    ) -> None:
        if channels:
            body = {"channels": list(channels), "event": event, "at": at}
            self.client.request(
                "POST", f"{PREFIX}/alerts/{alert_id}/deliveries", json_body=body, once=True
            )

    def list_due_deliveries(self, at: float, limit: int = 100) -> list[Delivery]:
        found = self._get(f"{PREFIX}/deliveries/due", at=at, limit=limit)
        return _DELIVERIES.validate_python(found["items"])

    def claim_deliveries(self, at: float, lease: float, limit: int = 100) -> list[Delivery]:
        body = {"at": at, "lease": lease, "limit": limit}
        response = self.client.request(
            "POST", f"{PREFIX}/deliveries/claim", json_body=body, once=True
        )
        return _DELIVERIES.validate_python(response.json()["items"])

    def update_delivery(self, delivery_id: int, **values: Any) -> None:
        self.client.request(
            "PATCH", f"{PREFIX}/deliveries/{delivery_id}", json_body=_finite(values)
        )

    def create_silence(
        self,
        matchers: dict[str, str],
        starts_at: float,
        ends_at: float,
        user: str,
        comment: str | None,
    ) -> Silence:
        body = {
            "matchers": matchers,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "user": user,
            "comment": comment,
        }
        response = self.client.request("POST", f"{PREFIX}/silences", json_body=body, once=True)
        return _SILENCE.validate_python(response.json())

    def list_silences(self, active_at: float | None = None) -> list[Silence]:
        return _SILENCES.validate_python(
            self._get(f"{PREFIX}/silences", active_at=active_at)["items"]
        )

    # --- alert rules ---------------------------------------------------------------------------

    def create_rule(self, name: str, spec: dict[str, Any]) -> None:
        body = {k: v for k, v in spec.items() if k != "name"}
        self.client.request("PUT", f"{PREFIX}/rules/{_seg(name)}", json_body=body)

    def list_rules(self, model: str | None = None) -> list[dict[str, Any]]:
        return list(self._get(f"{PREFIX}/rules", model=model)["items"])

    def delete_rule(self, name: str) -> None:
        self.client.request("DELETE", f"{PREFIX}/rules/{_seg(name)}")


def _enc(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with non-finite floats as null: the server stores only finite numbers."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


def _seg(value: str) -> str:
    """``value`` as one URL path segment, percent-encoded."""
    return quote(str(value), safe="")
