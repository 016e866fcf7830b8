"""Experiment tracking: experiments, runs, params, metrics, datasets, search and comparison.

``ABTestFramework`` (``mlops.experiments.abtest``) is loaded on first use: it pulls in scipy,
which plain tracking does not need.
"""

from typing import Any

from mlops.experiments.comparison import ExperimentComparison
from mlops.experiments.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    MetricHistory,
    Page,
    Run,
    RunStatus,
)
from mlops.experiments.tracking import (
    ActiveRun,
    ExperimentTracker,
    active_run,
    compare_experiments,
    get_best_model,
    get_metric_history,
    get_run,
    log_metrics,
    log_params,
    search_runs,
    start_experiment,
)

__all__ = [
    "ABTestFramework",
    "ActiveRun",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentComparison",
    "ExperimentTracker",
    "Metric",
    "MetricHistory",
    "Page",
    "Run",
    "RunStatus",
    "active_run",
    "compare_experiments",
    "get_best_model",
    "get_metric_history",
    "get_run",
    "log_metrics",
    "log_params",
    "search_runs",
    "start_experiment",
]


def __getattr__(name: str) -> Any:
    if name == "ABTestFramework":
        from mlops.experiments.abtest import ABTestFramework

        return ABTestFramework
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
