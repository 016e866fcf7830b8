"""The deployment store on real SQLite: deployments and events, linked to model versions."""

from __future__ import annotations

import time

import pytest

from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError, InvalidInputError, NotFoundError
from mlops.models.deployment import DeploymentNotFoundError, deployment_store


def test_deployments_and_events_are_recorded_and_listed(serving_config: MLOpsConfig) -> None:
    store = deployment_store(serving_config)
    first = store.create_deployment(
        name="churn",
        target="local",
        strategy="direct",
        model_name="churn",
        model_version=1,
        previous_version=None,
        config={"replicas": 2},
        user="alice",
    )
    assert first.status == "running"
    assert first.finished_at is None
    time.sleep(0.005)  # listings are newest first by creation millisecond
    second = store.create_deployment(
        name="churn",
        target="local",
        strategy="canary",
        model_name="churn",
        model_version=2,
        previous_version=1,
        config={"steps": [5, 25, 50, 100]},
        user="alice",
        url="http://127.0.0.1:1",
    )
    store.create_event(second.id, "step", traffic=5.0)
    store.create_event(
        second.id, "gate", traffic=5.0, passed=False, detail={"error_rate": 0.3}, message="x"
    )
    done = store.update_deployment(second.id, status="rolled_back", message="gate failed")
    assert done.status == "rolled_back"
    assert done.finished_at is not None
    got = store.get_deployment(second.id[:8])  # a prefix is enough
    assert got.id == second.id
    assert [(e.kind, e.traffic, e.passed) for e in got.events] == [
        ("step", 5.0, None),
        ("gate", 5.0, False),
    ]
    assert got.events[1].detail == {"error_rate": 0.3}
    assert got.config == {"steps": [5, 25, 50, 100]}

    assert [d.model_version for d in store.list_deployments("churn")] == [2, 1]
    assert [d.id for d in store.list_deployments("churn", 1)] == [first.id]
    assert list(store.list_deployments("other")) == []
    page = store.list_deployments(limit=1)
    assert len(page) == 1
    assert page.next_page_token is not None
    rest = store.list_deployments(limit=1, page_token=page.next_page_token)
    assert [d.id for d in rest] == [first.id]
    assert rest.next_page_token is None


def test_unknown_deployment_errors(serving_config: MLOpsConfig) -> None:
    store = deployment_store(serving_config)
    with pytest.raises(DeploymentNotFoundError, match="names no deployment") as caught:
        store.get_deployment("abcdef")
    assert isinstance(caught.value, DeploymentError)
    assert isinstance(caught.value, NotFoundError)
    with pytest.raises(InvalidInputError, match="at least 6"):
        store.get_deployment("abc")
    with pytest.raises(InvalidInputError, match="limit"):
        store.list_deployments(limit=0)
    with pytest.raises(InvalidInputError, match="page token"):
        store.list_deployments(page_token="x")
