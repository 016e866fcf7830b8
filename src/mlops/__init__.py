"""mlops: one local-first platform for the machine-learning lifecycle.

This module re-exports the public API; each domain package (``mlops.experiments``,
``mlops.models``, ...) holds the rest.
"""

from mlops.config import MLOpsConfig, enable_debug_mode
from mlops.errors import (
    AlreadyExistsError,
    ArtifactCorruptedError,
    BackendUnavailableError,
    ConfigError,
    DeploymentError,
    ExperimentError,
    InvalidFilterError,
    InvalidInputError,
    InvalidStateError,
    MLOpsError,
    ModelRegistryError,
    MonitoringError,
    NotFoundError,
    PermissionDeniedError,
)
from mlops.experiments import (
    ExperimentComparison,
    ExperimentTracker,
    compare_experiments,
    get_best_model,
    get_metric_history,
    get_run,
    log_metrics,
    log_params,
    search_runs,
    start_experiment,
)
from mlops.factory import MLOpsStack, create_mlops_stack
from mlops.features import FeatureStore
from mlops.models import ModelRegistry, ModelVersion, Stage, promote_model, register_model

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "ArtifactCorruptedError",
    "BackendUnavailableError",
    "ConfigError",
    "DeploymentError",
    "ExperimentComparison",
    "ExperimentError",
    "ExperimentTracker",
    "FeatureStore",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidStateError",
    "MLOpsConfig",
    "MLOpsError",
    "MLOpsStack",
    "ModelRegistry",
    "ModelRegistryError",
    "ModelVersion",
    "MonitoringError",
    "NotFoundError",
    "PermissionDeniedError",
    "Stage",
    "compare_experiments",
    "create_mlops_stack",
    "enable_debug_mode",
    "get_best_model",
    "get_metric_history",
    "get_run",
    "log_metrics",
    "log_params",
    "promote_model",
    "register_model",
    "search_runs",
    "start_experiment",
]
