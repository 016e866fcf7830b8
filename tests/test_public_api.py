"""``mlops.__all__`` is sorted and complete, and the seed's names import from their domains."""

from __future__ import annotations

import importlib

import mlops
from mlops import errors


def test_all_is_sorted_and_resolvable() -> None:
    assert mlops.__all__ == sorted(mlops.__all__)
    for name in mlops.__all__:
        assert hasattr(mlops, name), name


def test_every_public_error_is_exported_from_errors() -> None:
    defined = {
        n
        for n, v in vars(errors).items()
        if isinstance(v, type) and issubclass(v, errors.MLOpsError)
    }
    assert set(errors.__all__) == defined
    assert errors.__all__ == sorted(errors.__all__)


def test_seed_names_import_from_their_domains() -> None:
    seed = {
        "mlops.experiments": [
            "ExperimentTracker",
            "ExperimentComparison",
            "start_experiment",
            "log_metrics",
            "compare_experiments",
            "get_best_model",
        ],
        "mlops.models": ["ModelRegistry", "register_model", "promote_model"],
        "mlops.config": ["MLOpsConfig", "enable_debug_mode"],
        "mlops.errors": [
            "MLOpsError",
            "ExperimentError",
            "ModelRegistryError",
            "DeploymentError",
            "MonitoringError",
        ],
    }
    for module, names in seed.items():
        loaded = importlib.import_module(module)
        for name in names:
            assert hasattr(loaded, name), f"{module}.{name}"


def test_concrete_errors_are_both_domain_and_kind() -> None:
    assert issubclass(errors.ModelVersionNotFoundError, errors.ModelRegistryError)
    assert issubclass(errors.ModelVersionNotFoundError, errors.NotFoundError)
    assert issubclass(errors.InvalidFilterError, ValueError)
    assert errors.NotFoundError.status_code == 404
