"""`mlops server --auth` as a real process, with workers: tokens are required in each of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mlops.auth import access_control


def test_auth_flag_reaches_every_worker(server_process: Callable[..., Any], tmp_path: Path) -> None:
    access = access_control(f"sqlite:///{tmp_path / 'server.db'}")
    access.create_user("alice", "editor", by="test")
    secret = access.create_token("alice").secret
    server_process("--auth", "--workers", "2")
    url = f"http://127.0.0.1:{server_process.port}"  # type: ignore[attr-defined]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        for _ in range(8):  # spread over both workers by new connections
            refused = httpx.get(f"{url}/api/v1/experiments", timeout=10)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
        headers = {"Authorization": f"Bearer {secret}"}
        created = client.post("/api/v1/experiments", json={"name": "e"}, headers=headers)
        assert created.status_code == 201, created.text
        me = client.get("/api/v1/auth/whoami", headers=headers).json()
        assert (me["username"], me["auth_enabled"], me["global_role"]) == ("alice", True, "editor")
    entries = access.audit.list_entries(actor="alice").items
    assert [e.action for e in entries] == ["experiments.create"]
