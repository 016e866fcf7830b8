"""Shared fixtures: a fresh store per test, on SQLite, PostgreSQL and an mlops server.

PostgreSQL runs when ``MLOPS_TEST_POSTGRES_URL`` is set; each test gets its own schema, dropped
afterwards. With ``MLOPS_REQUIRE_SERVICES`` naming ``postgres`` (CI sets it), a missing URL is
a failure rather than a skip, so CI can never pass by skipping the PostgreSQL suite.

The ``rest`` backend is a real uvicorn server in a background thread on a free loopback port,
backed by its own SQLite file and the test's artifact folder; the tracker and registry talk to
it over HTTP exactly as they would to a remote server. ``sql_backend`` is for tests that need
the database itself (schema, gc, copies).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from mlops.config import MLOpsConfig
from mlops.experiments import tracking
from mlops.models import registry
from mlops.store import open as store_open

S3_SKIP_REASON = "S3 tests need s3fs and moto[server]: pip install 'mlops[dev]'"
HAVE_S3 = all(importlib.util.find_spec(name) for name in ("s3fs", "moto", "boto3"))
POSTGRES_URL = os.environ.get("MLOPS_TEST_POSTGRES_URL")
REQUIRED = {s.strip() for s in os.environ.get("MLOPS_REQUIRE_SERVICES", "").split(",") if s.strip()}


def require_postgres() -> str:
    """The PostgreSQL URL, or skip (fail when CI requires it)."""
    if POSTGRES_URL:
        return POSTGRES_URL
    if "postgres" in REQUIRED:
        pytest.fail("MLOPS_REQUIRE_SERVICES names postgres but MLOPS_TEST_POSTGRES_URL is not set")
    pytest.skip(
        "PostgreSQL tests need MLOPS_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)"
    )


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's MLOPS_* settings or a cached store of another test."""
    for key in list(os.environ):
        if key.startswith("MLOPS_") and key not in (
            "MLOPS_TEST_POSTGRES_URL",
            "MLOPS_REQUIRE_SERVICES",
        ):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield
    tracking.set_default_tracker(None)
    registry.set_default_registry(None)
    store_open.close_all()


@pytest.fixture
def postgres_schema_uri() -> Iterator[str]:
    """A PostgreSQL URI whose search_path is a fresh, empty schema."""
    import sqlalchemy as sa

    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    store_open.close_all()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


class ThreadedServer:
    """A real uvicorn server for ``app`` in a daemon thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any):
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every small response waits ~40 ms for a delayed ACK.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                # Named, not "auto": probing for uvloop/httptools imports in the server thread.
                loop="asyncio",
                http="h11",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.002)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def serve() -> Iterator[Callable[[MLOpsConfig], str]]:
    """Starts an mlops server for a configuration and returns its URL; stops it afterwards."""
    from mlops.server.app import create_app

    servers: list[ThreadedServer] = []

    def start(config: MLOpsConfig) -> str:
        server = ThreadedServer(create_app(config)).__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
def sqlite_config(tmp_path: Path) -> MLOpsConfig:
    """A config on a fresh SQLite store, for tests of one backend (the domain suites)."""
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
        user="ann",
    )


@pytest.fixture
def rest_server(tmp_path: Path, serve: Callable[[MLOpsConfig], str]) -> str:
    """The URL of an mlops server on a fresh SQLite store and the test's artifact folder."""
    return serve(
        MLOpsConfig(
            home=tmp_path / "server-home",
            tracking_uri=f"sqlite:///{tmp_path / 'server' / 'mlops.db'}",
            artifact_uri=str(tmp_path / "artifacts"),
            user="server",
        )
    )


def _sql_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'mlops.db'}"
    return str(request.getfixturevalue("postgres_schema_uri"))


@pytest.fixture(params=["sqlite", "postgres", "rest"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The tracking URI of an empty store on each backend (``rest``: an mlops server's URL)."""
    if request.param == "rest":
        return str(request.getfixturevalue("rest_server"))
    return _sql_backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URI of an empty SQL database, for tests of the database itself."""
    return _sql_backend(request.param, request, tmp_path)


@pytest.fixture
def config(backend: str, tmp_path: Path) -> MLOpsConfig:
    """A config on ``backend`` with its own home and artifact folder."""
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=backend,
        artifact_uri=str(tmp_path / "artifacts"),
        user="alice",
    )


@pytest.fixture
def tracker(config: MLOpsConfig) -> Iterator[tracking.ExperimentTracker]:
    t = tracking.ExperimentTracker(config=config)
    tracking.set_default_tracker(t)
    yield t
    t.close()


@pytest.fixture
def model_registry(config: MLOpsConfig) -> registry.ModelRegistry:
    r = registry.ModelRegistry(config=config)
    registry.set_default_registry(r)
    return r


# --- a real S3 API (moto) on loopback -----------------------------------------------------------
# moto's server keeps buckets in process-global state, so one server per session serves every
# test, and each test gets a fresh bucket after a full reset.


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1, on a free port."""
    if not HAVE_S3:
        pytest.skip(S3_SKIP_REASON)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and no real AWS configuration leaking in from the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MLOPS_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_bucket(moto_endpoint: str, aws_env: None) -> Iterator[Any]:
    """A fresh, empty bucket; returns the boto3 ``Bucket`` resource (the test's 'disk')."""
    import boto3  # type: ignore[import-untyped]

    _reset_moto(moto_endpoint)
    resource = boto3.resource("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = resource.create_bucket(Bucket=f"mlops-test-{uuid.uuid4().hex[:12]}")
    yield bucket
    _reset_moto(moto_endpoint)


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
