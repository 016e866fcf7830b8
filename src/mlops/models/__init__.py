"""Model lifecycle: the registry, model flavors and signatures."""

from mlops.models.entities import (
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)
from mlops.models.registry import ModelRegistry, promote_model, register_model

_DEPLOYMENT = ("deploy_model", "rollback_deployment")


def __getattr__(name: str) -> object:
    # The seed imports these from here; loading them lazily keeps `import mlops.models` free of
    # the serving stack (uvicorn, the router) for code that only registers models.
    if name in _DEPLOYMENT:
        from mlops.models import deployment

        return getattr(deployment, name)
    raise AttributeError(f"module 'mlops.models' has no attribute {name!r}")


__all__ = [
    "ApprovalRequest",
    "ModelRegistry",
    "ModelVersion",
    "RegisteredModel",
    "RegistryEvent",
    "Stage",
    "deploy_model",  # lazy, see __getattr__
    "promote_model",
    "register_model",
    "rollback_deployment",  # lazy, see __getattr__
]
