"""The ``ABTestStore`` contract, on SQLite, PostgreSQL and an mlops server (REST)."""

from __future__ import annotations

import pytest

from mlops.config import MLOpsConfig
from mlops.errors import AlreadyExistsError, NotFoundError
from mlops.experiments.abtest import Outcome, abtest_store

# What ABTestFramework stores (a server fills these in from its own defaults).
SETTINGS = {"control": "a", "alpha": 0.05, "power": 0.8, "correction": "holm",
            "sequential": "obrien_fleming", "allocation": "fixed", "salt": None}  # fmt: skip


def test_tests_and_outcomes_round_trip(config: MLOpsConfig) -> None:
    store = abtest_store(config)
    created = store.create_test(
        "t1",
        variants={"a": 0.5, "b": 0.5},
        metrics=["conversion", "spend:rank"],
        duration_days=7,
        user="alice",
        models={"b": "m/2"},
        config=SETTINGS,
        description="why",
    )
    assert created.status == "running"
    assert created.models == {"b": "m/2"}
    assert created.config == SETTINGS
    assert store.get_test("t1") == store.get_test(created.id) == created
    with pytest.raises(AlreadyExistsError):
        store.create_test("t1", variants={"a": 0.2, "b": 0.8}, metrics=["conversion"],
                          duration_days=1, user="x", config=SETTINGS)  # fmt: skip
    with pytest.raises(NotFoundError):
        store.get_test("t2")

    outcomes = [Outcome("a" if i % 2 else "b", f"u{i}", "conversion", i % 3 == 0, 1000 + i)
                for i in range(25)]  # fmt: skip
    assert store.create_outcomes(created.id, outcomes) == 25
    # Logged again: the (unit, metric) value is replaced, not added.
    assert store.create_outcomes(created.id, [Outcome("a", "u1", "conversion", 1.0, 5000)]) == 1
    frame = store.list_outcomes(created.id)
    assert len(frame) == 25
    assert frame.set_index("unit_id").loc["u1", "value"] == 1.0
    assert frame.set_index("unit_id").loc["u1", "at"] == 5000
    page = store.list_outcomes(created.id, limit=10, offset=20)
    assert list(page["unit_id"]) == sorted(frame["unit_id"])[20:25]
    assert store.count_units(created.id) == {"a": 12, "b": 13}

    stopped = store.update_test(created.id, status="stopped", result={"verdict": {"x": 1}})
    assert stopped.status == "stopped"
    assert stopped.stopped_at is not None
    assert stopped.result == {"verdict": {"x": 1}}
    assert [r.name for r in store.list_tests(status="stopped")] == ["t1"]
    assert store.list_tests(status="running") == []
    store.record_promotion(created.id, "m", 2)
    store.record_promotion(created.id, "m", 2)  # once only
