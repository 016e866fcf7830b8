"""``ModelDeployment``: the interface every deployment target implements.

A deployment puts a model version behind an address. ``deploy()`` returns a handle that can be
awaited (``await deployment.deploy()``, as the seed writes it) or waited on (``.wait()``) in a
plain script: a ``Rollout``, with its status and steps; a target whose rollout finishes before
``deploy`` returns hands back a finished one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from mlops.models.deployment.rollout import Rollout
from mlops.models.entities import ModelVersion

__all__ = ["DeploymentStatus", "ModelDeployment", "model_uri"]


@dataclass(frozen=True)
class DeploymentStatus:
    """Where a deployment is: its address, whether it serves, and its traffic split."""

    url: str | None
    running: bool
    backends: list[dict[str, Any]] = field(default_factory=list)


class ModelDeployment(abc.ABC):
    """A model version served somewhere."""

    @abc.abstractmethod
    def deploy(self) -> Rollout:
        """Start serving; the handle says how the rollout went (``rollout.deployment``: self)."""

    @abc.abstractmethod
    def status(self) -> DeploymentStatus:
        """The deployment's address, state and traffic split now."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop serving, answering the requests in flight first."""


def model_uri(model: ModelVersion | str) -> str:
    """A ``models:/`` reference for a version object or a reference string."""
    if isinstance(model, ModelVersion):
        return f"models:/{model.name}/{model.version}"
    return model
