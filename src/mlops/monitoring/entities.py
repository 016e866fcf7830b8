"""What the monitoring domain stores: window results, alerts, deliveries and silences."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class WindowResult:
    """One closed window of a monitor, linked to the model version it watched."""

    monitor: str
    kind: str  # drift | performance
    model_name: str | None
    model_version: int | None
    deployment: str | None
    window_start: float
    window_end: float
    n_rows: int
    flagged: bool  # drift: the dataset drifted; performance: a threshold was breached
    score: float | None  # drift share, or None
    payload: dict[str, Any]
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class StoredDetector:
    """A saved drift detector (its summary of the reference), without the summary itself."""

    name: str
    model_name: str | None
    model_version: int | None
    sha256: str
    size: int
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Alert:
    """One alert episode: from its first firing until it resolves."""

    id: int
    fingerprint: str
    rule: str
    metric: str
    severity: str
    status: str  # pending | firing | acknowledged | resolved
    group_key: str
    message: str
    labels: dict[str, str]
    count: int
    started_at: float
    last_seen_at: float
    value: float | None = None
    threshold: float | None = None
    model_name: str | None = None
    model_version: int | None = None
    deployment: str | None = None
    resolved_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """One notification of an alert to one channel, and how it went."""

    id: int
    alert_id: int
    channel: str
    event: str  # firing | resolved
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(frozen=True)
class Silence:
    """Alerts whose labels match every matcher are not sent between ``starts_at`` and
    ``ends_at``."""

    id: int
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str | None = None

    def matches(self, labels: dict[str, str], at: float) -> bool:
        return self.starts_at <= at < self.ends_at and all(
            labels.get(k) == v for k, v in self.matchers.items()
        )


@dataclass(frozen=True)
class PredictionRow:
    """One logged inference of a performance monitor."""

    prediction_id: str
    window_start: float
    predicted_at: float
    prediction: float | None
    score: float | None
    label: float | None
    latency: float | None
    error: bool


@dataclass(frozen=True)
class PredictionBatch:
    """Logged inferences as columns, one list per field of :class:`PredictionRow`.

    The serving path logs hundreds of rows a call; building a frozen row object for each cost
    more than storing it, so a batch travels as columns from ``log_inference`` to the store.
    """

    prediction_id: list[str]
    window_start: list[float]
    predicted_at: list[float]
    prediction: list[float | None]
    score: list[float | None]
    label: list[float | None]
    latency: list[float | None]
    error: list[bool]

    def __post_init__(self) -> None:
        if len({len(column) for column in self.columns()}) > 1:
            raise ValueError("every column of a PredictionBatch must have the same length")

    def __len__(self) -> int:
        return len(self.prediction_id)

    def columns(self) -> tuple[list[Any], ...]:
        """The columns in :class:`PredictionRow`'s field order."""
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def from_rows(cls, rows: Iterable[PredictionRow]) -> PredictionBatch:
        names = [f.name for f in fields(PredictionRow)]
        listed = list(rows)
        return cls(*([getattr(row, name) for row in listed] for name in names))

    def rows(self) -> list[PredictionRow]:
        return [PredictionRow(*values) for values in zip(*self.columns(), strict=True)]

    def slice(self, start: int, stop: int) -> PredictionBatch:
        return PredictionBatch(*(column[start:stop] for column in self.columns()))
