"""Open the stores a configuration names; one set per process and URI.

Opening does the once-per-process work: the schema check (creating a new database at the
current schema, refusing an outdated one) and marking the runs of dead processes KILLED.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mlops.artifacts import ArtifactStore
from mlops.config import MLOpsConfig
from mlops.store.sql.database import Database
from mlops.store.sql.registry import SqlRegistryStore
from mlops.store.sql.tracking import SqlTrackingStore


@dataclass
class Stores:
    """The metadata and artifact stores of one configuration."""

    config: MLOpsConfig
    db: Database
    tracking: SqlTrackingStore
    registry: SqlRegistryStore
    artifacts: ArtifactStore

    def close(self) -> None:
        """Release the database connections (stores opened with ``fresh=True``)."""
        self.db.dispose()


_lock = threading.Lock()
_open: dict[tuple[str, str], Stores] = {}


def open_stores(config: MLOpsConfig, fresh: bool = False) -> Stores:
    """The stores for ``config``, opened (and their database checked) once per process."""
    key = (config.resolved_tracking_uri, config.resolved_artifact_uri)
    with _lock:
        stores = None if fresh else _open.get(key)
        if stores is None:
            db = Database(key[0])
            db.ensure_schema()
            tracking = SqlTrackingStore(db, key[1])
            stores = Stores(
                config=config,
                db=db,
                tracking=tracking,
                registry=SqlRegistryStore(db, tracking),
                artifacts=ArtifactStore(key[1]),
            )
            stale_ms = int(config.experiment_tracking.stale_run_after * 1000)
            tracking.mark_dead_runs(stale_ms)
            if not fresh:
                _open[key] = stores
    return stores


def close_all() -> None:
    """Dispose every cached engine (tests, and before fork)."""
    with _lock:
        for stores in _open.values():
            stores.db.dispose()
        _open.clear()
