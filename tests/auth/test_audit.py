"""The audit log: every write recorded with its actor, a hash chain that catches tampering, and
appends that stay one chain under concurrent writers on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from mlops.auth import AccessControl, NewAuditEntry
from mlops.store.sql import tables as t
from mlops.store.sql.engine import create_engine

Headers = dict[str, str]


def actions(access: AccessControl) -> list[tuple[str, str, str, str, int | None]]:
    entries = access.audit.list_entries(limit=1000).items
    return [
        (e.actor, e.action, e.resource_type, e.resource_id, e.status_code)
        for e in reversed(entries)
    ]


def test_every_write_is_recorded_as_anonymous_without_auth(
    api_without_auth: TestClient, access: AccessControl
) -> None:
    api = api_without_auth
    exp = api.post("/api/v1/experiments", json={"name": "e"}).json()["id"]
    run = api.post("/api/v1/runs", json={"experiment_id": exp, "user": "u"}).json()["id"]
    api.post(f"/api/v1/runs/{run}/params", json={"params": {"lr": "0.1"}})
    batch = {"runs": [run], "keys": ["loss"], "run": [0], "key": [0], "value": [1.0]}
    api.post("/api/v1/metrics/batch", json={**batch, "step": [0], "timestamp": [1]})
    api.patch(f"/api/v1/runs/{run}", json={"status": "FINISHED"})
    api.post("/api/v1/runs/search", json={"experiment_ids": [exp]})  # a read: not audited
    api.get(f"/api/v1/runs/{run}")  # a read: not audited
    api.delete(f"/api/v1/runs/{run}")
    refused = api.post(f"/api/v1/runs/{run}/params", json={"params": {"lr": "0.2"}})
    assert refused.status_code == 409  # a deleted run takes no writes
    assert actions(access) == [
        ("anonymous", "experiments.create", "new_experiment", "e", 201),
        ("anonymous", "runs.create", "experiment", exp, 201),
        ("anonymous", "runs.log_params", "run", run, 204),
        ("anonymous", "metrics.log_batch", "run", run, 204),
        ("anonymous", "runs.update", "run", run, 204),
        ("anonymous", "runs.delete", "run", run, 204),
        ("anonymous", "runs.log_params", "run", run, 409),
    ]
    assert access.verify_audit().checked == 7


def test_writes_and_refusals_carry_the_authenticated_actor(
    secured: TestClient, access: AccessControl, people: Callable[..., Headers]
) -> None:
    ed, vi = people("ed", "editor"), people("vi", "viewer")
    before = len(actions(access))
    exp = secured.post("/api/v1/experiments", json={"name": "e"}, headers=ed).json()["id"]
    secured.post("/api/v1/experiments", json={"name": "v"}, headers=vi)
    secured.post("/api/v1/experiments", json={"name": "x"})
    secured.post(
        "/api/v1/experiments", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert actions(access)[before:] == [
        ("ed", "experiments.create", "new_experiment", "e", 201),
        ("vi", "experiments.create", "new_experiment", "v", 403),
        ("-", "experiments.create", "", "", 401),
        ("-", "experiments.create", "", "", 401),
    ]
    refused = access.audit.list_entries(actor="vi").items[0]
    assert refused.details is not None
    assert "editor" in refused.details["reason"]
    assert exp


def test_audit_route_is_admin_only_and_filters(
    secured: TestClient, people: Callable[..., Headers]
) -> None:
    admin, ed = people("ada", "admin"), people("ed", "editor")
    for name in ("a", "b", "c"):
        secured.post("/api/v1/experiments", json={"name": name}, headers=ed)
    assert secured.get("/api/v1/audit", headers=ed).status_code == 403
    page = secured.get("/api/v1/audit", params={"actor": "ed", "limit": 2}, headers=admin).json()
    assert [e["resource_id"] for e in page["items"]] == ["c", "b"]
    rest = secured.get(
        "/api/v1/audit",
        params={"actor": "ed", "limit": 2, "page_token": page["next_page_token"]},
        headers=admin,
    ).json()
    assert [e["resource_id"] for e in rest["items"]] == ["a"]
    assert rest["next_page_token"] is None
    verified = secured.get("/api/v1/audit/verify", headers=admin).json()
    assert verified["ok"]
    assert verified["checked"] >= 3


def test_verify_finds_the_first_tampered_or_deleted_entry(access: AccessControl) -> None:
    access.audit.append([NewAuditEntry(f"u{i}", "runs.create", "run", str(i)) for i in range(6)])
    assert access.verify_audit().ok
    db = access.store.db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(t.audit_log.update().where(t.audit_log.c.id == 3).values(actor="mallory"))
    report = access.verify_audit()
    assert (report.ok, report.first_broken_id, report.checked) == (False, 3, 2)
    assert "does not match its hash" in (report.problem or "")
    with db.write() as conn:
        conn.execute(t.audit_log.update().where(t.audit_log.c.id == 3).values(actor="u2"))
        conn.execute(t.audit_log.delete().where(t.audit_log.c.id == 5))
    report = access.verify_audit()
    assert (report.ok, report.first_broken_id) == (False, 6)


def test_concurrent_appends_make_one_unbroken_chain(access: AccessControl) -> None:
    """Threads appending at once (each its own transaction) never fork or break the chain."""
    threads, each = 8, 15
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for i in range(each):
                access.audit.append([NewAuditEntry(f"w{worker}", "x.y", "n", str(i))])
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    report = access.verify_audit()
    assert report.ok
    assert report.checked == threads * each
    db = access.store.db  # type: ignore[attr-defined]
    with db.read() as conn:
        ids = [r[0] for r in conn.execute(sa.select(t.audit_log.c.id).order_by(t.audit_log.c.id))]
    assert ids == list(range(1, threads * each + 1))


def test_a_write_and_its_audit_entry_commit_together(
    api_without_auth: TestClient, access: AccessControl, auth_db: str
) -> None:
    api = api_without_auth
    exp = api.post("/api/v1/experiments", json={"name": "e"}).json()["id"]
    run = api.post("/api/v1/runs", json={"experiment_id": exp, "user": "u"}).json()["id"]
    before = access.verify_audit().checked
    # Break the audit log: a write that cannot be audited must not be acknowledged or kept.
    engine = create_engine(auth_db)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        refused = api.post(f"/api/v1/runs/{run}/params", json={"params": {"lr": "0.1"}})
        assert refused.status_code >= 500, refused.text
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_log_away RENAME TO audit_log"))
        engine.dispose()
    assert api.get(f"/api/v1/runs/{run}").json()["params"] == {}
    assert access.verify_audit().checked == before
