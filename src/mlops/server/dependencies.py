"""What routes receive: the server's stores, opened once, and the idempotency helper."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Header, Request

from mlops.artifacts import ArtifactStore
from mlops.auth.access import AccessControl
from mlops.config import MLOpsConfig
from mlops.errors import ConfigError
from mlops.experiments.store import TrackingStore
from mlops.features.feature_store import FeatureStore
from mlops.features.store import DefinitionStore
from mlops.models.store import RegistryStore
from mlops.monitoring.alerts import AlertManager
from mlops.monitoring.store import MonitoringStore
from mlops.server.idempotency import HEADER, IdempotencyLog, Once
from mlops.server.scopes import ScopeResolver
from mlops.store.open import Stores, open_stores
from mlops.store.sql.auth import SqlAuditStore, SqlAuthStore
from mlops.store.sql.features import SqlDefinitionStore
from mlops.store.sql.monitoring import SqlMonitoringStore


class ServerState:
    """The stores a server serves, opened on first use and closed at shutdown.

    Opening lazily lets the process start (and ``/healthz`` answer) while the database is still
    unreachable; ``/readyz`` reports whether it can be opened.
    """

    def __init__(self, config: MLOpsConfig):
        if config.resolved_tracking_uri.startswith(("http://", "https://")):
            raise ConfigError(
                "the server needs a database: give it a sqlite:/// or postgresql:// tracking URI, "
                f"not another server ({config.resolved_tracking_uri})"
            )
        self.config = config
        self._stores: Stores | None = None
        self._idempotency: IdempotencyLog | None = None
        self._access: AccessControl | None = None
        self._scopes: ScopeResolver | None = None
        self._monitoring: MonitoringStore | None = None
        self._alerts: AlertManager | None = None
        self._definitions: DefinitionStore | None = None
        self._features: FeatureStore | None = None
        self._lock = threading.Lock()

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            with self._lock:
                if self._stores is None:
                    stores = open_stores(self.config, fresh=True)
                    self._idempotency = IdempotencyLog(
                        stores.db, self.config.server.idempotency_ttl
                    )
                    auth = SqlAuthStore(stores.db)
                    self._access = AccessControl(
                        auth, SqlAuditStore(stores.db), stores.tracking, stores.registry
                    )
                    self._monitoring = SqlMonitoringStore(stores.db, stores.registry)
                    self._scopes = ScopeResolver(
                        auth, stores.tracking, stores.registry, self._monitoring
                    )
                    self._alerts = None
                    self._definitions = SqlDefinitionStore(stores.db)
                    self._stores = stores
        return self._stores

    @property
    def idempotency(self) -> IdempotencyLog:
        self.stores  # noqa: B018 - opens the stores, which creates the log
        assert self._idempotency is not None
        return self._idempotency

    @property
    def access(self) -> AccessControl:
        """Users, tokens, grants and the audit log of the served database."""
        self.stores  # noqa: B018 - opens the stores, which creates it
        assert self._access is not None
        return self._access

    @property
    def scopes(self) -> ScopeResolver:
        """Maps a request's targets onto the scopes roles are granted on."""
        self.stores  # noqa: B018 - opens the stores, which creates it
        assert self._scopes is not None
        return self._scopes

    @property
    def monitoring(self) -> MonitoringStore:
        """Window results, detectors and alerts of the served database."""
        self.stores  # noqa: B018 - opens the stores, which creates it
        assert self._monitoring is not None
        return self._monitoring

    @property
    def alerts(self) -> AlertManager:
        """Alert actions (ack, resolve, silence) with the domain's rules, on the served store.

        It only records: notifications go out from whichever process runs ``deliver()`` with
        the channels configured (``monitoring.alert_channels``).
        """
        if self._alerts is None:
            store = self.monitoring
            with self._lock:
                if self._alerts is None:
                    self._alerts = AlertManager(config=self.config, store=store)
        return self._alerts

    @property
    def definitions(self) -> DefinitionStore:
        """Feature definitions (entities, views, services) of the served database."""
        self.stores  # noqa: B018 - opens the stores, which creates it
        assert self._definitions is not None
        return self._definitions

    @property
    def feature_store(self) -> FeatureStore:
        """The feature store online lookups read: the served database's definitions and the
        configuration's ``features.online_store`` (``<home>/online.db`` when unset), the one a
        ``FeatureStore(config=...)`` with the same configuration materializes into. Its
        connection is opened on the first lookup."""
        if self._features is None:
            definitions = self.definitions
            with self._lock:
                if self._features is None:
                    self._features = FeatureStore(
                        config=self.config, definitions=definitions, show_progress=False
                    )
        return self._features

    def close(self) -> None:
        with self._lock:
            if self._features is not None:
                self._features.close()
                self._features = None
            if self._stores is not None:
                self._stores.close()
                self._stores = None


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.mlops
    return state


def get_tracking(request: Request) -> TrackingStore:
    return get_state(request).stores.tracking


def get_registry(request: Request) -> RegistryStore:
    return get_state(request).stores.registry


def get_artifacts(request: Request) -> ArtifactStore:
    artifacts = get_state(request).stores.artifacts
    assert isinstance(artifacts, ArtifactStore)  # a server's stores are never remote
    return artifacts


def get_once(
    request: Request,
    key: Annotated[str | None, Header(alias=HEADER, min_length=1, max_length=128)] = None,
) -> Once:
    return Once(get_state(request).idempotency, key, request.method, request.url.path)


State = Annotated[ServerState, Depends(get_state)]
Tracking = Annotated[TrackingStore, Depends(get_tracking)]
Registry = Annotated[RegistryStore, Depends(get_registry)]
Artifacts = Annotated[ArtifactStore, Depends(get_artifacts)]
Idempotent = Annotated[Once, Depends(get_once)]
