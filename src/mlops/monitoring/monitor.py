"""``ModelMonitor``: drift, performance, alerts and metrics for one registered model version.

It wires the parts together: every closed drift window and every performance evaluation is fed
to the ``AlertManager`` (with the model's labels), whose rules come from the detector's
``alert_threshold`` and the ``alert_thresholds`` given here. The drift reference is, in order:
``reference_data``, a detector attached to the version (``DriftDetector.attach``), or the
training dataset its run logged (when that dataset's source is a readable file).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.errors import NotFoundError
from mlops.handles import Completed
from mlops.monitoring.alerts import AlertManager, AlertRule
from mlops.monitoring.drift import DriftDetector
from mlops.monitoring.performance import HIGHER_IS_BETTER, PerformanceMonitor, PerformanceResult
from mlops.monitoring.results import DriftResult
from mlops.monitoring.streaming import Ack

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ModelVersion
    from mlops.monitoring.channels import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    """What ``health_check`` found. Truthy when healthy."""

    healthy: bool
    running: bool
    drift: dict[str, Any] | None
    performance: dict[str, Any] | None
    open_alerts: int
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.healthy


class ModelMonitor:
    """Monitoring of one registered model version.

    Args:
        model_version: A ``ModelVersion`` or "name/3".
        reference_data: Drift reference (default: an attached detector, else the training
            dataset logged by the version's run).
        detection_window: Window of the drift detector ("1h", "15m", or a row count).
        metrics: Performance metrics to watch.
        alert_thresholds: Performance thresholds with units ({"precision": 0.8,
            "latency": "100ms"}).
        channels: Alert channels (default: the config's ``monitoring.alert_channels``).
        task: ``classification``, ``regression`` or ``anomaly``.
        config: Store configuration (default: the environment's).
        deployment: The deployment whose traffic this monitor sees (the serving hook passes
            its id): window results and alerts record it, and each deployment of a version
            gets its own windows.
    """

    def __init__(
        self,
        model_version: ModelVersion | str,
        reference_data: Any = None,
        detection_window: str | int = "1h",
        metrics: Sequence[str] | None = None,
        alert_thresholds: Mapping[str, str | float] | None = None,
        channels: Sequence[str | Channel] | None = None,
        task: str = "classification",
        drift_alert_for: str | float = 0.0,
        config: MLOpsConfig | None = None,
        deployment: str | None = None,
    ):
        from mlops.monitoring.store import monitoring_store

        self.config = config
        self.store = monitoring_store(config)
        self.model_name, self.version = self.store.resolve_version(model_version)
        if self.model_name is None or self.version is None:
            raise NotFoundError(
                f"{model_version!r} is not a registered model version; register it first "
                "(ModelMonitor watches registered versions; PerformanceMonitor takes any label)"
            )
        self.deployment = deployment
        self.labels = {"model": self.model_name, "version": str(self.version)}
        if deployment is not None:
            self.labels["deployment"] = deployment
        self.detector = self._detector(reference_data, detection_window)
        self.performance = PerformanceMonitor(
            f"{self.model_name}/{self.version}",
            metrics=metrics,
            alert_thresholds=alert_thresholds,
            task=task,
            config=config,
            deployment=deployment,
        )
        self.alerts = AlertManager(channels, config=config)
        if self.detector is not None:
            self.alerts.add_rule(
                AlertRule.create(
                    "dataset_drift",
                    "drift_share",
                    ">",
                    self.detector.alert_threshold,
                    for_duration=drift_alert_for,
                    severity="warning",
                    message="{value:.0%} of columns drifted (alert above {threshold:.0%})",
                )
            )
        for metric, threshold in self.performance.thresholds.items():
            self.alerts.add_rule(
                AlertRule.create(
                    f"{metric}_threshold",
                    metric,
                    "<" if metric in HIGHER_IS_BETTER else ">",
                    threshold,
                    severity="critical" if metric in HIGHER_IS_BETTER else "warning",
                )
            )
        self.running = False

    def _detector(self, reference: Any, window: str | int) -> DriftDetector | None:
        ref = f"{self.model_name}/{self.version}"
        if reference is not None:
            return DriftDetector(
                reference,
                detection_window=window,
                model_version=ref,
                config=self.config,
                deployment=self.deployment,
            )
        try:
            return DriftDetector.for_model(
                ref, config=self.config, detection_window=window, deployment=self.deployment
            )
        except NotFoundError:
            pass
        dataset = self._training_dataset()
        if dataset is None:
            log.info("model %s has no drift reference: drift monitoring is off", ref)
            return None
        return DriftDetector(
            dataset,
            detection_window=window,
            model_version=ref,
            config=self.config,
            deployment=self.deployment,
        )

    def _training_dataset(self) -> Any:
        """The path of a dataset the version's run logged, if it is a readable file."""
        from pathlib import Path

        from mlops.models.registry import ModelRegistry

        registry = ModelRegistry(config=self.config)
        lineage = registry.get_lineage(self.model_name or "", self.version or 0)
        for item in sorted(lineage["datasets"], key=lambda d: d["context"] != "training"):
            source = Path(str(item["dataset"].source))
            if source.is_file() and source.suffix.lower() in (".parquet", ".csv", ".tsv"):
                return source
        return None

    # --- lifecycle -----------------------------------------------------------------------------

    def start_monitoring(self) -> Completed[ModelMonitor]:
        """Start windows, periodic evaluation and alert delivery; awaitable, idempotent."""
        if self.running:
            return Completed(self)
        if self.detector is not None:
            self.detector.stream.callbacks.append(self._on_drift)
            self.detector.start_monitoring()
        self.performance.callbacks.append(self._on_performance)
        self.performance.start_monitoring()
        self.alerts.start()
        self.running = True
        return Completed(self)

    def _on_drift(self, result: DriftResult) -> None:
        self.alerts.observe_drift(result, self.labels)

    def _on_performance(self, result: PerformanceResult) -> None:
        self.alerts.observe_performance(result, self.labels)

    def log_predictions(
        self,
        features: Any,
        predictions: Any,
        ground_truth: Any = None,
        prediction_ids: Sequence[Any] | None = None,
        latency: Any = None,
        scores: Any = None,
        errors: Any = None,
    ) -> Ack | Completed[int]:
        """Feed both monitors: features to drift, predictions (and labels, latencies in seconds,
        scores, failed-request flags) to performance. Safe from any thread: the drift rows are
        only enqueued, the performance rows written in one batch."""
        self.performance.log_inference(
            predictions,
            ground_truth,
            prediction_ids=prediction_ids,
            latency=latency,
            scores=scores,
            errors=errors,
        )
        if self.detector is not None:
            return self.detector.log_predictions(features, predictions)
        return Completed(0)

    def log_ground_truth(self, prediction_ids: Sequence[Any], labels: Any) -> list[float]:
        """Join labels that arrived later to their predictions by id; the windows they touch
        are evaluated again (and their alerts with them). Returns those windows' starts."""
        return self.performance.log_ground_truth(prediction_ids, labels)

    def stop(self) -> None:
        """Flush and stop everything; the open window stays stored for the next start."""
        if self.detector is not None:
            self.detector.stop()
        self.performance.stop()
        self.alerts.deliver()
        self.alerts.stop()
        self.running = False

    def health_check(self) -> Health:
        """Healthy when running, the newest windows are not flagged and no alert is firing."""
        problems = []
        drift = None
        if self.detector is None:
            problems.append("no drift reference (pass reference_data or attach a detector)")
        else:
            results = self.detector.results(limit=1)
            if results:
                drift = {
                    "drift_share": results[-1].drift_share,
                    "dataset_drift": results[-1].dataset_drift,
                    "window_end": results[-1].window_end,
                }
                if results[-1].dataset_drift:
                    problems.append(f"data drift in {results[-1].drifted_columns}")
        perf_results = self.performance.results(limit=1)
        performance = None
        if perf_results:
            performance = perf_results[-1].to_dict()
            problems.extend(
                f"{b.metric} {b.value:.4g} {b.direction} {b.threshold:.4g}"
                for b in perf_results[-1].breaches
            )
        firing = [
            a
            for a in self.alerts.list_alerts(status=["firing"])
            if a.model_name == self.model_name
            and a.model_version in (None, self.version)
            and (self.deployment is None or a.deployment in (None, self.deployment))
        ]
        if firing:
            problems.append(f"{len(firing)} alert(s) firing")
        if not self.running:
            problems.append("not started (call start_monitoring())")
        return Health(
            healthy=not problems,
            running=self.running,
            drift=drift,
            performance=performance,
            open_alerts=len(firing),
            problems=problems,
        )
