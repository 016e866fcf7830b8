"""Fixtures of the feature store tests: a store on a fresh SQLite metadata database, and Redis.

Redis runs when ``MLOPS_TEST_REDIS_URL`` is set (e.g. ``redis://127.0.0.1:6379/15``); each test
gets its own key prefix, and its keys are deleted afterwards. With ``MLOPS_REQUIRE_SERVICES``
naming ``redis``, a missing URL fails instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.config import MLOpsConfig
from mlops.features import FeatureStore

REDIS_URL = os.environ.get("MLOPS_TEST_REDIS_URL")
REQUIRED = {s.strip() for s in os.environ.get("MLOPS_REQUIRE_SERVICES", "").split(",") if s.strip()}


def require_redis() -> str:
    """The Redis URL, or skip (fail when CI requires Redis)."""
    if REDIS_URL:
        return REDIS_URL
    if "redis" in REQUIRED:
        pytest.fail("MLOPS_REQUIRE_SERVICES names redis but MLOPS_TEST_REDIS_URL is not set")
    pytest.skip("Redis tests need MLOPS_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")


@pytest.fixture
def redis_uri() -> Iterator[str]:
    """A Redis online store URI with a key prefix of its own; its keys are removed afterwards."""
    import redis

    base = require_redis()
    prefix = f"mlops-test:{uuid.uuid4().hex[:12]}:"
    yield f"{base}?prefix={prefix}"
    client = redis.Redis.from_url(base)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty online store on each backend."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_uri"))
    return f"sqlite:///{tmp_path / 'online' / 'online.db'}"


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., FeatureStore]]:
    """Builds feature stores on the test's own metadata database and folders."""
    stores: list[FeatureStore] = []

    def make(**kwargs: Any) -> FeatureStore:
        config = MLOpsConfig(
            home=tmp_path / ".mlops",
            tracking_uri=f"sqlite:///{tmp_path / 'meta' / 'mlops.db'}",
            artifact_uri=str(tmp_path / "artifacts"),
            user="alice",
        )
        kwargs.setdefault("show_progress", False)
        store = FeatureStore(config=config, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., FeatureStore]) -> FeatureStore:
    """A feature store with the embedded defaults (SQLite online store)."""
    return make_store()
