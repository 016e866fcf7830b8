"""Model lifecycle: the registry, model flavors and signatures."""

from mlops.models.entities import (
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)
from mlops.models.registry import ModelRegistry, promote_model, register_model

__all__ = [
    "ApprovalRequest",
    "ModelRegistry",
    "ModelVersion",
    "RegisteredModel",
    "RegistryEvent",
    "Stage",
    "promote_model",
    "register_model",
]
