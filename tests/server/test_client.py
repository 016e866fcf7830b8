"""The REST client: errors rebuilt as their own class, retries with backoff, the CLI remotely."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import mlops
from mlops.cli import app
from mlops.config import ClientSettings, MLOpsConfig
from mlops.errors import (
    BackendUnavailableError,
    ConfigError,
    ExperimentError,
    InvalidStateError,
    MLOpsError,
    NotFoundError,
    RunNotFoundError,
)
from mlops.experiments import ExperimentTracker
from mlops.models import ModelRegistry
from mlops.store import rest
from mlops.store.lifecycle import collect_garbage
from mlops.store.open import open_stores
from mlops.store.rest import RestClient

FAST = ClientSettings(max_retries=3, backoff=0.01, max_backoff=0.02)


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], settings: ClientSettings = FAST
) -> RestClient:
    return RestClient("http://mlops.test", settings, transport=httpx.MockTransport(handler))


def error(status: int, kind: str | None, message: str = "boom") -> httpx.Response:
    if kind is None:
        return httpx.Response(status, text="upstream exploded")
    return httpx.Response(status, json={"error": {"type": kind, "message": message}})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (error(404, "RunNotFoundError", "no run with id 'x'"), RunNotFoundError),
        (error(409, "SomethingNewerThanThisClient"), InvalidStateError),
        (error(404, "Exception"), NotFoundError),  # not an mlops error: by status
        (error(404, None), NotFoundError),
        (error(500, None), MLOpsError),
        (error(418, "NoSuchThing"), MLOpsError),
    ],
)
def test_errors_are_rebuilt_as_their_class(
    response: httpx.Response, expected: type[MLOpsError]
) -> None:
    client = mock_client(lambda _request: response)
    with pytest.raises(expected) as info:
        client.request("GET", "/api/v1/runs/x")
    assert type(info.value) is expected
    client.close()


def test_transient_failures_are_retried_with_backoff_and_one_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
        lambda _r: error(502, None),
        lambda _r: error(503, "BackendUnavailableError"),
        lambda _r: error(504, None),
        lambda _r: httpx.Response(201, json={"ok": True}),
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1](request)

    sleeps: list[float] = []
    monkeypatch.setattr(rest.client.time, "sleep", sleeps.append)
    settings = ClientSettings(max_retries=4, backoff=0.1, max_backoff=0.5)
    client = mock_client(handler, settings)
    response = client.request("POST", "/api/v1/runs", json_body={"a": 1}, once=True)
    assert response.json() == {"ok": True}
    assert len(seen) == 5
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1
    assert len(sleeps) == 4
    # Exponential with jitter (each wait is 50-100% of its step), capped at max_backoff.
    for wait, step in zip(sleeps, [0.1, 0.2, 0.4, 0.5], strict=True):
        assert step / 2 <= wait <= step
    client.close()


def test_retries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(rest.client.time, "sleep", lambda _s: None)
    client = mock_client(down)
    with pytest.raises(BackendUnavailableError, match="after 4 attempt"):
        client.request("GET", "/healthz")
    assert len(calls) == 4
    calls.clear()
    unavailable = mock_client(
        lambda _r: (calls.append(1), error(503, "BackendUnavailableError"))[1]
    )
    with pytest.raises(BackendUnavailableError, match="boom"):
        unavailable.request("GET", "/healthz")
    assert len(calls) == 4
    client.close()
    unavailable.close()


def test_client_errors_are_not_retried() -> None:
    calls: list[int] = []
    client = mock_client(lambda _r: (calls.append(1), error(400, "InvalidInputError"))[1])
    with pytest.raises(mlops.InvalidInputError):
        client.request("POST", "/api/v1/experiments", json_body={})
    assert calls == [1]
    client.close()


def test_an_unreachable_server_is_backend_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = MLOpsConfig(home=tmp_path, tracking_uri=f"http://127.0.0.1:{port}", client=FAST)
    with pytest.raises(BackendUnavailableError, match="did not answer"):
        ExperimentTracker(config=config).start_experiment("x")


def test_remote_errors_are_caught_like_local_ones(rest_server: str, tmp_path: Path) -> None:
    tracker = ExperimentTracker(config=MLOpsConfig(home=tmp_path, tracking_uri=rest_server))
    with pytest.raises(mlops.NotFoundError) as info:
        tracker.get_run("0" * 32)
    assert isinstance(info.value, RunNotFoundError)
    assert isinstance(info.value, ExperimentError)
    assert "no run with id" in str(info.value)


def test_database_operations_say_to_run_on_the_server(rest_server: str, tmp_path: Path) -> None:
    stores = open_stores(MLOpsConfig(home=tmp_path, tracking_uri=rest_server))
    with pytest.raises(ConfigError, match="run it on the server"):
        collect_garbage(stores)
    runner = CliRunner()
    for args in (["gc"], ["db", "upgrade"], ["db", "current"]):
        result = runner.invoke(app, [*args, "--tracking-uri", rest_server])
        assert result.exit_code != 0
        assert isinstance(result.exception, ConfigError), result.output
        assert "on the server" in str(result.exception)


def test_the_cli_works_against_a_server(rest_server: str, tmp_path: Path) -> None:
    config = MLOpsConfig(home=tmp_path, tracking_uri=rest_server)
    tracker = ExperimentTracker(config=config)
    with tracker.start_experiment("remote", run_name="r1") as run:
        run.log_params({"algorithm": "lof"})
        run.log_metrics({"f1": 0.5}, step=0)
        run.log_metrics({"f1": 0.8}, step=1)
        run.log_text("notes", "notes.md")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, [*args, "--tracking-uri", rest_server])
        assert result.exit_code == 0, result.output
        return result.output

    assert "remote" in invoke("experiments", "list")
    listed = json.loads(invoke("runs", "list", "-e", "remote", "-f", "metrics.f1 > 0.6", "--json"))
    assert [r["id"] for r in listed] == [run.id]
    shown = invoke("runs", "show", run.id[:8])
    assert "algorithm" in shown
    assert "notes.md" in shown
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    ModelRegistry(config=config).register_model("remote-model", model, run_id=run.id)
    assert "remote-model" in invoke("models", "list")
    assert "v1 is now staging" in invoke("models", "promote", "remote-model", "1", "staging")
