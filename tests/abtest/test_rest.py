"""A live A/B test through a real mlops server: created, fed and analyzed over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import ABTestNotFoundError, InvalidInputError, InvalidStateError
from mlops.experiments.abtest import ABTestFramework
from mlops.experiments.abtest.store import abtest_store
from mlops.store.rest.abtests import RestABTestStore


@pytest.fixture
def client_config(rest_server: str, tmp_path: Path) -> MLOpsConfig:
    return MLOpsConfig(home=tmp_path / "client", tracking_uri=rest_server, user="bob")


def test_a_live_test_round_trips_through_the_server(
    client_config: MLOpsConfig, rest_server: str
) -> None:
    test = ABTestFramework(
        "signup",
        {"old": 0.5, "new": 0.5},
        ["conversion", "time_on_page:rank"],
        duration_days=7,
        config=client_config,
    )
    assert isinstance(test.store, RestABTestStore)
    assert test.record.created_by == "bob"
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12_000):  # more than one outcome batch and one page
        unit = f"user-{i}"
        rate = 0.10 if test.assign(unit) == "old" else 0.14
        values = {"conversion": float(rng.random() < rate), "time_on_page": rng.exponential(30)}
        rows.append({"unit_id": unit, "values": values})
    assert test.log_outcomes(rows) == 24_000
    status = test.status()
    assert sum(status.units.values()) == 12_000
    assert status.record.status == "running"

    results = ABTestFramework.load("signup", config=client_config).analyze()
    assert results.mode == "live"
    assert results.comparison("conversion").difference == pytest.approx(0.04, abs=0.015)
    assert results.srm is not None
    assert not results.srm.mismatch
    # Still in its first day: no daily look yet, so the sequential test has not decided.
    assert results.verdict.status == "running"

    # The server's own analysis (what the UI or curl gets) agrees and is stored.
    served = httpx.post(f"{rest_server}/api/v1/abtests/signup/analyze", timeout=60).json()
    assert served["comparisons"][0]["p_value"] == pytest.approx(results.comparisons[0].p_value)
    assert abtest_store(client_config).get_test("signup").result is not None

    assert test.stop().status == "stopped"
    with pytest.raises(InvalidStateError, match="stopped"):
        test.log_outcome("late", {"conversion": 1})


def test_server_side_checks_reach_the_client_as_our_errors(
    client_config: MLOpsConfig, rest_server: str
) -> None:
    with pytest.raises(ABTestNotFoundError, match="no A/B test named 'nope'"):  # the exact class
        ABTestFramework.load("nope", config=client_config)
    response = httpx.post(
        f"{rest_server}/api/v1/abtests",
        json={"name": "bad", "variants": {"a": 0.7, "b": 0.7}, "metrics": ["conversion"]},
    )
    assert response.status_code == 400
    assert "sum to 1.4" in response.json()["error"]["message"]
    ABTestFramework("t", {"a": 0.5, "b": 0.5}, ["conversion"], config=client_config).create()
    response = httpx.post(
        f"{rest_server}/api/v1/abtests/t/outcomes",
        json={"outcomes": [{"unit_id": "u", "variant": "c", "values": {"conversion": 1}}]},
    )
    assert response.status_code == 400
    assert "unknown variant 'c'" in response.json()["error"]["message"]
    for config in ({"alpha": "high"}, {"alpha": 0.05, "surprise": 1}, {"control": "zz"}):
        patched = httpx.patch(f"{rest_server}/api/v1/abtests/t", json={"config": config})
        assert patched.status_code == 400, patched.text
    assert ABTestFramework.load("t", config=client_config).alpha == 0.05  # still loads
    store = abtest_store(client_config)
    with pytest.raises(InvalidInputError, match="unknown metric"):
        ABTestFramework.load("t", config=client_config, store=store).log_outcome(
            "u", {"revenue": 1.0}
        )
    response = httpx.post(f"{rest_server}/api/v1/abtests/t/analyze")
    assert response.status_code == 409
    assert "no outcomes yet" in response.json()["error"]["message"]
    with pytest.raises(InvalidStateError, match="no outcomes yet"):
        ABTestFramework.load("t", config=client_config).analyze()


def test_roles_guard_the_routes_and_the_creator_is_the_caller(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from mlops.auth import access_control
    from mlops.server.app import create_app

    config = MLOpsConfig(home=tmp_path / "h", tracking_uri=f"sqlite:///{tmp_path / 'a.db'}",
                         artifact_uri=str(tmp_path / "art"), user="server")  # fmt: skip
    config.server.auth = True
    access = access_control(config=config)
    tokens = {}
    for name, role in (("vera", "viewer"), ("eddie", "editor")):
        access.create_user(name, role, by="test")
        tokens[name] = {"Authorization": f"Bearer {access.create_token(name).secret}"}
    body = {"name": "t", "variants": {"a": 0.5, "b": 0.5}, "metrics": ["conversion"],
            "user": "someone-else"}  # fmt: skip
    with TestClient(create_app(config), raise_server_exceptions=False) as api:
        assert api.post("/api/v1/abtests", json=body).status_code == 401
        assert api.post("/api/v1/abtests", json=body, headers=tokens["vera"]).status_code == 403
        created = api.post("/api/v1/abtests", json=body, headers=tokens["eddie"])
        assert created.status_code == 201
        assert created.json()["created_by"] == "eddie"
        assert api.get("/api/v1/abtests/t", headers=tokens["vera"]).status_code == 200
        outcome = {"outcomes": [{"unit_id": "u", "values": {"conversion": 1}}]}
        denied = api.post("/api/v1/abtests/t/outcomes", json=outcome, headers=tokens["vera"])
        assert denied.status_code == 403
        assert api.post("/api/v1/abtests/t/stop", headers=tokens["eddie"]).status_code == 200
