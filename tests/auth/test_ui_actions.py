"""The web UI's routes under --auth: reads need the viewer role, registry actions the same roles
as the plain routes, and every change is recorded as the authenticated user."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.auth.test_auth_server import Headers, error, experiment, version_of


def test_ui_reads_need_the_viewer_role_on_each_experiment(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    editor = people("ed", "editor")
    mine, other = experiment(secured, editor, "mine"), experiment(secured, editor, "other")
    viewer = people("vi", experiments={mine: "viewer"})
    body = {"experiment_ids": [mine]}
    for route in ("/api/v1/runs/keys", "/api/v1/runs/counts", "/api/v1/runs/count"):
        assert secured.post(route, json=body, headers=viewer).status_code == 200, route
        error(secured.post(route, json={"experiment_ids": [mine, other]}, headers=viewer), 403)
    error(secured.post("/api/v1/runs/keys", json=body), 401)


def test_ui_registry_actions_need_the_plain_routes_roles(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    admin, editor, viewer = people("ada", "admin"), people("ed", "editor"), people("vi", "viewer")
    version_of(secured, editor, "fraud")
    promote = "/api/v1/models/fraud/versions/1/promote"
    error(secured.post(promote, json={"stage": "staging"}, headers=viewer), 403)
    staged = secured.post(promote, json={"stage": "staging", "user": "ada"}, headers=editor)
    assert staged.status_code == 200, staged.text
    error(secured.post(promote, json={"stage": "production"}, headers=editor), 403)
    live = secured.post(promote, json={"stage": "production"}, headers=admin)
    assert live.json()["version"]["stage"] == "production", live.text
    error(secured.post("/api/v1/models/fraud/rollback", json={}, headers=editor), 403)
    alias = "/api/v1/models/fraud/versions/1/alias"
    error(secured.post(alias, json={"alias": "champion"}, headers=editor), 403)
    assert secured.post(alias, json={"alias": "candidate"}, headers=editor).status_code == 200
    # Who did it is the token's user, whatever the body claimed.
    history = secured.get("/api/v1/models/fraud/events", headers=viewer)
    assert history.status_code == 200, history.text
    by_change = {(e["kind"], e["to_value"]): e["user"] for e in history.json()["items"]}
    assert by_change[("stage", "staging")] == "ed"
    assert by_change[("stage", "production")] == "ada"
    audit = secured.get("/api/v1/audit", headers=admin).json()["items"]
    actions = [(e["actor"], e["action"], e["status_code"]) for e in audit]
    assert ("ed", "models.promote", 200) in actions
    assert ("ed", "models.promote", 403) in actions
    assert not [a for a in actions if a[1] in ("runs.keys", "runs.count")]  # reads: not audited
