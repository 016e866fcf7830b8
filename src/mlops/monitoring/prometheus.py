"""Prometheus metrics of monitoring: drift scores, performance metrics and alert states.

Why a collector over the store rather than gauges set in-process: windows close in whatever
process logs the predictions, and the store is where every result lands. A scrape reads the
newest result per monitor and the open alerts, so the server's ``/metrics`` and the standalone
exporter (``mlops monitor exporter``) show the same numbers, however many processes monitor.

The mlops server registers it with ``registry.register(MonitoringCollector(store))``; a process
without the server calls ``start_exporter(port)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlops.monitoring.entities import WindowResult

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.monitoring.store import MonitoringStore

LABELS = ["model", "version", "monitor"]


class MonitoringCollector(Collector):
    """Collects the newest window result of every monitor and the open alerts, per scrape."""

    def __init__(self, store: MonitoringStore, max_results: int = 5000):
        self.store = store
        self.max_results = max_results

    def collect(self) -> Iterator[GaugeMetricFamily]:
        share = GaugeMetricFamily(
            "mlops_drift_share", "Share of drifted columns in the newest window.", labels=LABELS
        )
        dataset = GaugeMetricFamily(
            "mlops_dataset_drift", "1 when the newest window drifted, else 0.", labels=LABELS
        )
        column = GaugeMetricFamily(
            "mlops_column_drift_score",
            "Per column: the p-value or distance of its drift test in the newest window.",
            labels=[*LABELS, "column", "stattest"],
        )
        drifted = GaugeMetricFamily(
            "mlops_column_drifted",
            "Per column: 1 when it drifted in the newest window.",
            labels=[*LABELS, "column"],
        )
        perf = GaugeMetricFamily(
            "mlops_model_performance",
            "Performance metrics of the newest window (latency in seconds).",
            labels=[*LABELS, "metric"],
        )
        window_end = GaugeMetricFamily(
            "mlops_monitoring_window_end_seconds",
            "End of the newest window of each monitor (epoch seconds).",
            labels=[*LABELS, "kind"],
        )
        newest: dict[tuple[str, str], WindowResult] = {}
        for result in self.store.list_results(limit=self.max_results):
            newest[(result.monitor, result.kind)] = result  # ascending: the last one wins
        for (monitor, kind), result in sorted(newest.items()):
            base = [result.model_name or "", str(result.model_version or ""), monitor]
            window_end.add_metric([*base, kind], result.window_end)
            payload = result.payload
            if kind == "drift":
                share.add_metric(base, float(payload["drift_share"]))
                dataset.add_metric(base, float(payload["dataset_drift"]))
                for name, col in payload["columns"].items():
                    score = col["score"]
                    if isinstance(score, int | float) and math.isfinite(score):
                        column.add_metric([*base, name, col["stattest"]], float(score))
                    drifted.add_metric([*base, name], float(col["drifted"]))
            else:
                for metric, value in payload["metrics"].items():
                    perf.add_metric([*base, metric], float(value))
        alerts = GaugeMetricFamily(
            "mlops_alerts",
            "Alerts by state and severity (resolved ones are not counted).",
            labels=["status", "severity", "rule", "model"],
        )
        counts: dict[tuple[str, str, str, str], int] = {}
        for alert in self.store.list_alerts(status=["pending", "firing", "acknowledged"]):
            key = (alert.status, alert.severity, alert.rule, alert.model_name or "")
            counts[key] = counts.get(key, 0) + 1
        for key, n in sorted(counts.items()):
            alerts.add_metric(list(key), n)
        undelivered = GaugeMetricFamily(
            "mlops_alert_deliveries_failed", "Alert notifications that could not be delivered."
        )
        undelivered.add_metric(
            [],
            sum(
                d.status == "failed"
                for a in self.store.list_alerts(limit=self.max_results)
                for d in a.deliveries
            ),
        )
        yield from (share, dataset, column, drifted, perf, window_end, alerts, undelivered)


def monitoring_registry(config: MLOpsConfig | None = None) -> CollectorRegistry:
    """A registry holding only the monitoring collector of ``config``'s store."""
    from mlops.monitoring.store import monitoring_store

    registry = CollectorRegistry()
    registry.register(MonitoringCollector(monitoring_store(config)))
    return registry


def start_exporter(
    port: int = 9108, addr: str = "127.0.0.1", config: MLOpsConfig | None = None
) -> CollectorRegistry:
    """Serve the monitoring metrics on ``http://addr:port/metrics`` (a daemon thread)."""
    registry = monitoring_registry(config)
    start_http_server(port, addr=addr, registry=registry)
    return registry
