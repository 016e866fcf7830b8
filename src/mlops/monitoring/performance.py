"""``PerformanceMonitor``: quality and service metrics of a model version, per window.

Predictions are stored with an id (given or generated); labels that arrive later join by that
id (``log_ground_truth``), and every window they touch is evaluated again, so a window's
precision is right once its labels are in, however late. Service metrics (latency percentiles,
throughput, error rate) need no labels.

Thresholds take units: ``{"precision": 0.8, "latency": "100ms", "error_rate": "2%"}``. Quality
metrics breach *below* their threshold, error and latency metrics *above* it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.handles import Completed
from mlops.ids import time_ordered_id
from mlops.monitoring.entities import PredictionBatch, PredictionRow, WindowResult
from mlops.monitoring.units import InvalidMonitoringInputError, parse_threshold
from mlops.monitoring.windows import WindowSpec

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ModelVersion
    from mlops.monitoring.store import MonitoringStore

CLASSIFICATION = ("precision", "recall", "f1", "accuracy", "roc_auc", "pr_auc")
REGRESSION = ("mae", "rmse", "mse", "r2")
SERVICE = ("latency", "latency_p50", "latency_p95", "latency_p99", "throughput", "error_rate")
HIGHER_IS_BETTER = {*CLASSIFICATION, "r2", "throughput"}
TASKS = ("classification", "regression", "anomaly")
METRICS = (*CLASSIFICATION, *REGRESSION, *SERVICE)


@dataclass(frozen=True)
class Breach:
    """A metric on the wrong side of its threshold."""

    metric: str
    value: float
    threshold: float
    direction: str  # "below" | "above"


@dataclass(frozen=True)
class PerformanceResult:
    """One window's metrics. A metric that cannot be computed yet (no labels) is absent."""

    window_start: float
    window_end: float
    n_predictions: int
    n_labelled: int
    metrics: dict[str, float]
    breaches: list[Breach] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.breaches

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = {k: v for k, v in self.metrics.items() if math.isfinite(v)}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceResult:
        return cls(
            window_start=data["window_start"],
            window_end=data["window_end"],
            n_predictions=data["n_predictions"],
            n_labelled=data["n_labelled"],
            metrics=dict(data["metrics"]),
            breaches=[Breach(**b) for b in data["breaches"]],
        )


def compute_metrics(
    rows: Sequence[PredictionRow],
    task: str,
    span: float,
    positive_label: float = 1.0,
) -> tuple[dict[str, float], int]:
    """Every metric the rows allow, and how many rows carry a label."""
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    n = len(rows)
    if n == 0:
        return out, 0
    latencies = np.array([r.latency for r in rows if r.latency is not None], dtype=np.float64)
    if latencies.size:
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        out.update(latency_p50=float(p50), latency_p95=float(p95), latency_p99=float(p99))
        out["latency"] = float(p95)
    out["error_rate"] = sum(r.error for r in rows) / n
    out["throughput"] = n / span if span > 0 else float("nan")
    labelled = [r for r in rows if r.label is not None and r.prediction is not None]
    if not labelled:
        return out, 0
    y = np.array([r.label for r in labelled], dtype=np.float64)
    pred = np.array([r.prediction for r in labelled], dtype=np.float64)
    if task == "regression":
        err = pred - y
        out["mae"] = float(np.mean(np.abs(err)))
        out["mse"] = float(np.mean(err**2))
        out["rmse"] = math.sqrt(out["mse"])
        if y.size > 1 and np.ptp(y) > 0:
            out["r2"] = float(skm.r2_score(y, pred))
        return out, len(labelled)
    truth = (y == positive_label).astype(int)
    guess = (pred == positive_label).astype(int)
    out["accuracy"] = float(np.mean(truth == guess))
    out["precision"] = float(skm.precision_score(truth, guess, zero_division=0))
    out["recall"] = float(skm.recall_score(truth, guess, zero_division=0))
    out["f1"] = float(skm.f1_score(truth, guess, zero_division=0))
    scored = [r.score for r in labelled]
    if all(s is not None for s in scored) and 0 < truth.sum() < truth.size:
        s = np.array(scored, dtype=np.float64)
        out["roc_auc"] = float(skm.roc_auc_score(truth, s))
        out["pr_auc"] = float(skm.average_precision_score(truth, s))
    return out, len(labelled)


class PerformanceMonitor:
    """Quality and service metrics of one model version, window by window.

    Args:
        model_version: A ``ModelVersion``, "name/3", a registered name (its newest version) or
            any label (the seed's "model_v1").
        metrics: Metrics to watch (default: every one the task allows).
        alert_thresholds: Metric -> threshold, with units ("100ms", "2%").
        task: ``classification``, ``regression`` or ``anomaly`` (default: classification).
        window: Window length ("15m", "1h", "1d").
        positive_label: The label of the positive (for anomaly detection: anomalous) class.
        config: Store configuration; ``persist=False`` keeps everything in memory.
        deployment: The deployment whose traffic is watched; stored with every window result,
            and it gives the deployment its own monitor (its own predictions and windows).
    """

    def __init__(
        self,
        model_version: ModelVersion | str,
        metrics: Sequence[str] | None = None,
        alert_thresholds: Mapping[str, str | float] | None = None,
        task: str = "classification",
        window: str | float = "1h",
        positive_label: float = 1.0,
        name: str | None = None,
        config: MLOpsConfig | None = None,
        persist: bool = True,
        deployment: str | None = None,
    ):
        if task not in TASKS:
            raise InvalidMonitoringInputError(f"task {task!r} is not one of {', '.join(TASKS)}")
        unknown = [m for m in [*(metrics or []), *(alert_thresholds or {})] if m not in METRICS]
        if unknown:
            raise InvalidMonitoringInputError(
                f"unknown metrics {unknown}; choose from {', '.join(METRICS)}"
            )
        self.model_version = model_version
        self.metrics = list(metrics) if metrics is not None else None
        self.thresholds = {m: parse_threshold(v, m) for m, v in (alert_thresholds or {}).items()}
        self.task = task
        self.window = WindowSpec.parse(window)
        if self.window.seconds is None:
            raise InvalidMonitoringInputError("a performance window is a duration, e.g. '1h'")
        self.positive_label = float(positive_label)
        self.config = config
        self.persist = persist
        self.deployment = deployment
        self.callbacks: list[Callable[[PerformanceResult], None]] = []
        self._lock = threading.RLock()
        self._memory: dict[float, dict[str, PredictionRow]] = {}
        self._memory_results: dict[float, PerformanceResult] = {}
        self._open: float | None = None
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self.store: MonitoringStore | None = None
        self.model_name: str | None = None
        self.version: int | None = None
        if persist:
            from mlops.monitoring.store import monitoring_store

            self.store = monitoring_store(config)
            self.model_name, self.version = self.store.resolve_version(model_version)
        else:
            self.model_name = str(getattr(model_version, "id", model_version))
        label = self.model_name if self.version is None else f"{self.model_name}-v{self.version}"
        from mlops.monitoring.drift import deployment_name

        self.name = name or deployment_name(f"{label}-performance", deployment)
        if self.store is not None:
            self.store.register_monitor(self.name, self.model_name)

    # --- logging -------------------------------------------------------------------------------

    def log_inference(
        self,
        predictions: Any,
        ground_truth: Any = None,
        prediction_ids: Sequence[Any] | None = None,
        latency: Any = None,
        scores: Any = None,
        errors: Any = None,
        timestamp: float | None = None,
    ) -> Completed[list[str]]:
        """Record predictions (and labels, latencies in seconds, scores, failures), durably.

        Returns the prediction ids (generated when not given), awaitable like the seed's
        ``await performance_monitor.log_inference(...)``.
        """
        preds = _column(predictions, "predictions")
        n = preds.size
        labels = _column(ground_truth, "ground_truth", n) if ground_truth is not None else None
        lat = _column(latency, "latency", n, broadcast=True) if latency is not None else None
        score = _column(scores, "scores", n) if scores is not None else None
        err = _column(errors, "errors", n, broadcast=True) if errors is not None else None
        if prediction_ids is None:
            ids = [time_ordered_id() for _ in range(n)]
        else:
            ids = [str(i) for i in prediction_ids]
            if len(ids) != n:
                raise InvalidMonitoringInputError(f"{len(ids)} prediction_ids for {n} predictions")
        ts = time.time() if timestamp is None else float(timestamp)
        start = self.window.start_of(ts)
        # Whole columns are converted at once, and stored as columns: a serving monitor logs
        # batches of hundreds of rows, where an object per row would cost more than the insert.
        nothing: list[float | None] = [None] * n
        batch = PredictionBatch(
            prediction_id=ids,
            window_start=[start] * n,
            predicted_at=[ts] * n,
            prediction=_nums(preds, "predictions"),
            score=_nums(score, "scores") if score is not None else nothing,
            label=_nums(labels, "ground_truth") if labels is not None else nothing,
            latency=_nums(lat, "latency") if lat is not None else nothing,
            error=err.astype(bool).tolist() if err is not None else [False] * n,
        )
        with self._lock:
            if self._open is not None and start > self._open:
                self.evaluate(self._open)  # the previous window is over: store its result
            if self.store is not None:
                self.store.create_predictions(self.name, batch)
            else:
                bucket = self._memory.setdefault(start, {})
                bucket.update({r.prediction_id: r for r in batch.rows()})
            self._open = max(start, self._open or start)
        return Completed(ids)

    def log_ground_truth(self, prediction_ids: Sequence[Any], labels: Any) -> list[float]:
        """Join late labels to their predictions; re-evaluates (and re-stores) touched windows.

        Returns the starts of the windows that changed.
        """
        ids = [str(i) for i in prediction_ids]
        values = _column(labels, "labels", len(ids))
        pairs = [(pid, float(v)) for pid, v in zip(ids, values, strict=True)]
        with self._lock:
            if self.store is not None:
                windows = self.store.update_labels(self.name, pairs, time.time())
            else:
                windows = []
                wanted = dict(pairs)
                for start, bucket in self._memory.items():
                    hit = [pid for pid in bucket if pid in wanted]
                    for pid in hit:
                        row = bucket[pid]
                        bucket[pid] = PredictionRow(**{**asdict(row), "label": wanted[pid]})
                    if hit:
                        windows.append(start)
            for start in windows:
                self.evaluate(start)
        return windows

    # --- evaluating ----------------------------------------------------------------------------

    def evaluate(self, window_start: float | None = None) -> PerformanceResult:
        """Compute (and store) the metrics of a window (default: the open one)."""
        seconds = self.window.seconds
        assert seconds is not None
        start = window_start if window_start is not None else self._open
        if start is None:
            start = self.window.start_of(time.time())
        rows = self._rows(start)
        end = start + seconds
        # Throughput over the part of the window that has passed (an open window is young).
        span = seconds if end <= time.time() else max(time.time() - start, 1e-9)
        values, labelled = compute_metrics(rows, self.task, span, self.positive_label)
        wanted = self.metrics
        if wanted is not None:
            # Service metrics are always kept: they cost nothing and explain quality drops.
            keep = {*wanted, *self.thresholds, *SERVICE}
            values = {k: v for k, v in values.items() if k in keep}
        result = PerformanceResult(
            window_start=start,
            window_end=end,
            n_predictions=len(rows),
            n_labelled=labelled,
            metrics=values,
            breaches=self._breaches(values),
        )
        if self.store is not None:
            self.store.create_result(
                WindowResult(
                    monitor=self.name,
                    kind="performance",
                    model_name=self.model_name,
                    model_version=self.version,
                    deployment=self.deployment,
                    window_start=start,
                    window_end=end,
                    n_rows=len(rows),
                    flagged=not result.healthy,
                    score=None,
                    payload=result.to_dict(),
                    created_at=0,
                    updated_at=0,
                )
            )
        else:
            self._memory_results[start] = result
        for callback in self.callbacks:
            callback(result)
        return result

    def _rows(self, start: float) -> list[PredictionRow]:
        if self.store is not None:
            return self.store.list_predictions(self.name, start)
        return list(self._memory.get(start, {}).values())

    def _breaches(self, values: Mapping[str, float]) -> list[Breach]:
        found = []
        for metric, threshold in self.thresholds.items():
            value = values.get(metric)
            if value is None or not math.isfinite(value):
                continue
            if metric in HIGHER_IS_BETTER and value < threshold:
                found.append(Breach(metric, value, threshold, "below"))
            elif metric not in HIGHER_IS_BETTER and value > threshold:
                found.append(Breach(metric, value, threshold, "above"))
        return found

    def results(self, limit: int = 1000) -> list[PerformanceResult]:
        """Stored window results, oldest first."""
        if self.store is None:
            return [self._memory_results[k] for k in sorted(self._memory_results)][-limit:]
        rows = self.store.list_results(monitor=self.name, kind="performance", limit=limit)
        return [PerformanceResult.from_dict(r.payload) for r in rows]

    # --- background ----------------------------------------------------------------------------

    def start_monitoring(self, interval: float = 30.0) -> Completed[PerformanceMonitor]:
        """Evaluate the open window every ``interval`` seconds in a thread (idempotent)."""
        if self._timer is None or not self._timer.is_alive():
            self._stop.clear()
            self._timer = threading.Thread(
                target=self._tick, args=(interval,), name=f"mlops-perf-{self.name}", daemon=True
            )
            self._timer.start()
        return Completed(self)

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                if self._open is not None:
                    self.evaluate(self._open)

    def stop(self) -> None:
        """Stop the background evaluation and store the open window's result."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=10)
            self._timer = None
        with self._lock:
            if self._open is not None:
                self.evaluate(self._open)


def _column(values: Any, what: str, n: int | None = None, broadcast: bool = False) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidMonitoringInputError(f"{what} has shape {arr.shape}; pass one value per row")
    if n is not None and arr.size != n:
        if broadcast and arr.size == 1:
            return np.repeat(arr, n)
        raise InvalidMonitoringInputError(f"{arr.size} {what} for {n} predictions")
    return arr


def _nums(values: np.ndarray, what: str) -> list[float | None]:
    """A column as floats, NaN and None as None (``_num`` of each value, vectorized)."""
    if values.dtype.kind in "biuf":
        floats = values.astype(np.float64)
        out: list[float | None] = floats.tolist()
        if np.isnan(floats).any():
            out = [None if v != v else v for v in out]  # NaN is not equal to itself
        return out
    return [_num(v) for v in values]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidMonitoringInputError(
            f"value {value!r} is not a number; encode class labels as numbers (e.g. 0/1)"
        ) from None
    return None if math.isnan(number) else number


def monitor_performance(
    predictions: Any,
    ground_truth: Any,
    task: str = "classification",
    latency: Any = None,
    scores: Any = None,
    alert_thresholds: Mapping[str, str | float] | None = None,
) -> PerformanceResult:
    """One-shot metrics of predictions against labels (the seed's function)."""
    monitor = PerformanceMonitor(
        "adhoc", task=task, alert_thresholds=alert_thresholds, window="1d", persist=False
    )
    monitor.log_inference(predictions, ground_truth, latency=latency, scores=scores)
    return monitor.evaluate()
