"""Auth fixtures: a server app with ``--auth`` on SQLite and PostgreSQL, and its users.

``secured`` is the app (in-process, startup and shutdown run) on each SQL backend; ``people``
makes users with roles and returns the headers that carry their tokens, created through
``AccessControl`` on the same database, as ``mlops users create`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.auth import AccessControl, access_control
from mlops.config import MLOpsConfig
from mlops.server.app import create_app

Headers = dict[str, str]


@pytest.fixture(params=["sqlite", "postgres"])
def auth_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database on each SQL backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    return str(request.getfixturevalue("postgres_schema_uri"))


def server_config(db: str, tmp_path: Path, *, auth: bool = True) -> MLOpsConfig:
    config = MLOpsConfig(
        home=tmp_path / "server-home",
        tracking_uri=db,
        artifact_uri=str(tmp_path / "artifacts"),
        user="server",
    )
    config.server.auth = auth
    return config


@pytest.fixture
def access(auth_db: str, tmp_path: Path) -> AccessControl:
    """User administration on the server's database (what the CLI does)."""
    return access_control(config=server_config(auth_db, tmp_path))


@pytest.fixture
def secured(auth_db: str, tmp_path: Path) -> Iterator[TestClient]:
    """The server with authentication on."""
    app = create_app(server_config(auth_db, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class People:
    access: AccessControl

    def __call__(
        self,
        name: str,
        role: str | None = None,
        *,
        experiments: dict[str, str] | None = None,
        models: dict[str, str] | None = None,
    ) -> Headers:
        """A new user with these roles; the headers that authenticate as them."""
        self.access.create_user(name, role, by="test")
        for experiment, r in (experiments or {}).items():
            self.access.grant(name, r, experiment=experiment, by="test")
        for model, r in (models or {}).items():
            self.access.grant(name, r, model=model, by="test")
        return bearer(self.access.create_token(name).secret)


def bearer(secret: str) -> Headers:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def people(access: AccessControl) -> Callable[..., Headers]:
    return People(access)


@pytest.fixture
def api_without_auth(auth_db: str, tmp_path: Path) -> Iterator[TestClient]:
    """The server on the same database with authentication off (the default)."""
    app = create_app(server_config(auth_db, tmp_path, auth=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
