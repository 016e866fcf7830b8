"""The serving domain's errors: each is a ``DeploymentError`` and a kind the server renders.

They live here, beside the code that raises them, rather than in :mod:`mlops.errors`, so the
serving package can be merged without touching the shared tree; both ``except DeploymentError``
and ``except InvalidInputError`` catch them.
"""

from __future__ import annotations

from mlops.errors import BackendUnavailableError, DeploymentError, InvalidInputError

__all__ = ["InvalidPayloadError", "ModelRejectedInputError", "ModelUnavailableError"]


class InvalidPayloadError(DeploymentError, InvalidInputError):
    """A prediction request names a wrong field, or has a wrong type or shape (HTTP 422)."""

    status_code = 422


class ModelRejectedInputError(InvalidPayloadError):
    """The input passed the signature check but the model raised on it (HTTP 422)."""


class ModelUnavailableError(DeploymentError, BackendUnavailableError):
    """No model is loaded yet, or the server is shutting down (HTTP 503)."""
