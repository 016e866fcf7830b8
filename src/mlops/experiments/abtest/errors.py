"""The A/B test errors: ``ExperimentError`` crossed with the kinds in ``mlops.errors``.

They live beside the domain, like the feature store's; each inherits a kind, so
``except mlops.NotFoundError`` works locally, and over HTTP the client rebuilds the kind.
"""

from __future__ import annotations

from mlops.errors import (
    AlreadyExistsError,
    ExperimentError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)


class ABTestError(ExperimentError):
    """An A/B test operation failed (the root of the errors below)."""


class ABTestNotFoundError(ABTestError, NotFoundError):
    """No A/B test with that name or id."""


class ABTestExistsError(ABTestError, AlreadyExistsError):
    """An A/B test with that name exists with another plan (split, metrics or duration)."""


class InvalidABTestError(ABTestError, InvalidInputError):
    """A split, metric, variant or outcome is malformed or unknown."""


class ABTestStateError(ABTestError, InvalidStateError):
    """The test cannot do that now: stopped, no outcomes yet, no winner to promote."""
