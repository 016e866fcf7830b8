"""The monitoring domain's storage interface, and how a configuration opens it.

One SQL implementation (``mlops.store.sql.monitoring``) serves SQLite and PostgreSQL; with an
``http(s)://`` tracking URI the same interface is served by an mlops server
(``mlops.store.rest.monitoring``), so monitors in any process write through it.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidStateError, MonitoringError
from mlops.monitoring.entities import (
    Alert,
    Delivery,
    PredictionBatch,
    PredictionRow,
    Silence,
    StoredDetector,
    WindowResult,
)

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ModelVersion


class MonitoringNotSupportedError(MonitoringError, InvalidStateError):
    """The configured store cannot hold monitoring data."""


class MonitoringStore(abc.ABC):
    """Detectors, open windows, window results, predictions and alerts."""

    @abc.abstractmethod
    def resolve_version(
        self, model_version: ModelVersion | str | None
    ) -> tuple[str | None, int | None]:
        """(model name, version) for a ``ModelVersion``, "name/3", a registered name (its
        newest version), or an unregistered label (version None)."""

    def register_monitor(self, monitor: str, model: str | None) -> None:  # noqa: B027
        """Note the model a monitor's rows belong to. A database needs nothing; a server
        checks the caller's role on that model for the monitor's reads and writes."""

    def bind_monitor(self, monitor: str, model: str) -> str:
        """The model ``monitor`` belongs to, binding it to ``model`` if it has none yet (the
        first writer that names a model owns the name). A server uses it to refuse a caller
        who names one model to reach another model's monitor. Stores that keep no bindings
        answer ``model``."""
        return model

    def monitor_owner(self, monitor: str) -> str | None:
        """The model ``monitor`` is bound to, or None (never bound, or no bindings kept)."""
        return None

    # detectors
    @abc.abstractmethod
    def save_detector(self, name: str, model: str | None, version: int | None, blob: bytes) -> None:
        """Create or replace a stored detector."""

    @abc.abstractmethod
    def get_detector(
        self, model: str | None, version: int | None, name: str | None = None
    ) -> tuple[str, bytes]:
        """(name, blob) of the detector named, or the newest one attached to the version."""

    @abc.abstractmethod
    def list_detectors(self, model: str | None = None) -> list[StoredDetector]:
        """Saved detectors (optionally of one model), by model, version and name."""

    # open windows
    @abc.abstractmethod
    def create_chunks(self, monitor: str, chunks: Sequence[tuple[int, float, int, bytes]]) -> None:
        """Append (seq, window_start, n_rows, payload) rows of an open window."""

    @abc.abstractmethod
    def list_chunks(self, monitor: str) -> list[tuple[int, float, bytes]]:
        """Every stored (seq, window_start, payload) of the monitor, by seq."""

    # results
    @abc.abstractmethod
    def create_result(self, result: WindowResult, delete_chunks_through: int | None = None) -> None:
        """Store (or replace) a window's result; in the same transaction delete the monitor's
        chunks with seq <= ``delete_chunks_through``."""

    @abc.abstractmethod
    def list_results(
        self,
        monitor: str | None = None,
        kind: str | None = None,
        model: str | None = None,
        version: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        deployment: str | None = None,
    ) -> list[WindowResult]:
        """Results, oldest window first (the newest ``limit`` after skipping the newest
        ``offset``, so a reader can page backwards from the newest window)."""

    # predictions
    @abc.abstractmethod
    def create_predictions(self, monitor: str, batch: PredictionBatch) -> None:
        """Insert predictions (an id logged again replaces the earlier row)."""

    @abc.abstractmethod
    def update_labels(
        self, monitor: str, labels: Sequence[tuple[str, float]], at: float
    ) -> list[float]:
        """Set labels by prediction id; returns the window starts that changed."""

    @abc.abstractmethod
    def list_predictions(self, monitor: str, window_start: float) -> list[PredictionRow]:
        """Every prediction of one window."""

    @abc.abstractmethod
    def list_prediction_windows(self, monitor: str) -> list[float]:
        """Window starts that hold predictions."""

    @abc.abstractmethod
    def list_monitors(self, model: str) -> list[str]:
        """The names of the monitors bound to ``model`` (a name is bound on its first write)."""

    # alerts
    @abc.abstractmethod
    def get_open_alert(self, fingerprint: str, model: str | None = None) -> Alert | None:
        """The unresolved alert with this fingerprint, if any (``model``: the model its rule
        watched, which a server checks the caller's role on)."""

    @abc.abstractmethod
    def create_alert(self, values: dict[str, Any]) -> Alert:
        """Insert an alert row."""

    @abc.abstractmethod
    def update_alert(self, alert_id: int, **values: Any) -> Alert:
        """Change an alert's columns."""

    @abc.abstractmethod
    def get_alert(self, alert_id: int) -> Alert:
        """An alert with its deliveries (``NotFoundError`` if absent)."""

    @abc.abstractmethod
    def list_alerts(
        self, status: Sequence[str] | None = None, model: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        """Alerts, newest first, with their deliveries."""

    @abc.abstractmethod
    def create_deliveries(
        self, alert_id: int, channels: Sequence[str], event: str, at: float
    ) -> None:
        """Queue one delivery per channel."""

    @abc.abstractmethod
    def list_due_deliveries(self, at: float, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is due."""

    @abc.abstractmethod
    def claim_deliveries(self, at: float, lease: float, limit: int = 100) -> list[Delivery]:
        """Due pending deliveries, each moved ``lease`` seconds ahead atomically, so another
        process delivering from the same store skips them (and a sender that dies mid-send
        leaves them due again after the lease)."""

    @abc.abstractmethod
    def update_delivery(self, delivery_id: int, **values: Any) -> None:
        """Record an attempt's outcome (``NotFoundError`` for an unknown id)."""

    @abc.abstractmethod
    def create_silence(
        self,
        matchers: dict[str, str],
        starts_at: float,
        ends_at: float,
        user: str,
        comment: str | None,
    ) -> Silence:
        """Add a silence."""

    @abc.abstractmethod
    def list_silences(self, active_at: float | None = None) -> list[Silence]:
        """Silences (only those active at ``active_at`` when given)."""

    # alert rules
    @abc.abstractmethod
    def create_rule(self, name: str, spec: dict[str, Any]) -> None:
        """Store an alert rule (``AlertRule`` fields as JSON), replacing one of the same name."""

    @abc.abstractmethod
    def list_rules(self, model: str | None = None) -> list[dict[str, Any]]:
        """Stored rules (optionally those labelled with one model), by name."""

    @abc.abstractmethod
    def delete_rule(self, name: str) -> None:
        """Remove a stored rule (``NotFoundError`` if there is none)."""


_lock = threading.Lock()
_stores: dict[str, MonitoringStore] = {}


def monitoring_store(config: MLOpsConfig | None = None) -> MonitoringStore:
    """The monitoring store of ``config`` (default: the environment's), one per database.

    With an ``http(s)://`` tracking URI it is a client of that mlops server, sharing the
    tracking client's connection pool.
    """
    from mlops.config import load_config
    from mlops.store.open import open_stores

    stores = open_stores(config or load_config())
    with _lock:
        if stores.database is None:
            from mlops.store.rest.monitoring import RestMonitoringStore

            if stores.client is None:
                raise MonitoringNotSupportedError(
                    f"{stores.config.resolved_tracking_uri} has neither a database nor a server "
                    "to keep monitoring data in"
                )
            key = stores.client.base_url
            store = _stores.get(key)
            if store is None or getattr(store, "client", None) is not stores.client:
                store = RestMonitoringStore(stores.client)
                _stores[key] = store
            return store
        from mlops.store.sql.monitoring import SqlMonitoringStore

        key = stores.database.uri
        store = _stores.get(key)
        if store is None or getattr(store, "db", None) is not stores.database:
            store = SqlMonitoringStore(stores.database, stores.registry)
            _stores[key] = store
    return store
