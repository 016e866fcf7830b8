"""The wire format of the REST API: pydantic request and response bodies.

Responses mirror the domain entities field for field, so a route can return an entity and a
client rebuilds one from a response with ``pydantic.TypeAdapter(Entity)``. Floats JSON cannot
carry (NaN, ±infinity) travel as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``,
which pydantic reads back as floats.

Requests forbid unknown fields and check types and ranges, so a malformed body is a 4xx with a
message before any store is touched.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from mlops import errors
from mlops.experiments.entities import RunStatus
from mlops.experiments.filter import MAX_ORDER_KEYS
from mlops.models.entities import Stage

T = TypeVar("T")


def encode_float(value: float) -> float | str:
    """``value``, or the string JSON uses for it when it is NaN or infinite."""
    if math.isfinite(value):
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


JsonFloat = Annotated[float, PlainSerializer(encode_float, when_used="json")]
MAX_IN_LIST = 50_000
"""Ids one request may list: each is a bound parameter (PostgreSQL takes at most 65,535)."""
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Key = Annotated[str, Field(min_length=1, max_length=250)]
Text = Annotated[str, Field(max_length=1_000_000)]


class Request(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    """A response body, built from the entity of the same shape."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


# --- tracking ----------------------------------------------------------------------------------


class Experiment(Response):
    id: str
    name: str
    artifact_location: str
    description: str | None
    tags: dict[str, str]
    created_at: int
    updated_at: int
    deleted_at: int | None = None


class Dataset(Response):
    id: str
    name: str
    digest: str
    source: str
    schema_: list[dict[str, str]] = Field(alias="schema")
    num_rows: int | None
    created_at: int


class DatasetInput(Response):
    dataset: Dataset
    context: str


class Run(Response):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    user: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    parent_run_id: str | None = None
    error: str | None = None
    params: dict[str, str] = {}
    metrics: dict[str, JsonFloat] = {}
    tags: dict[str, str] = {}
    inputs: list[DatasetInput] = []
    deleted_at: int | None = None


class Page(Response, Generic[T]):
    items: list[T]
    next_page_token: str | None = None
    total: int | None = None


class RunList(Response):
    items: list[Run]


class RunIds(Response):
    run_ids: list[str]


class RunId(Response):
    run_id: str


class ArtifactRecord(Response):
    uri: Annotated[str, Field(min_length=1, max_length=1024)]
    path: Text
    size: Annotated[int, Field(ge=0, le=2**63 - 1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    created_at: Int64
    run_id: str | None = None


class ArtifactRecordList(Response):
    items: list[ArtifactRecord]


class MetricHistory(Response):
    """One metric's points as columns: ``steps[i]``, ``timestamps[i]``, ``values[i]``."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[JsonFloat]


class CreateExperiment(Request):
    name: Name
    artifact_location: Text | None = None
    description: Text | None = None
    tags: dict[Key, Text] | None = None


class CreateRun(Request):
    experiment_id: Annotated[str, Field(min_length=1, max_length=32)]
    name: Name | None = None
    user: Name
    parent_run_id: Annotated[str, Field(max_length=32)] | None = None
    tags: dict[Key, Text] | None = None
    host: Name | None = None
    pid: Int32 | None = None


class UpdateRun(Request):
    status: RunStatus
    end_time: Int64 | None = None
    error: Text | None = None


class SearchRuns(Request):
    experiment_ids: Annotated[
        list[Annotated[str, Field(max_length=32)]], Field(max_length=MAX_IN_LIST)
    ]
    filter: Text | None = None
    order_by: Annotated[list[Text], Field(max_length=MAX_ORDER_KEYS)] | None = None
    max_results: Annotated[int, Field(ge=1, le=50_000)] = 100
    page_token: Annotated[str, Field(max_length=1024)] | None = None
    include_deleted: bool = False


class GetRuns(Request):
    run_ids: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=MAX_IN_LIST)]


class Heartbeat(Request):
    run_ids: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=MAX_IN_LIST)]


class MarkDeadRuns(Request):
    stale_after_ms: Annotated[int, Field(ge=0, le=2**63 - 1)]


class LogParams(Request):
    params: dict[Key, Text]


class SetTags(Request):
    tags: dict[Key, Text]


class DatasetIn(Request):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, Field(min_length=1, max_length=32)]
    name: Name
    digest: Annotated[str, Field(min_length=1, max_length=64)]
    source: Text
    schema_: list[dict[str, str]] = Field(alias="schema")
    num_rows: Int64 | None = None
    created_at: Int64


class LogInput(Request):
    dataset: DatasetIn
    context: Annotated[str, Field(min_length=1, max_length=64)]


class RecordArtifacts(Request):
    records: list[ArtifactRecord]


class MetricBatch(Request):
    """Metric points as columns; run ids and keys are sent once and referred to by index.

    Point ``i`` is ``(runs[run[i]], keys[key[i]], value[i], step[i], timestamp[i])``. Sending
    the same points again is a no-op: a point's identity is all of its fields.
    """

    runs: list[Annotated[str, Field(min_length=1, max_length=32)]]
    keys: list[Key]
    run: list[Annotated[int, Field(ge=0)]]
    key: list[Annotated[int, Field(ge=0)]]
    value: list[float]
    step: list[Int64]
    timestamp: list[Int64]

    @model_validator(mode="after")
    def _columns_line_up(self) -> MetricBatch:
        lengths = {len(self.run), len(self.key), len(self.value), len(self.step)}
        if len(lengths | {len(self.timestamp)}) != 1:
            raise ValueError("run, key, value, step and timestamp must have the same length")
        if self.run and max(self.run) >= len(self.runs):
            raise ValueError(f"run index {max(self.run)} is out of range of runs")
        if self.key and max(self.key) >= len(self.keys):
            raise ValueError(f"key index {max(self.key)} is out of range of keys")
        return self


# --- registry ----------------------------------------------------------------------------------


class ModelVersion(Response):
    name: str
    version: int
    stage: Stage
    artifact_uri: str
    sha256: str
    size: int
    flavor: str
    format: str
    created_by: str
    created_at: int
    updated_at: int
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    description: str | None = None
    tags: dict[str, str] = {}
    aliases: list[str] = []
    deleted_at: int | None = None


class ModelVersionList(Response):
    items: list[ModelVersion]


class RegisteredModel(Response):
    name: str
    description: str | None
    tags: dict[str, str]
    created_at: int
    updated_at: int
    latest_version: int | None = None
    stages: dict[str, int] = {}
    aliases: dict[str, int] = {}
    deleted_at: int | None = None


class RegisteredModelList(Response):
    items: list[RegisteredModel]


class RegistryEvent(Response):
    id: int
    name: str
    version: int | None
    kind: str
    from_value: str | None
    to_value: str | None
    user: str
    created_at: int
    comment: str | None = None
    request_id: int | None = None


class RegistryEventList(Response):
    items: list[RegistryEvent]


class ApprovalRequest(Response):
    id: int
    name: str
    version: int
    action: str
    target: str
    archive_existing: bool
    status: str
    requested_by: str
    requested_at: int
    decided_by: str | None = None
    decided_at: int | None = None
    comment: str | None = None


class ApprovalRequestList(Response):
    items: list[ApprovalRequest]


class CreateModelVersion(Request):
    artifact_uri: Text
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    size: Annotated[int, Field(ge=0, le=2**63 - 1)]
    flavor: Annotated[str, Field(min_length=1, max_length=32)]
    format: Annotated[str, Field(min_length=1, max_length=32)]
    user: Name
    run_id: Annotated[str, Field(max_length=32)] | None = None
    signature: dict[str, Any] | None = None
    description: Text | None = None
    tags: dict[Key, Text] | None = None


class SetStage(Request):
    stage: Stage
    user: Name
    archive_existing: bool
    kind: Annotated[str, Field(min_length=1, max_length=32)] = "stage"
    comment: Text | None = None
    request_id: Int32 | None = None


class SetAlias(Request):
    version: Int32
    user: Name
    request_id: Int32 | None = None


class CreateApprovalRequest(Request):
    name: Name
    version: Int32
    action: Literal["stage", "alias", "unalias", "rollback"]
    target: Name
    user: Name
    archive_existing: bool = True
    comment: Text | None = None


class DecideRequest(Request):
    approved: bool
    user: Name
    comment: Text | None = None


# --- artifacts and service ---------------------------------------------------------------------


class ArtifactInfo(Response):
    uri: str
    path: str
    size: int
    sha256: str


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
"""OpenAPI of an artifact upload's body, which the route reads as a raw stream."""


class ArtifactRoot(Response):
    root_uri: str
    max_upload_size: int


class ArtifactPaths(Response):
    paths: list[str]


class ArtifactsDeleted(Response):
    deleted: int


class ArtifactStat(Response):
    path: str
    exists: bool
    size: int | None = None


ERROR_TYPES_BY_STATUS: dict[int, type[errors.MLOpsError]] = {
    400: errors.InvalidInputError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    405: errors.InvalidInputError,
    409: errors.InvalidStateError,
    413: errors.PayloadTooLargeError,
    422: errors.InvalidInputError,
    503: errors.BackendUnavailableError,
}
"""The error class a bare HTTP status stands for (an error body names the exact class)."""


class ErrorBody(Response):
    type: str
    message: str


class Error(Response):
    """What every failed request returns."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "Malformed request (bad JSON, bad value, unknown filter field, ...)",
        401: "No valid API token (only when the server runs with --auth)",
        403: "The token's user lacks the role (only when the server runs with --auth)",
        404: "Unknown id or name, or no such route",
        409: "Conflict with the current state (name taken, illegal transition)",
        413: "Request body over server.max_request_bytes (upload over max_upload_size)",
        422: "The request does not match its schema (missing field, wrong type, out of range)",
        503: "The metadata database or artifact storage is unreachable",
    }.items()
}
"""The failures any operation may answer with, documented once for every route."""


class Health(Response):
    status: str
