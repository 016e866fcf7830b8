"""The feature domain's errors: ``FeatureStoreError`` crossed with the kinds in ``mlops.errors``.

They live beside the domain (not in ``mlops.errors``) while the domain is young; each inherits a
kind (``NotFoundError``, ``InvalidInputError``, ...) so ``except mlops.NotFoundError`` works.
"""

from __future__ import annotations

from mlops.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    MLOpsError,
    NotFoundError,
)


class FeatureStoreError(MLOpsError):
    """A feature store operation failed (domain root)."""


class FeatureDefinitionNotFoundError(FeatureStoreError, NotFoundError):
    """No entity, feature view, feature service or on-demand view with that name (or version)."""


class FeatureDefinitionExistsError(FeatureStoreError, AlreadyExistsError):
    """A definition with that name exists with another, incompatible schema."""


class InvalidFeatureInputError(FeatureStoreError, InvalidInputError):
    """A definition, entity frame, feature reference or value is malformed."""


class BreakingChangeError(FeatureStoreError, InvalidStateError):
    """Applying would change a view's schema incompatibly; pass ``force`` for a new version."""


class FeatureValidationError(FeatureStoreError, InvalidStateError):
    """Feature data failed the view's expectations (at materialization or on a training set)."""

    def __init__(self, message: str, report: object | None = None):
        super().__init__(message)
        self.report = report
