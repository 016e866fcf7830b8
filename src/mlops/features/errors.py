"""The feature domain's errors, kept importable here for code written before they moved into
``mlops.errors`` (where the whole tree lives, so an HTTP client rebuilds the same class)."""

from __future__ import annotations

from mlops.errors import (
    BreakingChangeError,
    FeatureBackendUnsupportedError,
    FeatureDefinitionExistsError,
    FeatureDefinitionNotFoundError,
    FeatureStoreError,
    FeatureValidationError,
    InvalidFeatureInputError,
    SkewCheckError,
)

__all__ = [
    "BreakingChangeError",
    "FeatureBackendUnsupportedError",
    "FeatureDefinitionExistsError",
    "FeatureDefinitionNotFoundError",
    "FeatureStoreError",
    "FeatureValidationError",
    "InvalidFeatureInputError",
    "SkewCheckError",
]
