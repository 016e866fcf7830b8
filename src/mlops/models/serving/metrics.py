"""Prometheus metrics of a model server, beyond the per-route requests and latency.

Requests by route and status, and their latency histogram, come from the tracking server's
``RequestMetrics`` middleware (imported, not copied). This adds what only serving knows: batch
sizes, model calls and their duration, prediction errors by kind, model swaps, the version
being served, and records the monitoring hook had to drop.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlops.models.serving.batching import BatchStats

__all__ = ["ServingMetrics"]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The serving metrics of one app, in its own registry."""

    def __init__(self, registry: CollectorRegistry, model: str) -> None:
        self.registry = registry
        self.batch_requests = Histogram(
            "mlops_serving_batch_requests",
            "Requests grouped into one model call.",
            registry=registry,
            buckets=_BATCH_BUCKETS,
        )
        self.batch_rows = Histogram(
            "mlops_serving_batch_rows",
            "Rows in one model call.",
            registry=registry,
            buckets=_BATCH_BUCKETS,
        )
        self.predict_seconds = Histogram(
            "mlops_serving_predict_duration_seconds",
            "Time of one model call.",
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.errors = Counter(
            "mlops_serving_errors",
            "Prediction requests that failed, by endpoint and error type.",
            ["endpoint", "type"],
            registry=registry,
        )
        self.swaps = Counter(
            "mlops_serving_model_swaps",
            "Times a new model version was swapped in.",
            registry=registry,
        )
        self.version = Gauge(
            "mlops_serving_model_version",
            "The model version being served.",
            ["model"],
            registry=registry,
            multiprocess_mode="max",  # with workers: one series, the newest version any serves
        )
        self.monitoring_dropped = Counter(
            "mlops_serving_monitoring_dropped",
            "Predictions the monitoring hook skipped because its queue was full.",
            registry=registry,
        )
        self._model = model

    def record_batch(self, stats: BatchStats) -> None:
        self.batch_requests.observe(stats.requests)
        self.batch_rows.observe(stats.rows)
        self.predict_seconds.observe(stats.seconds)

    def served_version(self, version: int) -> None:
        self.version.labels(self._model).set(version)
