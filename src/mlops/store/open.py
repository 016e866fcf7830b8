"""Open the stores a configuration names; one set per process and URI.

The tracking URI's scheme picks the implementation: ``sqlite://`` and ``postgresql://`` open
the SQL stores on that database, with artifacts under the configured artifact root;
``http(s)://`` opens REST clients of an mlops server, which keeps both the metadata and the
artifacts (the client's ``artifact_uri`` is not used).

Opening does the once-per-process work: the schema check (creating a new database at the
current schema, refusing an outdated one) and marking the runs of dead processes KILLED.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from mlops.artifacts import ArtifactStore
from mlops.config import MLOpsConfig
from mlops.errors import ConfigError
from mlops.experiments.store import TrackingStore
from mlops.models.store import RegistryStore
from mlops.store.rest import RestArtifactStore, RestClient, RestRegistryStore, RestTrackingStore
from mlops.store.sql.database import Database
from mlops.store.sql.registry import SqlRegistryStore
from mlops.store.sql.tracking import SqlTrackingStore

REMOTE_SCHEMES = ("http://", "https://")


@dataclass
class Stores:
    """The metadata and artifact stores of one configuration.

    ``database`` is the SQL database behind them, or None when they are clients of a server.
    """

    config: MLOpsConfig
    tracking: TrackingStore
    registry: RegistryStore
    artifacts: ArtifactStore | RestArtifactStore
    database: Database | None = None
    client: RestClient | None = None

    @property
    def db(self) -> Database:
        """The SQL database, for operations that need it (gc, copy, schema upgrades).

        Raises:
            ConfigError: The stores are clients of an mlops server.
        """
        if self.database is None:
            raise ConfigError(
                f"this operation needs direct access to the metadata database, and "
                f"{self.config.resolved_tracking_uri} is an mlops server: run it on the server, "
                "with the server's own tracking URI (sqlite:///PATH or postgresql://...)"
            )
        return self.database

    def close(self) -> None:
        """Release the database connections or the HTTP connection pool."""
        if self.database is not None:
            self.database.dispose()
        if self.client is not None:
            self.client.close()


_lock = threading.Lock()  # guards the two dicts below, never held while opening
_open: dict[tuple[str, str, str], Stores] = {}
_opening: dict[tuple[str, str, str], threading.Lock] = {}


def _key(config: MLOpsConfig) -> tuple[str, str, str]:
    """Stores are shared per location and, for a server, per API token (who they act as)."""
    token = config.tracking_token.get_secret_value() if config.tracking_token else ""
    digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
    return config.resolved_tracking_uri, config.resolved_artifact_uri, digest


def open_stores(config: MLOpsConfig, fresh: bool = False) -> Stores:
    """The stores for ``config``, opened (and their database checked) once per process.

    ``fresh=True`` opens a private set, not shared with the rest of the process (the caller
    closes it).
    """
    key = _key(config)
    if fresh:
        return _open_new(config, key)
    with _lock:
        key_lock = _opening.setdefault(key, threading.Lock())
    # One lock per location: opening a server's stores is a network round trip, which must not
    # hold up threads opening other stores (or an in-process server opening its own).
    with key_lock:
        with _lock:
            stores = _open.get(key)
        if stores is None:
            stores = _open_new(config, key)
            with _lock:
                _open[key] = stores
    return stores


def _open_new(config: MLOpsConfig, key: tuple[str, str, str]) -> Stores:
    tracking_uri, artifact_uri, _ = key
    if tracking_uri.startswith(REMOTE_SCHEMES):
        stores = _open_remote(config, tracking_uri)
    else:
        stores = _open_sql(config, tracking_uri, artifact_uri)
    stale_ms = int(config.experiment_tracking.stale_run_after * 1000)
    try:
        stores.tracking.mark_dead_runs(stale_ms)
    except BaseException:  # e.g. a server refusing the token: release the connections
        stores.close()
        raise
    return stores


def _open_sql(config: MLOpsConfig, tracking_uri: str, artifact_uri: str) -> Stores:
    db = Database(tracking_uri)
    db.ensure_schema()
    tracking = SqlTrackingStore(db, artifact_uri)
    return Stores(
        config=config,
        tracking=tracking,
        registry=SqlRegistryStore(db, tracking),
        artifacts=ArtifactStore(artifact_uri),
        database=db,
    )


def _open_remote(config: MLOpsConfig, url: str) -> Stores:
    token = config.tracking_token.get_secret_value() if config.tracking_token else None
    client = RestClient(url, config.client, token=token)
    return Stores(
        config=config,
        tracking=RestTrackingStore(client),
        registry=RestRegistryStore(client),
        artifacts=RestArtifactStore(client),
        client=client,
    )


def close_all() -> None:
    """Release every cached store's connections (tests, and before fork)."""
    with _lock:
        opened = list(_open.values())
        _open.clear()
    for stores in opened:
        stores.close()
