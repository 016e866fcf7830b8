"""The A/B test domain's storage interface, and how a configuration opens it.

``SqlABTestStore`` (``mlops.store.sql.abtests``) serves SQLite and PostgreSQL;
``RestABTestStore`` (``mlops.store.rest.abtests``) is a client of an mlops server, so a live
test's outcomes can be logged from anywhere the server is reachable.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.experiments.abtest.entities import ABTestRecord, Outcome

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig

OUTCOME_COLUMNS = ["variant", "unit_id", "metric", "value", "at"]


class ABTestStore(abc.ABC):
    """Stored A/B tests (plan, state, last result) and their outcomes."""

    @abc.abstractmethod
    def create_test(
        self,
        name: str,
        *,
        variants: Mapping[str, float],
        metrics: Sequence[str],
        duration_days: float,
        user: str,
        models: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ABTestRecord:
        """Create a running test.

        Raises:
            ABTestExistsError: A test of that name exists.
        """

    @abc.abstractmethod
    def get_test(self, name_or_id: str) -> ABTestRecord:
        """A test by name or id.

        Raises:
            ABTestNotFoundError: No such test.
        """

    @abc.abstractmethod
    def list_tests(self, status: str | None = None, limit: int = 100) -> list[ABTestRecord]:
        """Tests, newest first (optionally only ``running`` or ``stopped`` ones)."""

    @abc.abstractmethod
    def update_test(
        self,
        test_id: str,
        *,
        status: str | None = None,
        result: Mapping[str, Any] | None = None,
        models: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> ABTestRecord:
        """Set the status (``stopped`` records the time), the last result, the models or the
        settings."""

    @abc.abstractmethod
    def create_outcomes(self, test_id: str, outcomes: Sequence[Outcome]) -> int:
        """Store outcomes; a (unit, metric) logged again replaces the earlier value. Returns
        how many were written."""

    @abc.abstractmethod
    def list_outcomes(
        self, test_id: str, limit: int | None = None, offset: int = 0
    ) -> pd.DataFrame:
        """A test's outcomes (all, or a page in (unit, metric) order), columns
        ``variant, unit_id, metric, value, at``."""

    @abc.abstractmethod
    def count_units(self, test_id: str) -> dict[str, int]:
        """Distinct units with at least one outcome, per variant."""

    @abc.abstractmethod
    def record_promotion(self, test_id: str, model_name: str, version: int) -> None:
        """Link the test to the model version it promoted (lineage: abtest -promoted-> version)."""


_lock = threading.Lock()
_stores: dict[str, ABTestStore] = {}


def abtest_store(config: MLOpsConfig | None = None) -> ABTestStore:
    """The A/B test store of ``config`` (default: the environment's): on its database, or a
    client of its mlops server; one per location."""
    from mlops.config import load_config
    from mlops.store.open import open_stores

    stores = open_stores(config or load_config())
    key = stores.config.resolved_tracking_uri
    with _lock:
        store = _stores.get(key)
        current = stores.database if stores.database is not None else stores.client
        if store is None or getattr(store, "backend", None) is not current:
            if stores.database is not None:
                from mlops.store.sql.abtests import SqlABTestStore

                store = SqlABTestStore(stores.database)
            else:
                from mlops.store.rest.abtests import RestABTestStore

                assert stores.client is not None
                store = RestABTestStore(stores.client)
            _stores[key] = store
    return store


def empty_outcomes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("variant", "unit_id", "metric")
                                      else float if c == "value" else "int64")
                         for c in OUTCOME_COLUMNS})  # fmt: skip
