"""Experiment tracking: ``ExperimentTracker``, the runs it starts, and the module functions.

>>> tracker = ExperimentTracker()
>>> with tracker.start_experiment("anomaly_detection_v1") as run:   # doctest: +SKIP
...     run.log_params({"algorithm": "isolation_forest"})
...     run.log_metrics({"f1": 0.91})
"""

from __future__ import annotations

import contextvars
import logging
import math
import operator
import re
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from mlops.config import MLOpsConfig, with_locations
from mlops.defaults import ProcessDefault
from mlops.errors import (
    ConfigError,
    ExperimentNotFoundError,
    InvalidParamError,
    InvalidRunStateError,
    MLOpsError,
)
from mlops.experiments.datasets import describe_dataset
from mlops.experiments.entities import (
    ArtifactRecord,
    Dataset,
    Experiment,
    MetricHistory,
    Page,
    Run,
    RunStatus,
    now_ms,
)
from mlops.experiments.writer import MetricWriter

if TYPE_CHECKING:
    from mlops.experiments.comparison import ExperimentComparison
    from mlops.store.open import Stores

log = logging.getLogger(__name__)
_KEY = re.compile(r"^[\w\-. /:]{1,250}$")
_active_runs: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "mlops_active_runs", default=()
)


def _check_key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidParamError(
            f"{kind} name {key!r} is invalid: use 1-250 letters, digits, '_', '-', '.', ' ', '/' "
            "or ':'"
        )
    return key


class ExperimentTracker:
    """Entry point of tracking: experiments, runs, search and comparison.

    Args:
        uri: Metadata store URI (``sqlite:///...``, ``postgresql://...``); default from config.
        backend: ``"mlops"``. (``"mlflow"`` arrives with MLflow interoperability.)
        artifact_uri: Artifact root (local folder or ``s3://...``); default from config.
        config: A full ``MLOpsConfig``; arguments above override it.
    """

    def __init__(
        self,
        uri: str | None = None,
        backend: str = "mlops",
        *,
        artifact_uri: str | None = None,
        config: MLOpsConfig | None = None,
    ):
        if backend == "mlflow":
            raise ConfigError(
                "backend='mlflow' (tracking into an MLflow server) is not available yet: it comes "
                "with the MLflow interoperability work; use backend='mlops', which needs no server"
            )
        if backend != "mlops":
            raise ConfigError(f"unknown tracking backend {backend!r}; the only one is 'mlops'")
        self.config = with_locations(config, uri, artifact_uri)
        self._stores: Stores | None = None
        self._writer: MetricWriter | None = None
        self._lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            # Imported here: the store layer imports this domain's entities.
            from mlops.store.open import open_stores

            self._stores = open_stores(self.config)
        return self._stores

    @property
    def writer(self) -> MetricWriter:
        with self._lock:
            if self._writer is None:
                settings = self.config.experiment_tracking
                self._writer = MetricWriter(
                    self.stores.tracking,
                    flush_interval=settings.metrics_flush_interval,
                    max_buffer=settings.metrics_max_buffer,
                    heartbeat_interval=settings.heartbeat_interval,
                )
            return self._writer

    def flush(self) -> None:
        """Make every metric logged so far durable."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and stop the background writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # --- experiments ---------------------------------------------------------------------------

    def create_experiment(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        return self.stores.tracking.create_experiment(name, description=description, tags=tags)

    def get_experiment(self, experiment: str | Experiment) -> Experiment:
        """An experiment by name or id."""
        if isinstance(experiment, Experiment):
            return experiment
        store = self.stores.tracking
        try:
            return store.get_experiment_by_name(experiment)
        except ExperimentNotFoundError:
            if str(experiment).isdigit():
                return store.get_experiment(str(experiment))
            raise

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            experiment = self.stores.tracking.get_experiment_by_name(name)
        except ExperimentNotFoundError:
            from mlops.errors import ExperimentAlreadyExistsError

            try:
                return self.create_experiment(name)
            except ExperimentAlreadyExistsError:  # another process created it meanwhile
                return self.stores.tracking.get_experiment_by_name(name)
        if experiment.deleted:
            raise InvalidRunStateError(
                f"experiment {name!r} is deleted; restore it (`restore_experiment`) or pick "
                "another name"
            )
        return experiment

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        page = self.stores.tracking.list_experiments(include_deleted=include_deleted)
        items = list(page.items)
        while page.next_page_token:
            page = self.stores.tracking.list_experiments(
                include_deleted=include_deleted, page_token=page.next_page_token
            )
            items.extend(page.items)
        return items

    def delete_experiment(self, experiment: str) -> None:
        self.stores.tracking.delete_experiment(self.get_experiment(experiment).id)

    def restore_experiment(self, experiment: str) -> None:
        self.stores.tracking.restore_experiment(self.get_experiment(experiment).id)

    # --- runs ----------------------------------------------------------------------------------

    def start_experiment(
        self,
        name: str,
        run_name: str | None = None,
        *,
        nested: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> ActiveRun:
        """Start a run in experiment ``name`` (created if new). Use it as a context manager.

        Inside another run's ``with`` block, pass ``nested=True`` to make it a child run.
        """
        parent = active_run()
        if parent is not None and not nested:
            raise InvalidRunStateError(
                f"run {parent.id} is already active in this context; pass nested=True to start "
                "a child run, or end the active run first"
            )
        experiment = self.get_or_create_experiment(name)
        run = self.stores.tracking.create_run(
            experiment.id,
            run_name,
            user=self.config.user,
            parent_run_id=parent.id if parent is not None and nested else None,
            tags=tags,
        )
        return ActiveRun(self, run)

    start_run = start_experiment

    def get_run(self, run_id: str) -> Run:
        return self.stores.tracking.get_run(run_id)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        return self.stores.tracking.get_metric_history(run_id, key)

    def delete_run(self, run_id: str) -> None:
        self.stores.tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.stores.tracking.restore_run(run_id)

    def search_runs(
        self,
        experiment: str | Experiment | Sequence[str | Experiment] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page[Run]:
        """Runs matching a filter such as ``"metrics.f1 > 0.8 and params.algorithm = 'lof'"``."""
        if experiment is None:
            ids = [e.id for e in self.list_experiments()]
        elif isinstance(experiment, str | Experiment):
            ids = [self.get_experiment(experiment).id]
        else:
            ids = [self.get_experiment(e).id for e in experiment]
        return self.stores.tracking.search_runs(
            ids, filter, order_by, max_results, page_token, include_deleted
        )

    def compare_experiments(self, run_ids: Iterable[str]) -> ExperimentComparison:
        from mlops.experiments.comparison import ExperimentComparison

        return ExperimentComparison(self.stores.tracking.get_runs(list(run_ids)))

    def get_best_model(
        self, experiment: str | Experiment, metric: str, mode: Literal["max", "min"] = "max"
    ) -> Run:
        """The finished run with the best value of ``metric`` in ``experiment``."""
        if mode not in ("max", "min"):
            raise InvalidParamError(f"mode must be 'max' or 'min', got {mode!r}")
        direction = "DESC" if mode == "max" else "ASC"
        page = self.search_runs(
            experiment,
            filter=f"attributes.status = 'FINISHED' and metrics.`{metric}` IS NOT NULL",
            order_by=[f"metrics.`{metric}` {direction}"],
            max_results=1,
        )
        if not page.items:
            name = experiment.name if isinstance(experiment, Experiment) else experiment
            raise ExperimentNotFoundError(
                f"no finished run of experiment {name!r} has logged metric {metric!r}"
            )
        return page.items[0]


class ActiveRun:
    """A run in progress: log to it, then end it (the ``with`` block does that for you)."""

    def __init__(self, tracker: ExperimentTracker, run: Run):
        self.tracker = tracker
        self.id = run.id
        self.experiment_id = run.experiment_id
        self.name = run.name
        self.artifact_uri = run.artifact_uri
        self.parent_run_id = run.parent_run_id
        self._step = 0
        self._metric_keys: set[str] = set()
        self._ended = False
        self._token: contextvars.Token[tuple[ActiveRun, ...]] | None = None
        self._writer = tracker.writer
        self._writer.track(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name!r} id={self.id} experiment_id={self.experiment_id}>"

    @property
    def info(self) -> Run:
        """The run as stored now (metrics as of the last flush)."""
        return self.tracker.get_run(self.id)

    # --- context manager -----------------------------------------------------------------------

    def __enter__(self) -> ActiveRun:
        self._token = _active_runs.set((*_active_runs.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _active_runs.reset(self._token)
            self._token = None
        if exc is None:
            self.end(RunStatus.FINISHED)
            return
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not (
            isinstance(exc, SystemExit) and exc.code in (0, None)
        ):
            status, error = RunStatus.KILLED, f"{type(exc).__name__}: {exc}"
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb, limit=20))
            status, error = RunStatus.FAILED, text[-10_000:]
        try:
            self.end(status, error=error)
        except MLOpsError as end_error:  # the block's own exception is the one to propagate
            log.error("run %s could not be ended cleanly: %s", self.id, end_error)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush metrics and record the final status. Ending twice is a no-op."""
        if self._ended:
            return
        self._ended = True
        writer = self.tracker.writer
        try:
            writer.flush()
        finally:
            writer.untrack(self.id)
            self.tracker.stores.tracking.update_run(
                self.id, RunStatus(status), end_time=now_ms(), error=error
            )

    def _check_open(self) -> None:
        if self._ended:
            raise InvalidRunStateError(
                f"run {self.name!r} ({self.id}) has ended; start a new run to log more"
            )

    # --- logging -------------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (stored as text). A parameter's value can never change."""
        self._check_open()
        clean = {_check_key("parameter", k): _param_text(v) for k, v in params.items()}
        self.tracker.stores.tracking.log_params(self.id, clean)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        self.log_metrics({key: value}, step=step, timestamp=timestamp)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Queue metric values; no database round trip. ``flush()`` makes them durable.

        Without ``step``, each call takes the next value of a per-run counter (0, 1, 2, ...).
        """
        if self._ended:
            self._check_open()
        if not self._metric_keys.issuperset(metrics):
            for key in metrics:
                _check_key("metric", key)
            self._metric_keys.update(metrics)
        # The common case, all floats, costs one C-level pass; anything else is converted
        # (numpy scalars, bools) or refused (text) on the slow path.
        if _NUMBER_TYPES.issuperset(map(type, metrics.values())):
            values: dict[str, float] = dict(metrics)
        else:
            values = _numeric(metrics)
        if step is None:
            step = self._step
            self._step += 1
        elif type(step) is not int or not _I64_MIN <= step <= _I64_MAX:
            step = _integer("step", step)
        ts = time.time_ns() // 1_000_000 if timestamp is None else _integer("timestamp", timestamp)
        self._writer.log(self.id, step, ts, values)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {_check_key("tag", k): str(v) for k, v in tags.items()}
        self.tracker.stores.tracking.set_tags(self.id, clean)

    def flush(self) -> None:
        """Block until every metric logged so far is durable."""
        self.tracker.writer.flush()

    # --- artifacts and datasets ----------------------------------------------------------------

    def _artifact_dest(self, name: str) -> str:
        root = self.tracker.stores.artifacts.relative(self.artifact_uri)
        return f"{root}/{name}"

    def log_artifact(
        self, local_path: str | Path, artifact_path: str | None = None
    ) -> ArtifactRecord:
        """Copy a file into the run's artifacts (atomic, sha256 recorded)."""
        self._check_open()
        path = Path(local_path)
        if not path.is_file():
            raise InvalidParamError(
                f"artifact {str(path)!r} is not a file; use log_artifacts for folders"
            )
        name = f"{artifact_path.strip('/')}/{path.name}" if artifact_path else path.name
        info = self.tracker.stores.artifacts.put_file(path, self._artifact_dest(name))
        record = ArtifactRecord(info.uri, name, info.size, info.sha256, now_ms(), self.id)
        self.tracker.stores.tracking.record_artifact(record)
        return record

    def log_artifacts(
        self, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        """Copy every file under a folder into the run's artifacts."""
        folder = Path(local_dir)
        if not folder.is_dir():
            raise InvalidParamError(f"{str(folder)!r} is not a folder")
        records = []
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            sub = file.parent.relative_to(folder).as_posix()
            prefix = "/".join(x for x in (artifact_path or "", "" if sub == "." else sub) if x)
            records.append(self.log_artifact(file, prefix or None))
        return records

    def log_text(self, text: str, artifact_file: str) -> ArtifactRecord:
        """Store a string as a text artifact."""
        self._check_open()
        info = self.tracker.stores.artifacts.put_bytes(
            text.encode(), self._artifact_dest(artifact_file)
        )
        record = ArtifactRecord(info.uri, artifact_file, info.size, info.sha256, now_ms(), self.id)
        self.tracker.stores.tracking.record_artifact(record)
        return record

    def log_dataset(
        self,
        data: Any,
        name: str | None = None,
        context: str = "training",
        source: str | None = None,
    ) -> Dataset:
        """Record a dataset this run consumed: name, content hash, schema and row count."""
        self._check_open()
        dataset = describe_dataset(data, name=name, source=source)
        return self.tracker.stores.tracking.log_input(self.id, dataset, context)

    def start_run(
        self, run_name: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ActiveRun:
        """A child run nested under this one."""
        self._check_open()
        run = self.tracker.stores.tracking.create_run(
            self.experiment_id,
            run_name,
            user=self.tracker.config.user,
            parent_run_id=self.id,
            tags=tags,
        )
        return ActiveRun(self.tracker, run)


_NUMBER_TYPES = frozenset({float})  # ints go the slow way: 10**400 must not reach the store


def _numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, str | bytes):
            raise InvalidParamError(
                f"metric {key!r} has the text value {value!r}; metrics must be numbers "
                "(log text as a tag or parameter)"
            )
        try:
            values[key] = float(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidParamError(
                f"metric {key!r} = {value!r}: metric values must be numbers ({exc})"
            ) from exc
    return values


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _integer(name: str, value: object) -> int:
    """A step or timestamp: any integral number (numpy too) that fits in 64 bits."""
    if isinstance(value, bool):
        raise InvalidParamError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidParamError(f"{name} must be an integer, got {value!r}") from None
    if not _I64_MIN <= number <= _I64_MAX:
        raise InvalidParamError(f"{name} {number} does not fit in a signed 64-bit integer")
    return int(number)


def _param_text(value: Any) -> str:
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value == int(value)
        and abs(value) < 1e16
    ):
        return repr(value)
    return str(value)


# --- module functions over a default tracker ---------------------------------------------------

_default: ProcessDefault[ExperimentTracker] = ProcessDefault(
    ExperimentTracker, retire=ExperimentTracker.close
)


def default_tracker() -> ExperimentTracker:
    """The tracker the module functions use, configured from the environment on first use."""
    return _default.get()


def set_default_tracker(tracker: ExperimentTracker | None) -> None:
    """Replace (or, with None, forget) the tracker the module functions use."""
    _default.set(tracker)


def active_run() -> ActiveRun | None:
    """The innermost run whose ``with`` block is open in this context."""
    stack = _active_runs.get()
    return stack[-1] if stack else None


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidRunStateError(
            'no active run: call this inside `with start_experiment("name") as run:`'
        )
    return run


def start_experiment(name: str, run_name: str | None = None, *, nested: bool = False) -> ActiveRun:
    return default_tracker().start_experiment(name, run_name, nested=nested)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(metrics, step=step)


def log_params(params: Mapping[str, Any]) -> None:
    _require_active().log_params(params)


def get_run(run_id: str) -> Run:
    return default_tracker().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> MetricHistory:
    return default_tracker().get_metric_history(run_id, key)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> Page[Run]:
    return default_tracker().search_runs(experiment, filter, order_by, max_results, page_token)


def compare_experiments(run_ids: Iterable[str]) -> ExperimentComparison:
    return default_tracker().compare_experiments(run_ids)


def get_best_model(experiment: str, metric: str, mode: Literal["max", "min"] = "max") -> Run:
    return default_tracker().get_best_model(experiment, metric, mode)
