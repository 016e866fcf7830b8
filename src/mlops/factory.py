"""``create_mlops_stack``: the tracker and registry of one configuration, opened together."""

from __future__ import annotations

from mlops.config import MLOpsConfig, load_config
from mlops.experiments.tracking import ExperimentTracker
from mlops.handles import Completed
from mlops.models.registry import ModelRegistry


class MLOpsStack:
    """The components a configuration names, sharing one metadata and artifact store."""

    def __init__(self, config: MLOpsConfig):
        self.config = config
        self.tracker = ExperimentTracker(config=config)
        self.registry = ModelRegistry(config=config)

    def initialize(self) -> Completed[MLOpsStack]:
        """Open the stores now (schema check, KILLED-run detection) instead of on first use."""
        self.tracker.stores  # noqa: B018 - opening is the point
        return Completed(self)

    def close(self) -> None:
        """Flush pending metrics and stop the background writer."""
        self.tracker.close()


def create_mlops_stack(config: MLOpsConfig | None = None) -> MLOpsStack:
    """Build the stack for ``config`` (default: the environment's)."""
    return MLOpsStack(config or load_config())
