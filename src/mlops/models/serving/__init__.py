"""Model serving: a registered model over HTTP, micro-batched, hot-swapped; and ensembles.

``ModelServing`` runs the server as a Python object; ``create_serving_app`` is the ASGI app it
runs (``mlops serve`` on the command line); ``ModelEnsemble`` combines several models, with
shadows. ``PredictionConsumer`` is the monitoring hook's interface; ``MonitorFeed`` the consumer
that feeds the served version's ``ModelMonitor``.
"""

from mlops.models.serving.app import create_serving_app
from mlops.models.serving.batching import MicroBatcher
from mlops.models.serving.ensemble import EnsemblePrediction, ModelEnsemble, ShadowStats
from mlops.models.serving.errors import (
    InvalidPayloadError,
    ModelRejectedInputError,
    ModelUnavailableError,
)
from mlops.models.serving.feed import MonitorFeed
from mlops.models.serving.monitoring import (
    PredictionConsumer,
    PredictionQueue,
    PredictionRecord,
    row_ids,
)
from mlops.models.serving.options import ServingOptions
from mlops.models.serving.server import ModelServing

_DEPLOYMENT = frozenset({"KubernetesDeployment", "LocalDeployment", "ModelDeployment"})


def __getattr__(name: str) -> object:
    # The issue lists the deployment classes among "the seed's names" beside ModelServing and
    # ModelEnsemble; they live in mlops.models.deployment (which imports this package), so
    # they are reached lazily here rather than imported in a cycle.
    if name in _DEPLOYMENT:
        from mlops.models import deployment

        return getattr(deployment, name)
    raise AttributeError(f"module 'mlops.models.serving' has no attribute {name!r}")


__all__ = [
    "EnsemblePrediction",
    "InvalidPayloadError",
    "MicroBatcher",
    "ModelEnsemble",
    "ModelRejectedInputError",
    "ModelServing",
    "ModelUnavailableError",
    "MonitorFeed",
    "PredictionConsumer",
    "PredictionQueue",
    "PredictionRecord",
    "ServingOptions",
    "ShadowStats",
    "create_serving_app",
    "row_ids",
]
