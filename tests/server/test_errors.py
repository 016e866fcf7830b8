"""Every failure is a 4xx with ``{"error": {"type", "message"}}``: never a 500, never a stack.

The sweep walks every operation in the OpenAPI document, so a new endpoint is covered the
moment it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

# What an unknown id looks like in each path parameter.
UNKNOWN = {
    "experiment_id": "987654",
    "run_id": "0" * 32,
    "name": "ghost",
    "version": "7",
    "alias": "nobody",
    "request_id": "4242",
    "path": "no/such/file.txt",
    "username": "ghost",
    "token_id": "4243",
    "alert_id": "4244",
    "kind": "feature_view",
    "delivery_id": "4245",
    "monitor": "ghost-monitor",
}


def operations(api: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) for every documented API operation."""
    return [
        (method.upper(), path, op)
        for path, item in api.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]


def fill(template: str) -> str:
    path = template.replace("{path}", UNKNOWN["path"])
    for name, value in UNKNOWN.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def assert_error(response: Any, *statuses: int) -> dict[str, str]:
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()["error"]
    assert set(body) == {"type", "message"}
    assert body["type"]
    assert body["message"]
    assert "Traceback" not in body["message"]
    return dict(body)


def test_not_found_bodies_name_the_exact_error(api: TestClient) -> None:
    cases = {
        "/api/v1/runs/nope": "RunNotFoundError",
        "/api/v1/experiments/987654": "ExperimentNotFoundError",
        "/api/v1/experiments/not-a-number": "ExperimentNotFoundError",
        "/api/v1/experiments/by-name?name=ghost": "ExperimentNotFoundError",
        "/api/v1/models/ghost": "ModelNotFoundError",
        "/api/v1/models/ghost/latest": "ModelNotFoundError",
        "/api/v1/requests/42": "NotFoundError",
        "/api/v1/artifacts/files/no/such.txt": "NotFoundError",
        "/api/v1/no-such-route": "NotFoundError",
    }
    for url, kind in cases.items():
        body = assert_error(api.get(url), 404)
        assert body["type"] == kind, (url, body)


def test_conflict_and_bad_input_bodies(api: TestClient, make_run: Callable[..., str]) -> None:
    run_id = make_run("dup")
    body = assert_error(api.post("/api/v1/experiments", json={"name": "dup"}), 409)
    assert body["type"] == "ExperimentAlreadyExistsError"
    assert "already exists" in body["message"]
    api.post(f"/api/v1/runs/{run_id}/params", json={"params": {"lr": "0.1"}})
    body = assert_error(
        api.post(f"/api/v1/runs/{run_id}/params", json={"params": {"lr": "1"}}), 400
    )
    assert body["type"] == "InvalidParamError"
    search = {"experiment_ids": ["1"], "filter": "metrics.f1 >"}
    body = assert_error(api.post("/api/v1/runs/search", json=search), 400)
    assert body["type"] == "InvalidFilterError"
    assert "expected a value" in body["message"]


def test_validation_errors_say_where(api: TestClient) -> None:
    body = assert_error(api.post("/api/v1/experiments", json={"name": 5}), 422)
    assert body == {"type": "InvalidInputError", "message": body["message"]}
    assert "body.name" in body["message"]
    body = assert_error(
        api.post(
            "/api/v1/experiments",
            content=b'{"name": ',
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    assert "JSON" in body["message"] or "json" in body["message"]
    body = assert_error(api.post("/api/v1/experiments", json={"name": "x", "extra": 1}), 422)
    assert "extra" in body["message"]
    batch = {"runs": ["r"], "keys": ["k"], "run": [0, 0], "key": [0], "value": [1.0]}
    batch |= {"step": [0], "timestamp": [0]}
    body = assert_error(api.post("/api/v1/metrics/batch", json=batch), 422)
    assert "same length" in body["message"]


MALFORMED: list[tuple[str, Any]] = [
    ("garbage", b"{not json"),
    ("array", b"[]"),
    ("scalar", b"42"),
    ("empty object", b"{}"),
    ("wrong types", b'{"name": [], "user": 1, "params": "x", "records": 5, "version": "x"}'),
]


@pytest.mark.parametrize(("label", "payload"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_no_endpoint_answers_500_to_a_malformed_body(
    api: TestClient, make_run: Callable[..., str], label: str, payload: bytes
) -> None:
    make_run()
    for method, template, op in operations(api):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        response = api.request(
            method, fill(template), content=payload, headers={"Content-Type": "application/json"}
        )
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            assert_error(response, 400, 404, 422)
        else:
            assert response.status_code < 500, (method, template, label, response.text)


def test_no_endpoint_answers_500_to_unknown_ids(
    api: TestClient, make_run: Callable[..., str]
) -> None:
    """Well-formed requests naming things that do not exist: 4xx (mostly 404) everywhere."""
    run_id = make_run()
    ghost_run = UNKNOWN["run_id"]
    valid_bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/experiments"): None,  # creates; nothing unknown to name
        ("POST", "/api/v1/runs"): {"experiment_id": "987654", "user": "u"},
        ("PATCH", "/api/v1/runs/{run_id}"): {"status": "FINISHED"},
        ("POST", "/api/v1/runs/search"): {"experiment_ids": ["987654"]},
        ("POST", "/api/v1/runs/get"): {"run_ids": [ghost_run]},
        ("POST", "/api/v1/runs/heartbeat"): None,  # idempotent no-op for unknown runs
        ("POST", "/api/v1/runs/mark-dead"): None,
        ("POST", "/api/v1/runs/{run_id}/params"): {"params": {"a": "1"}},
        ("POST", "/api/v1/runs/{run_id}/tags"): {"tags": {"a": "1"}},
        ("POST", "/api/v1/runs/{run_id}/inputs"): {
            "dataset": {
                "id": "d" * 32,
                "name": "data",
                "digest": "0" * 64,
                "source": "memory",
                "schema": [],
                "created_at": 1,
            },
            "context": "training",
        },
        ("POST", "/api/v1/artifact-records"): {
            "records": [
                {
                    "uri": "file:///x",
                    "path": "x",
                    "size": 1,
                    "sha256": "0" * 64,
                    "created_at": 1,
                    "run_id": ghost_run,
                }
            ]
        },
        ("POST", "/api/v1/metrics/batch"): {
            "runs": [ghost_run],
            "keys": ["loss"],
            "run": [0],
            "key": [0],
            "value": [1.0],
            "step": [0],
            "timestamp": [1],
        },
        ("POST", "/api/v1/models/{name}/versions"): {
            "artifact_uri": "file:///m",
            "sha256": "0" * 64,
            "size": 1,
            "flavor": "python",
            "format": "pickle",
            "user": "u",
            "run_id": ghost_run,
        },
        ("POST", "/api/v1/models/{name}/versions/{version}/stage"): {
            "stage": "staging",
            "user": "u",
            "archive_existing": True,
        },
        ("PUT", "/api/v1/models/{name}/aliases/{alias}"): {"version": 1, "user": "u"},
        ("POST", "/api/v1/requests"): None,  # requests are validated by ModelRegistry
        ("POST", "/api/v1/requests/{request_id}/decision"): {"approved": True, "user": "u"},
        ("PUT", "/api/v1/artifacts/files/{path}"): None,  # creates the file
        ("POST", "/api/v1/experiments/{experiment_id}/restore"): {},
        ("POST", "/api/v1/runs/{run_id}/restore"): {},
        ("POST", "/api/v1/models/{name}/restore"): {},
        ("POST", "/api/v1/models/{name}/versions/{version}/restore"): {},
        # The web UI's routes (routers/ui_data.py). Keys and counts read like search: an unknown
        # experiment has no runs (tests/ui/test_ui_data.py checks those answers).
        ("POST", "/api/v1/runs/keys"): None,
        ("POST", "/api/v1/runs/counts"): None,
        ("POST", "/api/v1/runs/count"): None,
        ("POST", "/api/v1/metrics/histories"): {"run_ids": [ghost_run], "keys": ["loss"]},
        ("POST", "/api/v1/models/{name}/versions/{version}/promote"): {"stage": "staging"},
        ("POST", "/api/v1/models/{name}/versions/{version}/alias"): {"alias": "champion"},
        ("POST", "/api/v1/models/{name}/aliases/{alias}/remove"): {},
        ("POST", "/api/v1/models/{name}/rollback"): {},
        ("POST", "/api/v1/requests/{request_id}/approve"): {},
        ("POST", "/api/v1/requests/{request_id}/reject"): {},
        ("POST", "/api/v1/users"): {"username": "not a name!"},
        ("POST", "/api/v1/users/{username}/disable"): {},
        ("POST", "/api/v1/users/{username}/enable"): {},
        ("POST", "/api/v1/tokens"): {"username": "ghost"},
        ("POST", "/api/v1/tokens/{token_id}/revoke"): {},
        ("POST", "/api/v1/grants"): {"username": "ghost", "role": "viewer"},
        # Monitoring (routers/monitoring.py): an unknown alert is a 404.
        ("POST", "/api/v1/monitoring/alerts/{alert_id}/acknowledge"): {},
        ("POST", "/api/v1/monitoring/alerts/{alert_id}/resolve"): {},
        ("POST", "/api/v1/monitoring/alerts/{alert_id}/silence"): {"duration": "1h"},
        # The monitoring store's routes (routers/monitoring_store.py): appends create.
        ("PUT", "/api/v1/monitoring/detectors/{name}"): None,
        ("POST", "/api/v1/monitoring/monitors/{monitor}/chunks"): None,
        ("POST", "/api/v1/monitoring/monitors/{monitor}/predictions"): None,
        ("POST", "/api/v1/monitoring/monitors/{monitor}/labels"): None,
        ("POST", "/api/v1/monitoring/results"): None,
        ("POST", "/api/v1/monitoring/alerts"): None,
        ("PATCH", "/api/v1/monitoring/alerts/{alert_id}"): {"status": "firing"},
        ("POST", "/api/v1/monitoring/alerts/{alert_id}/deliveries"): {
            "channels": ["log"],
            "event": "firing",
            "at": 1.0,
        },
        ("POST", "/api/v1/monitoring/deliveries/claim"): None,
        ("PATCH", "/api/v1/monitoring/deliveries/{delivery_id}"): {"status": "failed"},
        ("POST", "/api/v1/monitoring/silences"): None,
        ("PUT", "/api/v1/monitoring/rules/{name}"): None,
        # Features (routers/features.py): an unknown view is a 404.
        ("POST", "/api/v1/features/online"): {"feature_view": "ghost", "entities": [1]},
        # A/B tests (routers/abtests.py): creating creates; an unknown test is a 404.
        ("POST", "/api/v1/abtests"): None,
        ("PATCH", "/api/v1/abtests/{name}"): {"status": "stopped"},
        ("POST", "/api/v1/abtests/{name}/outcomes"): {
            "outcomes": [{"unit_id": "u1", "values": {"conversion": 1.0}}]
        },
        ("POST", "/api/v1/abtests/{name}/analyze"): {},
        ("POST", "/api/v1/abtests/{name}/stop"): {},
        ("POST", "/api/v1/abtests/{name}/promotions"): {"model": "ghost", "version": 1},
    }
    query = {
        "/api/v1/experiments/by-name": {"name": "ghost"},
        "/api/v1/runs/resolve": {"prefix": "abcdef"},
        "/api/v1/metrics/history": {"run_id": ghost_run, "key": "loss"},
        "/api/v1/artifact-records": {"uri": "file:///nothing"},
        "/api/v1/artifacts/stat": {"path": "nothing"},
        "/api/v1/artifacts": {"prefix": "no/such"},
        "/api/v1/models/{name}/aliases/{alias}": {"user": "u"},
        "/api/v1/grants": {"username": "ghost"},
    }
    seen = set()
    for method, template, _op in operations(api):
        seen.add((method, template))
        if method in ("POST", "PUT", "PATCH"):
            assert (method, template) in valid_bodies, f"add {method} {template} to the table"
            body = valid_bodies[(method, template)]
            if body is None:
                continue
            response = api.request(method, fill(template), json=body, params=query.get(template))
        else:
            response = api.request(method, fill(template), params=query.get(template))
        if response.status_code < 300:
            # Listings of nothing, and stats that say "does not exist", are fine answers.
            assert (
                method == "GET"
                or template.endswith("/search")
                or (
                    (method, template) == ("DELETE", "/api/v1/artifacts")  # deleted nothing: fine
                )
            ), (method, template)
            continue
        assert_error(response, 400, 404, 409, 422)
    assert run_id
    assert len(seen) > 30


def test_a_database_error_a_store_let_through_is_still_a_4xx(api: TestClient) -> None:
    """A record naming an unknown run trips the foreign key; that is a 404, not a 500."""
    body = {
        "records": [
            {
                "uri": "file:///x",
                "path": "x",
                "size": 1,
                "sha256": "0" * 64,
                "created_at": 1,
                "run_id": "f" * 32,
            }
        ]
    }
    error = assert_error(api.post("/api/v1/artifact-records", json=body), 404)
    assert error["type"] == "NotFoundError"
