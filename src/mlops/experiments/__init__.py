"""Experiment tracking: experiments, runs, params, metrics, datasets, search and comparison."""

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
