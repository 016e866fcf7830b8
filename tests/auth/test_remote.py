"""End to end: the CLI bootstraps users and tokens, a real server runs with --auth, and the
Python API and CLI work through ``MLOPS_TRACKING_URI`` + ``MLOPS_TRACKING_TOKEN``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig, load_config
from mlops.errors import AuthenticationError, PermissionDeniedError
from mlops.experiments import ExperimentTracker
from mlops.models import ModelRegistry
from mlops.store.open import close_all
from mlops.store.rest import RestClient

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture
def served(tmp_path: Path, serve: Callable[[MLOpsConfig], str]) -> tuple[str, str]:
    """(database URI, URL) of a server with --auth on a fresh SQLite store."""
    db = f"sqlite:///{tmp_path / 'server.db'}"
    config = MLOpsConfig(
        home=tmp_path / "home", tracking_uri=db, artifact_uri=str(tmp_path / "artifacts")
    )
    config.server.auth = True
    return db, serve(config)


def remote(monkeypatch: pytest.MonkeyPatch, url: str, token: str | None) -> MLOpsConfig:
    """The environment of a client of ``url`` with ``token``; its config."""
    close_all()
    monkeypatch.setenv("MLOPS_TRACKING_URI", url)
    if token is None:
        monkeypatch.delenv("MLOPS_TRACKING_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLOPS_TRACKING_TOKEN", token)
    return load_config()


def test_cli_bootstrap_then_remote_clients_by_role(
    served: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, url = served
    invoke("users", "create", "alice", "--role", "admin", "--tracking-uri", db)
    invoke("users", "create", "bob", "--role", "viewer", "--tracking-uri", db)
    alice = invoke("tokens", "create", "alice", "--tracking-uri", db).strip().splitlines()[0]
    bob = invoke(
        "tokens", "create", "bob", "--name", "ci", "--expires-in", "30d", "--tracking-uri", db
    ).splitlines()[0]
    assert alice.startswith("mlops_")
    assert "users.create" in invoke("audit", "list", "--tracking-uri", db)

    # No token: a clear AuthenticationError naming the fix, never retried.
    with pytest.raises(AuthenticationError, match="MLOPS_TRACKING_TOKEN"):
        ExperimentTracker(config=remote(monkeypatch, url, None)).create_experiment("x")

    # Alice (admin) tracks and registers remotely.
    tracker = ExperimentTracker(config=remote(monkeypatch, url, alice))
    with tracker.start_run("remote") as run:
        run.log_params({"c": 1})
        run.log_metrics({"loss": 0.5}, step=0)
    registry = ModelRegistry(config=tracker.config)
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    version = registry.register_model("clf", model, run_id=run.id)
    assert version.created_by == "alice"
    assert tracker.get_run(run.id).user == "alice"
    experiment_id = tracker.get_run(run.id).experiment_id
    tracker.close()

    # Bob (viewer) reads, but writing is a PermissionDeniedError saying what to ask for.
    viewer = ExperimentTracker(config=remote(monkeypatch, url, bob))
    assert viewer.get_run(run.id).params == {"c": "1"}
    with pytest.raises(PermissionDeniedError, match="mlops grant bob editor"):
        viewer.create_experiment("mine")
    viewer.close()

    # The CLI works remotely with the token, and refuses clearly without the role.
    assert "remote" in invoke("experiments", "list")
    refused = runner.invoke(app, ["experiments", "create", "other"])
    assert isinstance(refused.exception, PermissionDeniedError)
    assert "needs the editor role" in str(refused.exception)

    # Granting on the experiment lets bob write there (and only there).
    invoke("grant", "bob", "editor", "--experiment", experiment_id, "--tracking-uri", db)
    scoped = ExperimentTracker(config=remote(monkeypatch, url, bob))
    with scoped.start_run("remote") as own:
        own.log_metrics({"loss": 0.1}, step=0)
    scoped.close()
    assert "bob" in invoke("audit", "list", "--actor", "bob", "--tracking-uri", db)

    # Revoking the token ends bob's access at once.
    token_id = invoke("tokens", "list", "bob", "--json", "--tracking-uri", db)
    assert '"name": "ci"' in token_id
    invoke("tokens", "revoke", "2", "--tracking-uri", db)
    with pytest.raises(AuthenticationError, match="revoked"):
        ExperimentTracker(config=remote(monkeypatch, url, bob)).get_run(run.id)
    assert "hash chain verified" in invoke("audit", "verify", "--tracking-uri", db)


def test_401_and_403_are_never_retried_and_say_what_to_do() -> None:
    calls: list[str] = []

    def bare(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("authorization", ""))
        return httpx.Response(401 if "nope" in calls[-1] else 403, text="denied by proxy")

    for token, error, hint in (
        ("nope", AuthenticationError, "MLOPS_TRACKING_TOKEN"),
        ("mlops_ok", PermissionDeniedError, "mlops grant"),
    ):
        calls.clear()
        client = RestClient("http://mlops.test", token=token, transport=httpx.MockTransport(bare))
        with pytest.raises(error, match=hint):
            client.request("GET", "/api/v1/experiments")
        assert calls == [f"Bearer {token}"]
        client.close()
