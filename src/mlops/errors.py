"""Every error mlops raises, in one tree.

Callers catch by *kind* (``NotFoundError``) or by *domain* (``ModelRegistryError``); a concrete
error inherits from both, so either ``except`` works. Each class carries the HTTP status the
server will render it with, so the same class can be rebuilt on the client side.

```
MLOpsError                               500
├── NotFoundError                        404
├── AlreadyExistsError                   409
├── InvalidInputError(ValueError)        400
│   ├── InvalidFilterError
│   └── PayloadTooLargeError             413
├── InvalidStateError                    409
│   └── NotFittedError(AttributeError)
├── AuthenticationError                  401
├── PermissionDeniedError                403
├── ConfigError                          500
│   └── SchemaOutdatedError
├── BackendUnavailableError              503
├── ArtifactCorruptedError               500
├── ExperimentError        (domain root)
│   └── ABTestError        (A/B tests; crossed with the kinds above)
├── ModelRegistryError     (domain root)
├── DeploymentError        (domain root)
├── MonitoringError        (domain root)
└── FeatureStoreError      (domain root)
    ├── FeatureDefinitionNotFoundError   NotFoundError       404
    ├── FeatureDefinitionExistsError     AlreadyExistsError  409
    ├── InvalidFeatureInputError         InvalidInputError   400
    ├── BreakingChangeError              InvalidStateError   409
    ├── FeatureValidationError           InvalidStateError   409
    ├── FeatureBackendUnsupportedError   InvalidStateError   409
    └── SkewCheckError                   InvalidStateError   409
```
"""

from __future__ import annotations


class MLOpsError(Exception):
    """Base class of every error mlops raises."""

    status_code: int = 500


# --- kinds -------------------------------------------------------------------------------------


class NotFoundError(MLOpsError):
    """The named object does not exist (or was deleted)."""

    status_code = 404


class AlreadyExistsError(MLOpsError):
    """An object with that identity exists already."""

    status_code = 409


class InvalidInputError(MLOpsError, ValueError):
    """An argument is malformed or out of range."""

    status_code = 400


class InvalidFilterError(InvalidInputError):
    """A search filter or order-by clause does not parse."""


class PayloadTooLargeError(InvalidInputError):
    """An upload is larger than the server accepts (``server.max_upload_size``)."""

    status_code = 413


class InvalidStateError(MLOpsError):
    """The object exists but is not in a state that allows the operation."""

    status_code = 409


class NotFittedError(InvalidStateError, AttributeError):
    """An estimator-like object was used before ``fit``."""


class AuthenticationError(MLOpsError):
    """No valid API token: missing, unknown, revoked, expired, or its user is disabled."""

    status_code = 401


class PermissionDeniedError(MLOpsError):
    """The current user lacks the role the operation needs."""

    status_code = 403


class ConfigError(MLOpsError):
    """The configuration names something that cannot be used."""

    status_code = 500


class SchemaOutdatedError(ConfigError):
    """The metadata database is at an older schema revision; run ``mlops db upgrade``."""


class BackendUnavailableError(MLOpsError):
    """A database, object store or service could not be reached."""

    status_code = 503


class ArtifactCorruptedError(MLOpsError):
    """An artifact's bytes no longer match the sha256 recorded when it was written."""

    status_code = 500


# --- domains -----------------------------------------------------------------------------------


class ExperimentError(MLOpsError):
    """Experiment tracking failed."""


class ModelRegistryError(MLOpsError):
    """A model registry operation failed."""


class DeploymentError(MLOpsError):
    """A model deployment failed."""


class MonitoringError(MLOpsError):
    """A monitoring operation failed."""


# --- concrete errors: domain x kind ------------------------------------------------------------


class ExperimentNotFoundError(ExperimentError, NotFoundError):
    """No experiment with that name or id."""


class RunNotFoundError(ExperimentError, NotFoundError):
    """No run with that id."""


class ExperimentAlreadyExistsError(ExperimentError, AlreadyExistsError):
    """An experiment with that name exists already."""


class InvalidRunStateError(ExperimentError, InvalidStateError):
    """The run is not in a state that allows the operation (e.g. logging to a finished run)."""


class InvalidParamError(ExperimentError, InvalidInputError):
    """A parameter, metric or tag is malformed, or a parameter would change its value."""


class ModelNotFoundError(ModelRegistryError, NotFoundError):
    """No registered model with that name."""


class ModelVersionNotFoundError(ModelRegistryError, NotFoundError):
    """No such version, stage or alias of a registered model."""


class InvalidStageTransitionError(ModelRegistryError, InvalidStateError):
    """The stage change is not allowed by the registry's stage rules."""


class ModelSerializationError(ModelRegistryError, InvalidInputError):
    """The model cannot be saved in any supported format."""


class ModelIntegrityError(ModelRegistryError, ArtifactCorruptedError):
    """A model artifact's sha256 differs from the registry's record; it will not be loaded."""


class ApprovalError(ModelRegistryError, InvalidStateError):
    """An approval request cannot be decided (already decided, or self-approval)."""


# A/B tests (``mlops.experiments.abtest``): here, so a client of a server rebuilds them by name.


class ABTestError(ExperimentError):
    """An A/B test operation failed (the root of the A/B test errors)."""


class ABTestNotFoundError(ABTestError, NotFoundError):
    """No A/B test with that name or id."""


class ABTestExistsError(ABTestError, AlreadyExistsError):
    """An A/B test with that name exists with another plan (split, metrics, settings)."""


class InvalidABTestError(ABTestError, InvalidInputError):
    """An A/B test's split, metric, variant or outcome is malformed or unknown."""


class ABTestStateError(ABTestError, InvalidStateError):
    """The A/B test cannot do that now: stopped, no outcomes yet, no winner to promote."""


# --- the feature store -------------------------------------------------------------------------


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


class FeatureBackendUnsupportedError(FeatureStoreError, InvalidStateError):
    """The feature store's backend (``backend="feast"``) cannot do this operation."""


class SkewCheckError(FeatureStoreError, InvalidStateError):
    """Training/serving skew cannot be checked (e.g. the view was never materialized)."""


__all__ = [
    "ABTestError",
    "ABTestExistsError",
    "ABTestNotFoundError",
    "ABTestStateError",
    "AlreadyExistsError",
    "ApprovalError",
    "ArtifactCorruptedError",
    "AuthenticationError",
    "BackendUnavailableError",
    "BreakingChangeError",
    "ConfigError",
    "DeploymentError",
    "ExperimentAlreadyExistsError",
    "ExperimentError",
    "ExperimentNotFoundError",
    "FeatureBackendUnsupportedError",
    "FeatureDefinitionExistsError",
    "FeatureDefinitionNotFoundError",
    "FeatureStoreError",
    "FeatureValidationError",
    "InvalidABTestError",
    "InvalidFeatureInputError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidParamError",
    "InvalidRunStateError",
    "InvalidStageTransitionError",
    "InvalidStateError",
    "MLOpsError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelRegistryError",
    "ModelSerializationError",
    "ModelVersionNotFoundError",
    "MonitoringError",
    "NotFittedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RunNotFoundError",
    "SchemaOutdatedError",
    "SkewCheckError",
]
