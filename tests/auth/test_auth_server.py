"""The server with --auth: 401 without a valid token, 403 without the role, per scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from mlops.auth import AccessControl
from mlops.experiments.entities import now_ms
from mlops.store.sql import tables as t

Headers = dict[str, str]
MODEL_BODY = {
    "artifact_uri": "file:///m",
    "sha256": "0" * 64,
    "size": 1,
    "flavor": "python",
    "format": "pickle",
    "user": "someone-else",
}


def error(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()["error"]
    return body


def experiment(api: TestClient, who: Headers, name: str) -> str:
    response = api.post("/api/v1/experiments", json={"name": name}, headers=who)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run_in(api: TestClient, who: Headers, experiment_id: str) -> str:
    body = {"experiment_id": experiment_id, "user": "whoever"}
    response = api.post("/api/v1/runs", json=body, headers=who)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def version_of(api: TestClient, who: Headers, model: str) -> int:
    response = api.post(f"/api/v1/models/{model}/versions", json=MODEL_BODY, headers=who)
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def test_no_token_is_401_with_www_authenticate(secured: TestClient) -> None:
    response = secured.get("/api/v1/experiments")
    body = error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body["type"] == "AuthenticationError"
    assert "MLOPS_TRACKING_TOKEN" in body["message"]
    error(secured.get("/api/v1/experiments", headers={"Authorization": "Basic abc"}), 401)


def test_invalid_revoked_expired_and_disabled_are_401(
    secured: TestClient, access: AccessControl, people: Callable[..., Headers]
) -> None:
    alice = people("alice", "viewer")
    assert secured.get("/api/v1/experiments", headers=alice).status_code == 200
    wrong = {"Authorization": "Bearer mlops_" + "x" * 43}
    assert "not valid" in error(secured.get("/api/v1/experiments", headers=wrong), 401)["message"]

    revoked = access.create_token("alice", "old")
    access.revoke_token(revoked.token.id)
    headers = {"Authorization": f"Bearer {revoked.secret}"}
    assert "revoked" in error(secured.get("/api/v1/experiments", headers=headers), 401)["message"]

    expired = access.create_token("alice", "short", "1s")
    with access.store.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(
            t.api_tokens.update()
            .where(t.api_tokens.c.id == expired.token.id)
            .values(expires_at=now_ms() - 1)
        )
    headers = {"Authorization": f"Bearer {expired.secret}"}
    assert "expired" in error(secured.get("/api/v1/experiments", headers=headers), 401)["message"]

    access.disable_user("alice")
    assert "disabled" in error(secured.get("/api/v1/experiments", headers=alice), 401)["message"]
    access.enable_user("alice")
    assert secured.get("/api/v1/experiments", headers=alice).status_code == 200


def test_service_routes_and_docs_stay_open(secured: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert secured.get(path).status_code == 200, path


def test_global_roles(secured: TestClient, people: Callable[..., Headers]) -> None:
    admin, editor, viewer = people("ada", "admin"), people("ed", "editor"), people("vi", "viewer")
    nobody = people("nobody")
    exp = experiment(secured, editor, "e")
    body = error(secured.post("/api/v1/experiments", json={"name": "v"}, headers=viewer), 403)
    assert body["type"] == "PermissionDeniedError"
    assert "mlops grant vi editor" in body["message"]
    run = run_in(secured, editor, exp)
    assert secured.get(f"/api/v1/runs/{run}", headers=viewer).status_code == 200
    error(secured.get(f"/api/v1/runs/{run}", headers=nobody), 403)
    error(secured.post(f"/api/v1/runs/{run}/params", json={"params": {}}, headers=viewer), 403)
    error(secured.delete(f"/api/v1/runs/{run}", headers=editor), 403)
    assert secured.delete(f"/api/v1/runs/{run}", headers=admin).status_code == 204
    error(secured.get("/api/v1/users", headers=editor), 403)
    assert secured.get("/api/v1/users", headers=admin).status_code == 200


def test_experiment_scoped_editor_writes_only_its_experiment(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    admin = people("ada", "admin")
    mine, other = experiment(secured, admin, "mine"), experiment(secured, admin, "other")
    scoped = people("sam", experiments={mine: "editor"})
    own_run = run_in(secured, scoped, mine)
    other_run = run_in(secured, admin, other)
    error(
        secured.post("/api/v1/runs", json={"experiment_id": other, "user": "sam"}, headers=scoped),
        403,
    )
    batch = {"keys": ["loss"], "run": [0], "key": [0], "value": [1.0], "step": [0]}
    batch |= {"timestamp": [1]}
    ok = secured.post("/api/v1/metrics/batch", json={**batch, "runs": [own_run]}, headers=scoped)
    assert ok.status_code == 204, ok.text
    error(
        secured.post("/api/v1/metrics/batch", json={**batch, "runs": [other_run]}, headers=scoped),
        403,
    )
    # A batch touching both is refused whole.
    both = {**batch, "runs": [own_run, other_run], "run": [0, 1], "key": [0, 0]}
    both |= {"value": [1.0, 2.0], "step": [1, 1], "timestamp": [2, 2]}
    error(secured.post("/api/v1/metrics/batch", json=both, headers=scoped), 403)
    # Reads: only the readable experiment is listed, searched and shown.
    listed = secured.get("/api/v1/experiments", headers=scoped).json()["items"]
    assert [e["id"] for e in listed] == [mine]
    found = secured.post("/api/v1/runs/search", json={"experiment_ids": []}, headers=scoped)
    assert [r["id"] for r in found.json()["items"]] == [own_run]
    search_other = {"experiment_ids": [mine, other]}
    error(secured.post("/api/v1/runs/search", json=search_other, headers=scoped), 403)
    error(secured.get(f"/api/v1/experiments/{other}", headers=scoped), 403)
    error(secured.get("/api/v1/experiments/by-name?name=other", headers=scoped), 403)
    error(secured.post("/api/v1/runs/get", json={"run_ids": [other_run]}, headers=scoped), 403)
    history = {"run_id": other_run, "key": "loss"}
    error(secured.get("/api/v1/metrics/history", params=history, headers=scoped), 403)
    # Artifacts are scoped by their path: <experiment id>/...
    put = secured.put(f"/api/v1/artifacts/files/{mine}/x/a.txt", content=b"a", headers=scoped)
    assert put.status_code == 201, put.text
    error(
        secured.put(f"/api/v1/artifacts/files/{other}/x/a.txt", content=b"a", headers=scoped),
        403,
    )
    error(secured.get("/api/v1/artifacts", params={"prefix": ""}, headers=scoped), 403)
    # Creating an experiment needs a global editor; deleting needs admin.
    error(secured.post("/api/v1/experiments", json={"name": "new"}, headers=scoped), 403)
    error(secured.delete(f"/api/v1/experiments/{mine}", headers=scoped), 403)


def test_model_scoped_admin_approves_only_its_model(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    editor = people("ed", "editor")
    version_of(secured, editor, "fraud")
    version_of(secured, editor, "churn")
    owner = people("olga", models={"fraud": "admin"})
    requests = []
    for model in ("fraud", "churn"):
        body = {"name": model, "version": 1, "action": "stage", "target": "production"}
        response = secured.post("/api/v1/requests", json={**body, "user": "ed"}, headers=editor)
        assert response.status_code == 201, response.text
        requests.append(response.json()["id"])
    decision = {"approved": True, "user": "olga"}
    ok = secured.post(f"/api/v1/requests/{requests[0]}/decision", json=decision, headers=owner)
    assert ok.status_code == 200, ok.text
    assert ok.json()["decided_by"] == "olga"
    error(
        secured.post(f"/api/v1/requests/{requests[1]}/decision", json=decision, headers=owner),
        403,
    )
    # Moving into production is an admin's; the editor may stage.
    stage = {"stage": "production", "user": "ed", "archive_existing": True}
    path = "/api/v1/models/fraud/versions/1/stage"
    error(secured.post(path, json=stage, headers=editor), 403)
    staged = secured.post(path, json={**stage, "stage": "staging"}, headers=editor)
    assert staged.status_code == 200, staged.text
    assert secured.post(path, json=stage, headers=owner).status_code == 200
    # The protected alias (champion) is an admin's; others an editor's.
    alias = {"version": 1, "user": "ed"}
    error(secured.put("/api/v1/models/fraud/aliases/champion", json=alias, headers=editor), 403)
    ok = secured.put("/api/v1/models/fraud/aliases/candidate", json=alias, headers=editor)
    assert ok.status_code == 204, ok.text
    # The model list shows the scoped admin only its model.
    listed = secured.get("/api/v1/models", headers=owner).json()["items"]
    assert [m["name"] for m in listed] == ["fraud"]
    pending = secured.get("/api/v1/requests?status=any", headers=owner).json()["items"]
    assert {r["name"] for r in pending} == {"fraud"}


def test_approvals_come_from_another_authenticated_user(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    ada, bea = people("ada", "admin"), people("bea", "admin")
    version_of(secured, ada, "m")
    body = {"name": "m", "version": 1, "action": "stage", "target": "staging", "user": "bea"}
    created = secured.post("/api/v1/requests", json=body, headers=ada)
    # The body claimed bea; the server records who is authenticated.
    assert created.json()["requested_by"] == "ada"
    request_id = created.json()["id"]
    decision = {"approved": True, "user": "bea"}  # ada claiming to be bea changes nothing
    path = f"/api/v1/requests/{request_id}/decision"
    assert error(secured.post(path, json=decision, headers=ada), 409)["type"] == "ApprovalError"
    approved = secured.post(path, json=decision, headers=bea)
    assert approved.json()["decided_by"] == "bea"


def test_user_fields_are_the_authenticated_user(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    ed = people("ed", "editor")
    run = run_in(secured, ed, experiment(secured, ed, "e"))
    assert secured.get(f"/api/v1/runs/{run}", headers=ed).json()["user"] == "ed"
    created = secured.post("/api/v1/models/m/versions", json=MODEL_BODY, headers=ed)
    assert created.json()["created_by"] == "ed"


def test_whoami(
    secured: TestClient, api_without_auth: TestClient, people: Callable[..., Headers]
) -> None:
    admin = people("ada", "admin")
    exp = experiment(secured, admin, "e")
    version_of(secured, admin, "m")
    sam = people("sam", "viewer", experiments={exp: "editor"}, models={"m": "admin"})
    assert secured.get("/api/v1/auth/whoami", headers=sam).json() == {
        "username": "sam",
        "auth_enabled": True,
        "global_role": "viewer",
        "experiments": {exp: "editor"},
        "models": {"m": "admin"},
    }
    assert api_without_auth.get("/api/v1/auth/whoami").json() == {
        "username": "anonymous",
        "auth_enabled": False,
        "global_role": "admin",
        "experiments": {},
        "models": {},
    }


def test_admin_routes_manage_users_tokens_and_grants(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    admin = people("ada", "admin")
    made = secured.post("/api/v1/users", json={"username": "zed", "role": "viewer"}, headers=admin)
    assert made.status_code == 201, made.text
    issued = secured.post(
        "/api/v1/tokens", json={"username": "zed", "expires_in": "1d"}, headers=admin
    ).json()
    zed = {"Authorization": f"Bearer {issued['secret']}"}
    assert secured.get("/api/v1/auth/whoami", headers=zed).json()["global_role"] == "viewer"
    listed = secured.get("/api/v1/tokens", params={"username": "zed"}, headers=admin).json()
    assert "secret" not in listed["items"][0]
    assert listed["items"][0]["last_used_at"] is not None
    grant = {"username": "zed", "role": "editor"}
    assert secured.post("/api/v1/grants", json=grant, headers=admin).json()["role"] == "editor"
    assert secured.get("/api/v1/auth/whoami", headers=zed).json()["global_role"] == "editor"
    gone = secured.delete("/api/v1/grants", params={"username": "zed"}, headers=admin)
    assert gone.status_code == 204
    assert secured.get("/api/v1/auth/whoami", headers=zed).json()["global_role"] is None
    revoked = secured.post(f"/api/v1/tokens/{issued['token']['id']}/revoke", headers=admin)
    assert revoked.json()["revoked_at"] is not None
    error(secured.get("/api/v1/auth/whoami", headers=zed), 401)
    error(secured.post("/api/v1/users", json={"username": "x"}, headers=zed), 401)
