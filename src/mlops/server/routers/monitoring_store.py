"""``/api/v1/monitoring/...`` writes: the monitoring store, served to remote monitors.

A ``ModelMonitor`` (or ``DriftDetector``, ``PerformanceMonitor``, ``AlertManager``) in a
process whose tracking URI is this server keeps its windows, predictions, results and alerts
here through ``RestMonitoringStore``; each route is one method of ``MonitoringStore``.

Permissions: writes need the editor role on the model the data belongs to (a monitor's routes
take ``model``; without it, or for a label that is no registered model, the global role
counts), reads the viewer role. Delivering notifications works across models, so claiming and
updating deliveries needs the global editor role.

Retries: appends that are not idempotent by themselves (alerts, deliveries, silences, claims)
take an ``Idempotency-Key``; the rest are idempotent (a chunk's key is its sequence number,
a prediction's its id, a result's its window), so a retried batch counts once either way.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FastApiPath
from pydantic import Field

from mlops.auth.entities import Principal, Role, Scope
from mlops.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from mlops.monitoring.entities import PredictionBatch, PredictionRow, WindowResult
from mlops.server import schemas
from mlops.server.dependencies import Idempotent, ServerState, State
from mlops.server.permissions import Args, Caller, allow, in_body, param
from mlops.server.routers import API_PREFIX
from mlops.server.routers.monitoring import ALERT, AlertId, AlertOut

router = APIRouter(prefix=f"{API_PREFIX}/monitoring", tags=["monitoring"])

Finite = Annotated[float, Field(allow_inf_nan=False)]
Monitor = Annotated[str, FastApiPath(min_length=1, max_length=256)]
ModelQuery = Annotated[str | None, Query(min_length=1, max_length=256)]
Version = Annotated[int | None, Field(ge=0, le=2**31 - 1)]
Labels = Annotated[dict[Annotated[str, Field(max_length=256)], schemas.Text], Field(max_length=100)]
MAX_ROWS = 50_000
"""Rows one request may carry (the client splits bigger batches)."""


def _model(args: Args) -> list[tuple[str, str]]:
    """The model a monitor route names (none: checked against the global role)."""
    model = args.get("model")
    return [("model", str(model))] if model else []


def _owned(state: ServerState, monitor: str, model: str | None, write: bool = False) -> None:
    """Refuse a caller that reaches a monitor through a model it does not belong to.

    The role was checked on the model the caller named; monitor names are global, so the
    monitor must belong to that model. The first write naming a model binds the name (a local
    monitor binds it when it starts); a read never binds, so a reader cannot claim a name
    before its writer. Without a model the global role was checked, which covers them all.
    """
    if model is None:
        return
    store = state.monitoring
    if write and store.monitor_owner(monitor) is None:
        foreign = _foreign_name(state, monitor, model)
        if foreign is not None:
            raise PermissionDeniedError(
                f"monitor {monitor!r} is named for model {foreign!r}, not {model!r}; give this "
                "model's monitor a name of its own"
            )
    owner = store.bind_monitor(monitor, model) if write else store.monitor_owner(monitor)
    if owner is not None and owner != model:
        raise PermissionDeniedError(
            f"monitor {monitor!r} belongs to model {owner!r}, not {model!r}; give this model's "
            "monitor a name of its own"
        )


_NAMED_VERSION = re.compile(r"^(?P<model>.+)-v\d+(?:-|@|$)")
"""How ``ModelMonitor`` names a version's monitors: ``churn-v3-drift``, ``churn-v3-performance``."""


def _foreign_name(state: ServerState, monitor: str, model: str) -> str | None:
    """The registered model a monitor's name says it watches, when that is not ``model``: such
    a name is refused before it is bound, so nobody claims another model's monitor early."""
    found = _NAMED_VERSION.match(monitor)
    if found is None or found["model"] == model:
        return None
    try:
        state.stores.registry.get_registered_model(found["model"])
    except NotFoundError:
        return None
    return found["model"]


def _replacing(caller: Principal, kind: str, name: str, existing: Any, model: str | None) -> None:
    """Replacing a named detector or rule needs the editor role on the model it belongs to now
    (the global role for one of no model), not only on the model the new body names."""
    if existing is None:
        return
    owner = existing if isinstance(existing, str) else None
    if owner == model:
        return
    if owner is None and caller.can(Role.EDITOR):
        return
    if owner is not None and caller.can(Role.EDITOR, Scope.MODEL, owner):
        return
    where = f"model {owner!r}" if owner else "no model (the global role counts)"
    raise PermissionDeniedError(
        f"{kind} {name!r} belongs to {where}; replacing it needs the editor role there, or "
        "give yours another name"
    )


def _model_of_ref(ref: str) -> str:
    """The model a version reference names: "churn" of "churn/3" or "models:/churn/3"."""
    return ref.removeprefix("models:/").split("/")[0]


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidInputError(f"{what} is not base64: {exc}") from exc


def _enc(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


# --- models ------------------------------------------------------------------------------------


class ResolvedVersion(schemas.Response):
    model: str | None
    version: int | None


@router.get("/resolve", response_model=ResolvedVersion)
@allow("monitoring.resolve_version", Role.VIEWER, lambda a: [("model", _model_of_ref(a["ref"]))])
def resolve_version(state: State, ref: Annotated[str, Query(min_length=1, max_length=600)]) -> Any:
    """(model, version) of "name/3", "models:/name/3", a registered name (its newest version),
    or an unregistered label (version null)."""
    model, version = state.monitoring.resolve_version(ref)
    return {"model": model, "version": version}


# --- detectors ---------------------------------------------------------------------------------


class SaveDetector(schemas.Request):
    model: schemas.Name | None = None
    version: Version = None
    blob: Annotated[str, Field(max_length=64 * 1024**2)]


class DetectorBlob(schemas.Response):
    name: str
    blob: str


class StoredDetectorOut(schemas.Response):
    name: str
    model_name: str | None
    model_version: int | None
    sha256: str
    size: int
    created_at: int
    updated_at: int


class StoredDetectorList(schemas.Response):
    items: list[StoredDetectorOut]


@router.put("/detectors/{name}", status_code=204)
@allow("monitoring.save_detector", Role.EDITOR, in_body("model", lambda b: b.model))
def save_detector(name: Monitor, body: SaveDetector, state: State, caller: Caller) -> None:
    """Create or replace a stored drift detector (``blob``: its ``to_bytes()``, base64)."""
    current = {d.name: d for d in state.monitoring.list_detectors(None)}.get(name)
    existing = None if current is None else (current.model_name or True)
    _replacing(caller, "detector", name, existing, body.model)
    state.monitoring.save_detector(name, body.model, body.version, _b64(body.blob, "blob"))


@router.get("/detector", response_model=DetectorBlob)
@allow("monitoring.get_detector", Role.VIEWER, _model)
def get_detector(
    state: State,
    model: ModelQuery = None,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    name: ModelQuery = None,
) -> Any:
    """The detector named, or the newest one attached to ``model``/``version`` (blob base64)."""
    # The role was checked on ``model``: a detector named with it must be that model's.
    if (
        name is not None
        and model is not None
        and name not in {d.name for d in state.monitoring.list_detectors(model)}
    ):
        raise NotFoundError(f"model {model!r} has no drift detector named {name!r}")
    found, blob = state.monitoring.get_detector(model, version, name)
    return {"name": found, "blob": _enc(blob)}


class MonitorNames(schemas.Response):
    names: list[str]


@router.get("/monitors", response_model=MonitorNames)
@allow("monitoring.list_monitors", Role.VIEWER, _model)
def list_monitors(state: State, model: Annotated[str, Query(min_length=1, max_length=256)]) -> Any:
    """The names of the monitors bound to ``model`` (a tagged monitor per serving worker)."""
    return {"names": state.monitoring.list_monitors(model)}


@router.get("/detectors", response_model=StoredDetectorList)
@allow("monitoring.list_detectors", None)
def list_detectors(state: State, caller: Caller, model: ModelQuery = None) -> Any:
    """Saved detectors (of the models the caller may read)."""
    readable = caller.readable(Scope.MODEL)
    found = state.monitoring.list_detectors(model)
    return {
        "items": [
            d
            for d in found
            if readable is None or (d.model_name is not None and d.model_name in readable)
        ]
    }


# --- open windows ------------------------------------------------------------------------------


class Chunk(schemas.Request):
    seq: schemas.Int64
    window_start: Finite
    n_rows: schemas.Int32
    payload: Annotated[str, Field(max_length=64 * 1024**2)]


class CreateChunks(schemas.Request):
    chunks: Annotated[list[Chunk], Field(max_length=MAX_ROWS)]


class ChunkOut(schemas.Response):
    seq: int
    window_start: float
    payload: str


class ChunkList(schemas.Response):
    items: list[ChunkOut]


@router.post("/monitors/{monitor}/chunks", status_code=204)
@allow("monitoring.create_chunks", Role.EDITOR, _model)
def create_chunks(
    monitor: Monitor, body: CreateChunks, state: State, model: ModelQuery = None
) -> None:
    """Append rows of an open window (a chunk already stored under its seq is kept as is, so
    a retried batch counts once)."""
    _owned(state, monitor, model, write=True)
    chunks = [(c.seq, c.window_start, c.n_rows, _b64(c.payload, "payload")) for c in body.chunks]
    if len({c[0] for c in chunks}) != len(chunks):
        raise InvalidInputError("chunks repeat a seq; each chunk of a monitor has its own")
    state.monitoring.create_chunks(monitor, chunks)


@router.get("/monitors/{monitor}/chunks", response_model=ChunkList)
@allow("monitoring.list_chunks", Role.VIEWER, _model)
def list_chunks(monitor: Monitor, state: State, model: ModelQuery = None) -> Any:
    """Every stored chunk of the monitor's open window, by seq."""
    _owned(state, monitor, model)
    chunks = state.monitoring.list_chunks(monitor)
    return {"items": [{"seq": s, "window_start": w, "payload": _enc(p)} for s, w, p in chunks]}


# --- results -----------------------------------------------------------------------------------


class ResultIn(schemas.Request):
    monitor: schemas.Name
    kind: Literal["drift", "performance"]
    model_name: schemas.Name | None = None
    model_version: Version = None
    deployment: schemas.Name | None = None
    window_start: Finite
    window_end: Finite
    n_rows: schemas.Int32
    flagged: bool
    score: Finite | None = None
    payload: dict[str, Any]


class CreateResult(schemas.Request):
    result: ResultIn
    delete_chunks_through: schemas.Int64 | None = None


class ResultOut(schemas.Response):
    monitor: str
    kind: str
    model_name: str | None
    model_version: int | None
    deployment: str | None
    window_start: float
    window_end: float
    n_rows: int
    flagged: bool
    score: schemas.JsonFloat | None = None
    payload: dict[str, Any]
    created_at: int
    updated_at: int


class ResultList(schemas.Response):
    items: list[ResultOut]


@router.post("/results", status_code=204)
@allow("monitoring.create_result", Role.EDITOR, in_body("model", lambda b: b.result.model_name))
def create_result(body: CreateResult, state: State) -> None:
    """Store (or replace) a closed window's result, deleting its chunks in the same
    transaction."""
    result = WindowResult(**body.result.model_dump(), created_at=0, updated_at=0)
    _owned(state, result.monitor, result.model_name, write=True)
    state.monitoring.create_result(result, body.delete_chunks_through)


@router.get("/results", response_model=ResultList)
@allow("monitoring.list_results", Role.VIEWER, _model)
def list_window_results(
    state: State,
    monitor: ModelQuery = None,
    kind: Literal["drift", "performance"] | None = None,
    model: ModelQuery = None,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    deployment: ModelQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Any:
    """Results, oldest window first: the newest ``limit`` after skipping the newest
    ``offset`` (without ``model``, the global viewer role is needed)."""
    found = state.monitoring.list_results(
        monitor=monitor,
        kind=kind,
        model=model,
        version=version,
        limit=limit,
        offset=offset,
        deployment=deployment,
    )
    return {"items": found}


# --- predictions -------------------------------------------------------------------------------


class PredictionIn(schemas.Request):
    prediction_id: Annotated[str, Field(min_length=1, max_length=128)]
    window_start: Finite
    predicted_at: Finite
    prediction: Finite | None = None
    score: Finite | None = None
    label: Finite | None = None
    latency: Finite | None = None
    error: bool = False


class CreatePredictions(schemas.Request):
    rows: Annotated[list[PredictionIn], Field(max_length=MAX_ROWS)]


class PredictionOut(schemas.Response):
    prediction_id: str
    window_start: float
    predicted_at: float
    prediction: schemas.JsonFloat | None = None
    score: schemas.JsonFloat | None = None
    label: schemas.JsonFloat | None = None
    latency: schemas.JsonFloat | None = None
    error: bool


class PredictionList(schemas.Response):
    items: list[PredictionOut]


class UpdateLabels(schemas.Request):
    ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=MAX_ROWS)
    ]
    labels: Annotated[list[Finite], Field(max_length=MAX_ROWS)]
    at: Finite


class WindowStarts(schemas.Response):
    windows: list[float]


@router.post("/monitors/{monitor}/predictions", status_code=204)
@allow("monitoring.create_predictions", Role.EDITOR, _model)
def create_predictions(
    monitor: Monitor, body: CreatePredictions, state: State, model: ModelQuery = None
) -> None:
    """Insert predictions (an id logged again replaces its row, so a retry counts once)."""
    _owned(state, monitor, model, write=True)
    batch = PredictionBatch.from_rows(PredictionRow(**r.model_dump()) for r in body.rows)
    state.monitoring.create_predictions(monitor, batch)  # a repeated id: the later row wins


@router.post("/monitors/{monitor}/labels", response_model=WindowStarts)
@allow("monitoring.update_labels", Role.EDITOR, _model)
def update_labels(
    monitor: Monitor, body: UpdateLabels, state: State, model: ModelQuery = None
) -> Any:
    """Set labels by prediction id; returns the starts of the windows that changed."""
    _owned(state, monitor, model, write=True)
    if len(body.ids) != len(body.labels):
        raise InvalidInputError(f"{len(body.ids)} ids for {len(body.labels)} labels")
    pairs = list(zip(body.ids, body.labels, strict=True))
    return {"windows": state.monitoring.update_labels(monitor, pairs, body.at)}


@router.get("/monitors/{monitor}/predictions", response_model=PredictionList)
@allow("monitoring.list_predictions", Role.VIEWER, _model)
def list_predictions(
    monitor: Monitor,
    state: State,
    window_start: Annotated[float, Query(allow_inf_nan=False)],
    model: ModelQuery = None,
) -> Any:
    """Every prediction of one window."""
    _owned(state, monitor, model)
    return {"items": state.monitoring.list_predictions(monitor, window_start)}


@router.get("/monitors/{monitor}/windows", response_model=WindowStarts)
@allow("monitoring.list_prediction_windows", Role.VIEWER, _model)
def list_prediction_windows(monitor: Monitor, state: State, model: ModelQuery = None) -> Any:
    """Window starts that hold predictions."""
    _owned(state, monitor, model)
    return {"windows": state.monitoring.list_prediction_windows(monitor)}


# --- alerts ------------------------------------------------------------------------------------


class CreateAlert(schemas.Request):
    fingerprint: Annotated[str, Field(min_length=1, max_length=64)]
    rule: schemas.Name
    metric: Annotated[str, Field(min_length=1, max_length=128)]
    severity: Literal["info", "warning", "critical"]
    status: Literal["pending", "firing", "acknowledged", "resolved"]
    model_name: schemas.Name | None = None
    model_version: Version = None
    deployment: schemas.Name | None = None
    group_key: Annotated[str, Field(max_length=512)]
    value: Finite | None = None
    threshold: Finite | None = None
    message: schemas.Text
    labels: Labels
    count: schemas.Int32
    started_at: Finite
    last_seen_at: Finite


class UpdateAlert(schemas.Request):
    status: Literal["pending", "firing", "acknowledged", "resolved"] | None = None
    value: Finite | None = None
    count: schemas.Int32 | None = None
    last_seen_at: Finite | None = None
    resolved_at: Finite | None = None
    acked_by: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    acked_at: Finite | None = None


class OpenAlert(schemas.Response):
    alert: AlertOut | None


class CreateDeliveries(schemas.Request):
    channels: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=100)
    ]
    event: Literal["firing", "resolved"]
    at: Finite


class DeliveryFull(schemas.Response):
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


class DeliveryList(schemas.Response):
    items: list[DeliveryFull]


class ClaimDeliveries(schemas.Request):
    at: Finite
    lease: Annotated[float, Field(ge=0, le=86_400 * 365, allow_inf_nan=False)]
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100


class UpdateDelivery(schemas.Request):
    status: Literal["pending", "delivered", "failed"] | None = None
    attempts: schemas.Int32 | None = None
    last_error: schemas.Text | None = None
    next_attempt_at: Finite | None = None
    delivered_at: Finite | None = None


class CreateSilence(schemas.Request):
    matchers: Annotated[Labels, Field(min_length=1)]
    starts_at: Finite
    ends_at: Finite
    user: Annotated[str, Field(min_length=1, max_length=128)]
    comment: Annotated[str, Field(max_length=10_000)] | None = None


class SilenceFull(schemas.Response):
    id: int
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str | None = None


class SilenceList(schemas.Response):
    items: list[SilenceFull]


@router.get("/open-alert", response_model=OpenAlert)
@allow("monitoring.get_open_alert", Role.VIEWER, _model)
def get_open_alert(
    state: State,
    fingerprint: Annotated[str, Query(min_length=1, max_length=64)],
    model: ModelQuery = None,
) -> Any:
    """The unresolved alert with this fingerprint (``alert`` null if none); ``model`` is the
    model its rule watched (without it, the global role counts)."""
    alert = state.monitoring.get_open_alert(fingerprint)
    if alert is not None and model is not None and alert.model_name != model:
        alert = None  # another model's alert: the caller was not checked against it
    return {"alert": alert}


@router.post("/alerts", status_code=201, response_model=AlertOut)
@allow("monitoring.create_alert", Role.EDITOR, in_body("model", lambda b: b.model_name))
def create_alert_row(body: CreateAlert, state: State, once: Idempotent) -> Any:
    """Insert an alert episode (what an ``AlertManager`` does when a rule starts to hold)."""
    return once(body, AlertOut, 201, lambda: state.monitoring.create_alert(body.model_dump()))


@router.patch("/alerts/{alert_id}", response_model=AlertOut)
@allow("monitoring.update_alert", Role.EDITOR, ALERT)
def update_alert(alert_id: AlertId, body: UpdateAlert, state: State) -> Any:
    """Change an alert's columns (only those sent)."""
    state.monitoring.get_alert(alert_id)
    values = body.model_dump(exclude_unset=True)
    if not values:
        return state.monitoring.get_alert(alert_id)
    return state.monitoring.update_alert(alert_id, **values)


@router.post("/alerts/{alert_id}/deliveries", status_code=204, response_model=None)
@allow("monitoring.create_deliveries", Role.EDITOR, ALERT)
def create_deliveries(
    alert_id: AlertId, body: CreateDeliveries, state: State, once: Idempotent
) -> Any:
    """Queue one notification of the alert per channel."""
    state.monitoring.get_alert(alert_id)
    return once(
        body,
        None,
        204,
        lambda: state.monitoring.create_deliveries(alert_id, body.channels, body.event, body.at),
    )


def _global_editor(_args: Args, _state: Any) -> Role:
    return Role.EDITOR


@router.get("/deliveries/due", response_model=DeliveryList)
@allow("monitoring.list_due_deliveries", Role.VIEWER)
def list_due_deliveries(
    state: State,
    at: Annotated[float, Query(allow_inf_nan=False)],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Any:
    """Pending deliveries whose next attempt is due."""
    return {"items": state.monitoring.list_due_deliveries(at, limit)}


@router.post("/deliveries/claim", response_model=DeliveryList)
@allow("monitoring.claim_deliveries", _global_editor)
def claim_deliveries(body: ClaimDeliveries, state: State, once: Idempotent) -> Any:
    """Due deliveries, each reserved for ``lease`` seconds for the caller to send."""
    return once(
        body,
        DeliveryList,
        200,
        lambda: {"items": state.monitoring.claim_deliveries(body.at, body.lease, body.limit)},
    )


@router.patch("/deliveries/{delivery_id}", status_code=204)
@allow("monitoring.update_delivery", _global_editor)
def update_delivery(
    delivery_id: Annotated[int, FastApiPath(ge=1, le=2**31 - 1)],
    body: UpdateDelivery,
    state: State,
) -> None:
    """Record a send attempt's outcome (only the fields sent)."""
    values = body.model_dump(exclude_unset=True)
    if not values:
        raise InvalidInputError("nothing to update: send at least one of the delivery's fields")
    state.monitoring.update_delivery(delivery_id, **values)


@router.post("/silences", status_code=201, response_model=SilenceFull)
@allow(
    "monitoring.create_silence", Role.EDITOR, in_body("model", lambda b: b.matchers.get("model"))
)
def create_silence(body: CreateSilence, state: State, once: Idempotent) -> Any:
    """Hold back notifications of alerts whose labels match every matcher."""
    if body.ends_at <= body.starts_at:
        raise InvalidInputError("a silence must end after it starts (ends_at > starts_at)")
    return once(
        body,
        SilenceFull,
        201,
        lambda: state.monitoring.create_silence(
            dict(body.matchers), body.starts_at, body.ends_at, body.user, body.comment
        ),
    )


@router.get("/silences", response_model=SilenceList)
@allow("monitoring.list_silences", None)
def list_silences(
    state: State,
    caller: Caller,
    active_at: Annotated[float | None, Query(allow_inf_nan=False)] = None,
) -> Any:
    """Silences (only those active at ``active_at`` when given); one matching a model only for
    that model's readers, one matching no model only for the global role."""
    readable = caller.readable(Scope.MODEL)
    items = state.monitoring.list_silences(active_at)
    return {"items": [s for s in items if readable is None or s.matchers.get("model") in readable]}


# --- alert rules -------------------------------------------------------------------------------


class RuleIn(schemas.Request):
    metric: Annotated[str, Field(min_length=1, max_length=128)]
    condition: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: Annotated[str, Field(min_length=1, max_length=64)] | Finite = 0.0
    for_duration: (
        Annotated[str, Field(max_length=64)]
        | Annotated[float, Field(ge=0, le=10 * 365 * 86_400, allow_inf_nan=False)]
    ) = 0.0
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: Labels = Field(default_factory=dict)
    group_by: Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=20)] = Field(
        default_factory=lambda: ["model"]
    )
    message: Annotated[str, Field(max_length=10_000)] | None = None


class RuleOut(schemas.Response):
    name: str
    metric: str
    condition: str
    threshold: schemas.JsonFloat
    for_duration: float
    severity: str
    labels: dict[str, str]
    group_by: list[str]
    message: str | None = None


class RuleList(schemas.Response):
    items: list[RuleOut]


def _rule_model(args: Args) -> list[tuple[str, str]]:
    model = args["body"].labels.get("model")
    return [("model", str(model))] if model else []


@router.get("/rules", response_model=RuleList)
@allow("monitoring.list_rules", None)
def list_rules(state: State, caller: Caller, model: ModelQuery = None) -> Any:
    """Stored alert rules (a rule labelled with a model only for its readers)."""
    readable = caller.readable(Scope.MODEL)
    items = state.monitoring.list_rules(model)
    return {
        "items": [
            r for r in items if readable is None or (r.get("labels") or {}).get("model") in readable
        ]
    }


@router.put("/rules/{name}", response_model=RuleOut)
@allow("monitoring.save_rule", Role.EDITOR, _rule_model)
def save_rule(
    name: Annotated[str, FastApiPath(min_length=1, max_length=256)],
    body: RuleIn,
    state: State,
    caller: Caller,
) -> Any:
    """Create or replace a stored alert rule: every process on this store evaluates it."""
    from mlops.monitoring.alerts import AlertRule

    current = {r["name"]: r for r in state.monitoring.list_rules(None)}.get(name)
    existing = None if current is None else ((current.get("labels") or {}).get("model") or True)
    _replacing(caller, "alert rule", name, existing, body.labels.get("model"))

    rule = AlertRule.create(name, **body.model_dump())
    return state.alerts.save_rule(rule).to_dict()


@router.delete("/rules/{name}", status_code=204)
@allow("monitoring.delete_rule", Role.EDITOR, param("rule", "name"))
def delete_rule(
    name: Annotated[str, FastApiPath(min_length=1, max_length=256)], state: State
) -> None:
    """Remove a stored alert rule (a global editor's: the rule may watch any model)."""
    state.alerts.delete_rule(name)
