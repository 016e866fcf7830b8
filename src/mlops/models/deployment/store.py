"""``DeploymentStore``: where deployments and their events are recorded.

Every deployment, each traffic step, each gate verdict and every rollback is a row linked to
the model name and version, so "what ran where, and why was it rolled back" has an answer
after the processes are gone.
"""

from __future__ import annotations

import abc
import threading
from typing import Any

from mlops.config import MLOpsConfig, load_config
from mlops.errors import DeploymentError, NotFoundError
from mlops.experiments.entities import Page
from mlops.models.deployment.entities import DeploymentEvent, DeploymentRecord

__all__ = ["DeploymentNotFoundError", "DeploymentStore", "deployment_store"]


class DeploymentNotFoundError(DeploymentError, NotFoundError):
    """No deployment with that id."""


class DeploymentStore(abc.ABC):
    """Deployments and their events."""

    @abc.abstractmethod
    def create_deployment(
        self,
        *,
        name: str,
        target: str,
        strategy: str,
        model_name: str,
        model_version: int | None,
        previous_version: int | None,
        config: dict[str, Any],
        user: str,
        url: str | None = None,
    ) -> DeploymentRecord:
        """Record a new deployment in status ``running``."""

    @abc.abstractmethod
    def update_deployment(
        self,
        deployment_id: str,
        *,
        status: str | None = None,
        url: str | None = None,
        message: str | None = None,
    ) -> DeploymentRecord:
        """Change a deployment's status, address or message (a final status sets finished_at).

        Raises:
            DeploymentNotFoundError: No such deployment.
        """

    @abc.abstractmethod
    def get_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A deployment with its events (an id prefix of 6+ characters is enough).

        Raises:
            DeploymentNotFoundError: No (or more than one) deployment matches.
        """

    @abc.abstractmethod
    def list_deployments(
        self,
        model_name: str | None = None,
        model_version: int | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[DeploymentRecord]:
        """Deployments, newest first, optionally of one model (and version); no events."""

    @abc.abstractmethod
    def create_event(
        self,
        deployment_id: str,
        kind: str,
        *,
        traffic: float | None = None,
        passed: bool | None = None,
        detail: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> DeploymentEvent:
        """Append an event to a deployment."""


_lock = threading.Lock()
_stores: dict[str, DeploymentStore] = {}


def deployment_store(config: MLOpsConfig | None = None) -> DeploymentStore:
    """The deployment store of ``config`` (default: the environment's), one per database.

    Raises:
        DeploymentError: The tracking URI is an mlops server (records need the database).
    """
    # Imported here: the store layer imports this domain's entities.
    from mlops.store.open import open_stores

    stores = open_stores(config or load_config())
    if stores.database is None:
        raise DeploymentError(
            f"deployment records need direct access to the metadata database and "
            f"{stores.config.resolved_tracking_uri} is an mlops server; use the server's "
            "database URI (sqlite:///PATH or postgresql://...)"
        )
    from mlops.store.sql.deployments import SqlDeploymentStore

    key = stores.database.uri
    with _lock:
        store = _stores.get(key)
        if store is None or getattr(store, "db", None) is not stores.database:
            store = SqlDeploymentStore(stores.database)
            _stores[key] = store
    return store
