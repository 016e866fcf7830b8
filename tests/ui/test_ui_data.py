"""The endpoints the web UI adds to /api/v1: run keys and counts, histories, registry actions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops.config import MLOpsConfig
from mlops.server.app import create_app


def make_config(tmp_path: Path, **overrides: Any) -> MLOpsConfig:
    return MLOpsConfig(
        home=tmp_path / "home",
        tracking_uri=f"sqlite:///{tmp_path / 'mlops.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
        user="server",
        **overrides,
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path)), raise_server_exceptions=False) as client:
        yield client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
def make_run(api: TestClient) -> Callable[..., str]:
    """A run with params, tags and metric points (``metrics`` maps key -> values by step)."""

    def make(
        experiment: str,
        params: dict[str, str] | None = None,
        metrics: dict[str, list[float]] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        found = api.get("/api/v1/experiments/by-name", params={"name": experiment})
        if found.status_code == 404:
            found = api.post("/api/v1/experiments", json={"name": experiment})
        body = {"experiment_id": found.json()["id"], "user": "u"}
        run = ok(api.post("/api/v1/runs", json=body), 201)
        if params:
            ok(api.post(f"/api/v1/runs/{run['id']}/params", json={"params": params}), 204)
        if tags:
            ok(api.post(f"/api/v1/runs/{run['id']}/tags", json={"tags": tags}), 204)
        for k, (key, values) in enumerate((metrics or {}).items()):
            batch = {
                "runs": [run["id"]],
                "keys": [key],
                "run": [0] * len(values),
                "key": [0] * len(values),
                "value": values,
                "step": list(range(len(values))),
                "timestamp": [1000 + k] * len(values),
            }
            ok(api.post("/api/v1/metrics/batch", json=batch), 204)
        return str(run["id"])

    return make


def experiment_id(api: TestClient, name: str) -> str:
    return str(ok(api.get("/api/v1/experiments/by-name", params={"name": name}))["id"])


def test_keys_are_the_distinct_keys_of_live_runs(api: TestClient, make_run: Any) -> None:
    make_run("a", {"lr": "0.1", "opt": "sgd"}, {"loss": [1.0]}, {"team": "x"})
    make_run("a", {"lr": "0.2", "depth": "3"}, {"acc": [0.5], "loss": [2.0]})
    gone = make_run("a", {"only_in_deleted": "1"})
    make_run("b", {"elsewhere": "1"}, {"b_metric": [1.0]})
    ok(api.delete(f"/api/v1/runs/{gone}"), 204)
    keys = ok(api.post("/api/v1/runs/keys", json={"experiment_ids": [experiment_id(api, "a")]}))
    assert keys == {"params": ["depth", "lr", "opt"], "metrics": ["acc", "loss"], "tags": ["team"]}


def test_counts_per_experiment_and_per_filter(api: TestClient, make_run: Any) -> None:
    for lr in ("0.1", "0.2", "0.3"):
        make_run("a", {"lr": lr}, {"loss": [float(lr)]})
    gone = make_run("a")
    ok(api.delete(f"/api/v1/runs/{gone}"), 204)
    make_run("b")
    ok(api.post("/api/v1/experiments", json={"name": "empty"}), 201)
    ids = {name: experiment_id(api, name) for name in ("a", "b", "empty")}
    counts = ok(api.post("/api/v1/runs/counts", json={"experiment_ids": list(ids.values())}))
    assert counts == {"counts": {ids["a"]: 3, ids["b"]: 1, ids["empty"]: 0}}

    body = {"experiment_ids": [ids["a"]], "filter": "metrics.loss > 0.15"}
    assert ok(api.post("/api/v1/runs/count", json=body)) == {"count": 2}
    found = ok(api.post("/api/v1/runs/search", json=body))["items"]
    assert len(found) == 2

    bad = api.post("/api/v1/runs/count", json={**body, "filter": "metrics.loss >"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "InvalidFilterError"
    assert "^" in bad.json()["error"]["message"]
    assert api.post("/api/v1/runs/counts", json={"experiment_ids": []}).status_code == 422
    for nonsense in ("x", "9" * 30, "-1"):
        for route in ("keys", "counts", "count"):
            answer = api.post(f"/api/v1/runs/{route}", json={"experiment_ids": [nonsense]})
            assert answer.status_code == 404, answer.text
    # An experiment that does not exist has no runs, as search says: nothing, not an error.
    ghost = {"experiment_ids": ["987654"]}
    assert ok(api.post("/api/v1/runs/keys", json=ghost)) == {
        "params": [],
        "metrics": [],
        "tags": [],
    }
    assert ok(api.post("/api/v1/runs/counts", json=ghost)) == {"counts": {"987654": 0}}
    assert ok(api.post("/api/v1/runs/count", json=ghost)) == {"count": 0}


def test_histories_of_several_runs_thinned_for_drawing(api: TestClient, make_run: Any) -> None:
    long = make_run("a", metrics={"loss": [float(i) for i in range(1000)], "acc": [0.5, 0.6]})
    short = make_run("a", metrics={"loss": [3.0, 2.0, 1.0]})
    body = {"run_ids": [long, short], "keys": ["loss", "acc"], "max_points": 100}
    items = ok(api.post("/api/v1/metrics/histories", json=body))["items"]
    assert [(s["run_id"], s["key"], s["count"]) for s in items] == [
        (long, "loss", 1000),
        (long, "acc", 2),
        (short, "loss", 3),
    ]
    thinned = items[0]
    assert len(thinned["steps"]) == 100
    assert thinned["steps"][0] == 0
    assert thinned["steps"][-1] == 999
    assert thinned["values"] == [float(s) for s in thinned["steps"]]
    assert items[2]["values"] == [3.0, 2.0, 1.0]

    missing = api.post("/api/v1/metrics/histories", json={**body, "run_ids": ["nope"]})
    assert missing.status_code == 404
    too_many = api.post("/api/v1/metrics/histories", json={**body, "keys": ["k"] * 21})
    assert too_many.status_code == 422


def register(api: TestClient, name: str = "m") -> int:
    body = {
        "artifact_uri": "file:///nowhere",
        "sha256": "0" * 64,
        "size": 1,
        "flavor": "sklearn",
        "format": "skops",
        "user": "alice",
    }
    return int(ok(api.post(f"/api/v1/models/{name}/versions", json=body), 201)["version"])


def promote(api: TestClient, version: int, stage: str, **extra: Any) -> Any:
    return api.post(f"/api/v1/models/m/versions/{version}/promote", json={"stage": stage, **extra})


def test_promote_and_rollback_follow_the_stage_rules(api: TestClient) -> None:
    one, two = register(api), register(api)
    refused = promote(api, one, "production")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "InvalidStageTransitionError"
    assert "it can move to: archived, staging" in refused.json()["error"]["message"]
    for version in (one, two):
        assert ok(promote(api, version, "staging"))["version"]["stage"] == "staging"
        assert ok(promote(api, version, "production"))["version"]["stage"] == "production"
    assert ok(api.get(f"/api/v1/models/m/versions/{one}"))["stage"] == "archived"

    back = ok(api.post("/api/v1/models/m/rollback", json={"comment": "bad release"}))
    assert back == {"version": back["version"], "request": None}
    assert back["version"]["version"] == one
    assert back["version"]["stage"] == "production"
    assert ok(api.get(f"/api/v1/models/m/versions/{two}"))["stage"] == "archived"
    events = ok(api.get("/api/v1/models/m/events"))["items"]
    assert events[-1]["kind"] == "rollback"
    assert events[-1]["user"] == "server"  # no user given: the server's own

    aliased = ok(api.post("/api/v1/models/m/versions/2/alias", json={"alias": "champion"}))
    assert aliased["version"]["aliases"] == ["champion"]
    bad = api.post("/api/v1/models/m/versions/2/alias", json={"alias": "production"})
    assert bad.status_code == 400
    assert "not a stage name" in bad.json()["error"]["message"]
    removed = ok(api.post("/api/v1/models/m/aliases/champion/remove", json={}))
    assert removed == {"version": None, "request": None}
    assert ok(api.get("/api/v1/models/m"))["aliases"] == {}

    assert promote(api, 99, "staging").status_code == 404
    assert promote(api, one, "gold").status_code == 422
    assert promote(api, 2**40, "staging").status_code == 422
    assert api.post(f"/api/v1/requests/{2**64}/approve", json={}).status_code == 422


def test_with_approval_required_changes_wait_for_another_user(tmp_path: Path) -> None:
    config = make_config(tmp_path, model_registry={"approval_required": True})
    with TestClient(create_app(config), raise_server_exceptions=False) as api:
        version = register(api)
        asked = ok(promote(api, version, "staging", user="bob"))
        request = asked["request"]
        assert asked["version"] is None
        assert request["status"] == "pending"
        assert ok(api.get(f"/api/v1/models/m/versions/{version}"))["stage"] == "none"

        own = api.post(f"/api/v1/requests/{request['id']}/approve", json={"user": "bob"})
        assert own.status_code == 409
        assert "cannot approve it" in own.json()["error"]["message"]

        done = ok(api.post(f"/api/v1/requests/{request['id']}/approve", json={"user": "carol"}))
        assert done["version"]["stage"] == "staging"
        again = api.post(f"/api/v1/requests/{request['id']}/reject", json={})
        assert again.status_code == 409
        assert "already approved" in again.json()["error"]["message"]

        champion = api.post(
            f"/api/v1/models/m/versions/{version}/alias", json={"alias": "champion", "user": "bob"}
        )
        assert ok(champion)["request"]["action"] == "alias"  # protected: it waits too
        second = ok(promote(api, version, "production", user="bob"))["request"]
        rejected = ok(api.post(f"/api/v1/requests/{second['id']}/reject", json={"comment": "no"}))
        assert rejected["request"]["status"] == "rejected"
        assert ok(api.get(f"/api/v1/models/m/versions/{version}"))["stage"] == "staging"


def test_the_ui_is_served_next_to_the_api(api: TestClient) -> None:
    root = api.get("/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"
    page = api.get("/ui/")
    assert page.status_code == 200
    assert '<script type="module" src="/ui/static/js/app.js">' in page.text
    script = api.get("/ui/static/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert api.get("/ui/static/%2e%2e/__init__.py").status_code == 404  # no Python source
    assert api.get("/healthz").json() == {"status": "ok"}
