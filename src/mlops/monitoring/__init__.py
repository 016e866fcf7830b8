"""Monitoring: drift and performance of deployed models, alerts, reports and metrics.

The seed's names: ``ModelMonitor``, ``DriftDetector``, ``PerformanceMonitor``, ``AlertManager``,
``MonitoringDashboard`` and the functions ``detect_drift``, ``monitor_performance``,
``create_alert`` and ``generate_report``; ``recent_drift`` judges what a version served lately
(a rollout's drift gate).
"""

from mlops.monitoring.alerts import AlertManager, AlertRule, create_alert
from mlops.monitoring.channels import (
    AlertmanagerChannel,
    Channel,
    DeliveryError,
    EmailChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
)
from mlops.monitoring.dashboard import MonitoringDashboard
from mlops.monitoring.drift import DriftDetector, detect_drift
from mlops.monitoring.entities import Alert, Delivery, Silence, WindowResult
from mlops.monitoring.monitor import Health, ModelMonitor
from mlops.monitoring.performance import PerformanceMonitor, PerformanceResult, monitor_performance
from mlops.monitoring.prometheus import MonitoringCollector, start_exporter
from mlops.monitoring.recent import recent_drift
from mlops.monitoring.reports import Report, generate_report
from mlops.monitoring.results import ColumnDrift, DriftResult, MultivariateDrift
from mlops.monitoring.stattests import STATTESTS, get_stattest
from mlops.monitoring.units import InvalidMonitoringInputError

__all__ = [
    "STATTESTS",
    "Alert",
    "AlertManager",
    "AlertRule",
    "AlertmanagerChannel",
    "Channel",
    "ColumnDrift",
    "Delivery",
    "DeliveryError",
    "DriftDetector",
    "DriftResult",
    "EmailChannel",
    "Health",
    "InvalidMonitoringInputError",
    "LogChannel",
    "ModelMonitor",
    "MonitoringCollector",
    "MonitoringDashboard",
    "MultivariateDrift",
    "PerformanceMonitor",
    "PerformanceResult",
    "Report",
    "Silence",
    "SlackChannel",
    "WebhookChannel",
    "WindowResult",
    "create_alert",
    "detect_drift",
    "generate_report",
    "get_stattest",
    "monitor_performance",
    "recent_drift",
    "start_exporter",
]
