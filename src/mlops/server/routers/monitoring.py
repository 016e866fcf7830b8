"""``/api/v1/monitoring``: monitored model versions, their window results, and alerts.

Windows close in whatever process logs predictions and land in the metadata database; these
routes read them from there, so the server shows every monitor however many processes feed
them. Alert actions go through ``AlertManager`` (its state rules: a resolved alert cannot be
acknowledged, resolving notifies the configured channels), acting as the caller.

Reads need the viewer role on the model, ack / silence / resolve the editor role on the
alert's model; an alert of no registered model is checked against the global role.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FastApiPath
from pydantic import Field

from mlops.auth.entities import Role, Scope
from mlops.errors import InvalidInputError
from mlops.monitoring.alerts import OPEN
from mlops.monitoring.entities import StoredDetector, WindowResult
from mlops.server import schemas
from mlops.server.dependencies import ServerState, State
from mlops.server.permissions import Args, Caller, acting_user, allow, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/monitoring", tags=["monitoring"])
MODEL = param("model", "name")
ALERT = param("alert", "alert_id")
AlertId = Annotated[int, FastApiPath(ge=1, le=2**31 - 1)]
SCAN = 5000
"""Newest results read to list what is monitored (the Prometheus collector reads as many)."""
STATUSES = ("pending", "firing", "acknowledged", "resolved")


class MonitorSummary(schemas.Response):
    monitor: str
    kind: str
    deployment: str | None
    window_start: float
    window_end: float
    n_rows: int
    flagged: bool
    score: schemas.JsonFloat | None


class DetectorOut(schemas.Response):
    name: str
    sha256: str
    size: int
    updated_at: int


class MonitoredVersion(schemas.Response):
    model: str
    version: int | None
    monitors: list[MonitorSummary]
    detectors: list[DetectorOut]
    open_alerts: int


class MonitoredList(schemas.Response):
    items: list[MonitoredVersion]


class WindowResultOut(MonitorSummary):
    model_name: str | None
    model_version: int | None
    payload: dict[str, Any]
    created_at: int
    updated_at: int


class WindowResultPage(schemas.Response):
    items: list[WindowResultOut]
    next_page_token: str | None = None


class DeliveryOut(schemas.Response):
    id: int
    alert_id: int
    channel: str
    event: str
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None
    delivered_at: float | None = None


class AlertOut(schemas.Response):
    id: int
    fingerprint: str
    group_key: str
    rule: str
    metric: str
    severity: str
    status: str
    message: str
    labels: dict[str, str]
    count: int
    started_at: float
    last_seen_at: float
    value: schemas.JsonFloat | None = None
    threshold: schemas.JsonFloat | None = None
    model_name: str | None = None
    model_version: int | None = None
    deployment: str | None = None
    resolved_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    deliveries: list[DeliveryOut] = Field(default_factory=list)


class AlertList(schemas.Response):
    items: list[AlertOut]


class Acknowledge(schemas.Request):
    user: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class SilenceAlert(schemas.Request):
    duration: Annotated[str, Field(min_length=1, max_length=32)] = "1h"
    comment: Annotated[str, Field(max_length=10_000)] | None = None
    user: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class SilenceOut(schemas.Response):
    id: int
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str | None = None


def _offset(token: str | None) -> int:
    """The offset a page token carries (opaque to clients, like the tracking store's)."""
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise InvalidInputError(f"page_token {token!r} is not one this server issued") from exc
    if not isinstance(offset, int) or not 0 <= offset <= 2**31:
        raise InvalidInputError(f"page_token {token!r} is not one this server issued")
    return offset


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


@router.get("/models", response_model=MonitoredList)
@allow("monitoring.list", None)
def list_monitored(state: State, caller: Caller) -> Any:
    """Every monitored model version the caller may read: the newest window of each of its
    monitors, the drift detectors attached to it, and how many of its alerts are open."""
    readable = caller.readable(Scope.MODEL)
    store = state.monitoring
    versions: dict[tuple[str, int | None], dict[tuple[str, str], WindowResult]] = {}
    for result in store.list_results(limit=SCAN):  # oldest first: the newest wins
        if result.model_name is None or (
            readable is not None and result.model_name not in readable
        ):
            continue
        monitors = versions.setdefault((result.model_name, result.model_version), {})
        monitors[(result.monitor, result.kind)] = result
    detectors: dict[tuple[str, int | None], list[StoredDetector]] = {}
    for detector in store.list_detectors():
        name = detector.model_name
        if name is None or (readable is not None and name not in readable):
            continue
        detectors.setdefault((name, detector.model_version), []).append(detector)
        versions.setdefault((name, detector.model_version), {})
    alerts: dict[tuple[str, int | None], int] = {}
    for alert in store.list_alerts(status=OPEN):
        if alert.model_name is not None:
            key = (alert.model_name, alert.model_version)
            alerts[key] = alerts.get(key, 0) + 1
    items = [
        {
            "model": name,
            "version": version,
            "monitors": [r for _, r in sorted(monitors.items())],
            "detectors": detectors.get((name, version), []),
            "open_alerts": alerts.get((name, version), 0),
        }
        for (name, version), monitors in sorted(
            versions.items(), key=lambda kv: (kv[0][0], -(kv[0][1] or 0))
        )
    ]
    return {"items": items}


@router.get("/models/{name}/results", response_model=WindowResultPage)
@allow("monitoring.results", Role.VIEWER, MODEL)
def list_results(
    name: str,
    state: State,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    kind: Literal["drift", "performance"] | None = None,
    monitor: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    deployment: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: Annotated[str | None, Query(max_length=1024)] = None,
) -> Any:
    """Closed windows of a model (optionally one version, kind, monitor or deployment),
    newest first."""
    offset = _offset(page_token)
    found = state.monitoring.list_results(
        monitor=monitor,
        kind=kind,
        model=name,
        version=version,
        limit=limit + 1,
        offset=offset,
        deployment=deployment,
    )
    newest_first = found[::-1]
    more = len(newest_first) > limit
    return {
        "items": newest_first[:limit],
        "next_page_token": _token(offset + limit) if more else None,
    }


def _alerts_role(args: Args, _state: ServerState) -> Role | None:
    # Alerts of one model: a viewer of it may list them; all alerts: each is filtered below.
    return Role.VIEWER if args.get("model") else None


@router.get("/alerts", response_model=AlertList)
@allow(
    "monitoring.alerts",
    _alerts_role,
    lambda args: [("model", str(args["model"]))] if args.get("model") else [],
)
def list_alerts(
    state: State,
    caller: Caller,
    status: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Alerts, newest first: ``status`` is a comma-separated list (``open`` means pending,
    firing and acknowledged); alerts of models the caller may not read are left out."""
    wanted: list[str] | None = None
    if status:
        wanted = []
        for part in status.split(","):
            names = list(OPEN) if part.strip() == "open" else [part.strip()]
            unknown = [n for n in names if n not in STATUSES]
            if unknown:
                raise InvalidInputError(
                    f"alert status {unknown[0]!r} is not one of open, {', '.join(STATUSES)}"
                )
            wanted.extend(names)
    readable = caller.readable(Scope.MODEL)
    alerts = state.monitoring.list_alerts(status=wanted, model=model, limit=limit)
    return {
        "items": [
            a
            for a in alerts
            if readable is None or (a.model_name is not None and a.model_name in readable)
        ]
    }


@router.get("/alerts/{alert_id}", response_model=AlertOut)
@allow("monitoring.get_alert", Role.VIEWER, ALERT)
def get_alert(alert_id: AlertId, state: State) -> Any:
    """One alert with its deliveries."""
    return state.monitoring.get_alert(alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
@allow("monitoring.acknowledge", Role.EDITOR, ALERT)
def acknowledge_alert(
    alert_id: AlertId, state: State, caller: Caller, body: Acknowledge | None = None
) -> Any:
    """Someone is on it: no further notifications for this episode (409 once resolved)."""
    user = acting_user(caller, (body.user if body else None) or caller.username)
    return state.alerts.acknowledge(alert_id, user=user)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
@allow("monitoring.resolve", Role.EDITOR, ALERT)
def resolve_alert(alert_id: AlertId, state: State) -> Any:
    """End the episode by hand (409 if it already is)."""
    return state.alerts.resolve(alert_id)


@router.post("/alerts/{alert_id}/silence", status_code=201, response_model=SilenceOut)
@allow("monitoring.silence", Role.EDITOR, ALERT)
def silence_alert(alert_id: AlertId, body: SilenceAlert, state: State, caller: Caller) -> Any:
    """Hold back notifications of this alert's series (every alert with its labels) for
    ``duration`` ("30m", "2h"); the alerts are still recorded and listed."""
    alert = state.monitoring.get_alert(alert_id)
    user = acting_user(caller, body.user or caller.username)
    return state.alerts.silence(alert.labels, body.duration, body.comment, user=user)
