"""Schemathesis over the server's own OpenAPI document, against a live server: never a 5xx.

Every operation gets schema-driven requests, valid and deliberately invalid (wrong types,
missing fields, out-of-range numbers, odd unicode, unknown ids), sent over real HTTP to
``create_app`` under uvicorn on loopback. Each operation starts from a fresh store seeded with
experiments, runs, metrics, artifacts, a model with versions, an alias and an approval request;
a quarter of the generated requests have their ids swapped for seeded ones, so the code behind
a *found* object is fuzzed too, not only the 404 path.

Checks: no 5xx, every status and content type documented, JSON bodies match their documented
schema. Generation is deterministic (Hypothesis' derandomize, no example database), so a
failure reproduces by rerunning the test. ``MLOPS_FUZZ_EXAMPLES`` (default 8) sets the random
examples per operation on top of schemathesis' boundary-value ("coverage") cases; a long run is
``MLOPS_FUZZ_EXAMPLES=500 pytest tests/server/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlops.config import MLOpsConfig
from mlops.server.app import create_app

EXAMPLES = int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The OpenAPI document; building it opens no store, so nothing is created here."""
    nowhere = Path("/nonexistent/mlops-fuzz")
    config = MLOpsConfig(
        home=nowhere, tracking_uri=f"sqlite:///{nowhere}/unused.db", artifact_uri=str(nowhere)
    )
    return create_app(config).openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)

KNOWN: dict[str, list[Any]] = {}
"""Ids of what the current test's store holds (filled by the ``live_server`` fixture)."""


@schema.hook
def flatmap_case(_context: Any, case: Any) -> st.SearchStrategy[Any]:
    """One case in four as generated; the others name seeded objects (index 0, 1 or 2)."""
    return st.integers(0, 3).map(lambda i: case if i == 3 else _with_known(case, i))


def _with_known(case: Any, i: int) -> Any:
    def pick(kind: str) -> Any:
        values = KNOWN[kind]
        return values[i % len(values)]

    path_kinds = ("experiment_id", "run_id", "name", "version", "alias", "request_id", "path")
    if case.path_parameters:
        case.path_parameters = {
            k: pick(k) if k in path_kinds else v for k, v in case.path_parameters.items()
        }
    if isinstance(case.query, dict):
        query_kinds = {"run_id": "run_id", "key": "key", "uri": "uri", "path": "path"}
        case.query = {
            k: pick(query_kinds[k]) if k in query_kinds else v for k, v in case.query.items()
        }
        if "name" in case.query and case.operation.path.endswith("/by-name"):
            case.query["name"] = pick("experiment_name")
    if isinstance(case.body, dict):
        body = dict(case.body)
        for field, kind in (("experiment_id", "experiment_id"), ("run_id", "run_id")):
            if field in body:
                body[field] = pick(kind)
        for field in ("run_ids", "runs"):
            if isinstance(body.get(field), list) and body[field]:
                body[field] = [pick("run_id") for _ in body[field]]
        if "experiment_ids" in body:
            body["experiment_ids"] = [pick("experiment_id")]
        if case.operation.path == "/api/v1/requests":
            body |= {"name": pick("name"), "version": pick("version")}
        case.body = body
    return case


def seed(base: str) -> dict[str, list[Any]]:
    """Fill a fresh store through the API; returns the ids of what it made."""
    known: dict[str, list[Any]] = {k: [] for k in ("experiment_id", "experiment_name", "run_id")}
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
        for e in range(2):
            name = f"exp-{e}"
            exp = api.post("/experiments", json={"name": name, "tags": {"team": "fuzz"}}).json()
            known["experiment_id"].append(exp["id"])
            known["experiment_name"].append(name)
            parent = None
            for _ in range(2):
                body = {"experiment_id": exp["id"], "user": "fuzz", "parent_run_id": parent}
                run_id = api.post("/runs", json=body).json()["id"]
                parent = parent or run_id
                known["run_id"].append(run_id)
                api.post(f"/runs/{run_id}/params", json={"params": {"lr": "0.1"}})
                api.post(f"/runs/{run_id}/tags", json={"tags": {"stage": "dev"}})
                batch = {"runs": [run_id], "keys": ["loss"], "run": [0, 0], "key": [0, 0]}
                batch |= {"value": [1.0, 0.5], "step": [0, 1], "timestamp": [1, 2]}
                assert api.post("/metrics/batch", json=batch).status_code == 204
        first_run = known["run_id"][0]
        info = api.put("/artifacts/files/models/clf/model.bin", content=b"weights").json()
        record = {key: info[key] for key in ("uri", "path", "size", "sha256")}
        record |= {"created_at": 1, "run_id": first_run}
        api.post("/artifact-records", json={"records": [record]})
        for _ in range(2):
            version = {key: info[key] for key in ("sha256", "size")}
            version |= {"artifact_uri": info["uri"], "flavor": "python", "format": "pickle"}
            version |= {"user": "fuzz", "run_id": first_run}
            assert api.post("/models/clf/versions", json=version).status_code == 201
        api.put("/models/clf/aliases/champion", json={"version": 1, "user": "fuzz"})
        request = {"name": "clf", "version": 2, "action": "stage", "target": "production"}
        request_id = api.post("/requests", json=request | {"user": "fuzz"}).json()["id"]
    return known | {
        "name": ["clf"],
        "version": [1, 2],
        "alias": ["champion"],
        "request_id": [request_id],
        "path": ["models/clf/model.bin"],
        "uri": [info["uri"]],
        "key": ["loss"],
    }


class LiveServer:
    """``create_app(config)`` under uvicorn on a free loopback port, in a thread."""

    def __init__(self, config: MLOpsConfig):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        app = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            time.sleep(0.01)
        return self.url

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def store_config(home: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=home, tracking_uri=f"sqlite:///{home / 'server.db'}", artifact_uri=str(home / "art")
    )


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Any]]]:
    """A seeded store, made once; each test works on its own copy of it."""
    home = tmp_path_factory.mktemp("seeded")
    with LiveServer(store_config(home)) as url:
        known = seed(url)
    return home, known


@pytest.fixture
def live_server(tmp_path: Path, seeded_store: tuple[Path, dict[str, list[Any]]]) -> Iterator[str]:
    """A server on a fresh copy of the seeded store (so no operation sees another's writes)."""
    template, known = seeded_store
    home = tmp_path / "store"
    shutil.copytree(template, home)
    KNOWN.clear()
    KNOWN.update(known)
    with LiveServer(store_config(home)) as url:
        yield url


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_server_errors_and_responses_match_the_document(case: Any, live_server: str) -> None:
    case.call_and_validate(base_url=live_server, checks=CHECKS, timeout=60)
