"""Monitoring: drift and performance of deployed models, alerts, reports and metrics.

The seed's names: ``ModelMonitor``, ``DriftDetector``, ``PerformanceMonitor``, ``AlertManager``,
``MonitoringDashboard`` and the functions ``detect_drift``, ``monitor_performance``,
``create_alert`` and ``generate_report``.
"""

from mlops.monitoring.drift import DriftDetector, detect_drift
from mlops.monitoring.results import ColumnDrift, DriftResult, MultivariateDrift
from mlops.monitoring.stattests import STATTESTS, get_stattest
from mlops.monitoring.units import InvalidMonitoringInputError

__all__ = [
    "STATTESTS",
    "ColumnDrift",
    "DriftDetector",
    "DriftResult",
    "InvalidMonitoringInputError",
    "MultivariateDrift",
    "detect_drift",
    "get_stattest",
]
