"""What experiment tracking records: experiments, runs, metrics and dataset inputs."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


def now_ms() -> int:
    """Milliseconds since the epoch: the one time unit of the metadata store."""
    return time.time_ns() // 1_000_000


class RunStatus(enum.StrEnum):
    """Lifecycle of a run. KILLED means the process died without ending the run."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    artifact_location: str
    description: str | None
    tags: dict[str, str]
    created_at: int
    updated_at: int
    deleted_at: int | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class Dataset:
    """A dataset's identity: same content, same digest, wherever it was read from."""

    id: str
    name: str
    digest: str
    source: str
    schema: list[dict[str, str]]
    num_rows: int | None
    created_at: int


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run consumed, and in what role (training, validation, ...)."""

    dataset: Dataset
    context: str


@dataclass(frozen=True)
class Run:
    """One execution: its parameters, newest metric values, tags and inputs."""

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
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[DatasetInput] = field(default_factory=list)
    deleted_at: int | None = None

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


@dataclass(frozen=True)
class Metric:
    """One logged point of one metric."""

    key: str
    value: float
    step: int
    timestamp: int


class MetricHistory(Sequence[Metric]):
    """Every point of one metric, ordered by (step, timestamp), held as numpy columns.

    A 100,000-step history is three arrays, not 100,000 objects; ``Metric`` objects are built
    only for the points you index or iterate.
    """

    def __init__(self, key: str, steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray):
        self.key = key
        self.steps = steps
        self.timestamps = timestamps
        self.values = values

    def __len__(self) -> int:
        return len(self.steps)

    @overload
    def __getitem__(self, index: int) -> Metric: ...
    @overload
    def __getitem__(self, index: slice) -> MetricHistory: ...
    def __getitem__(self, index: int | slice) -> Metric | MetricHistory:
        if isinstance(index, slice):
            return MetricHistory(
                self.key, self.steps[index], self.timestamps[index], self.values[index]
            )
        return Metric(
            self.key,
            float(self.values[index]),
            int(self.steps[index]),
            int(self.timestamps[index]),
        )

    def __iter__(self) -> Iterator[Metric]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"MetricHistory(key={self.key!r}, points={len(self)})"

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {"step": self.steps, "timestamp": self.timestamps, "value": self.values}
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_page_token`` back to get the next one."""

    items: list[T]
    next_page_token: str | None = None
    total: int | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact as the metadata store remembers it: where, how big, what it hashes to."""

    uri: str
    path: str
    size: int
    sha256: str
    created_at: int
    run_id: str | None = None


def runs_to_pandas(runs: Sequence[Run]) -> pd.DataFrame:
    """Runs as one row each, columns ``params.*``, ``metrics.*``, ``tags.*``."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "run_name": run.name,
            "status": run.status.value,
            "start_time": pd.to_datetime(run.start_time, unit="ms", utc=True),
            "end_time": (
                pd.to_datetime(run.end_time, unit="ms", utc=True) if run.end_time else None
            ),
        }
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)
