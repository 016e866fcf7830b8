"""Monitoring through an mlops server over a network that loses answers: every row and alert
the server took counts once, and nothing a client was told is stored gets lost.

The server is real (uvicorn on loopback); only the client's network misbehaves: a transport
that sends a request and then drops the connection before the answer arrives (the server did
the write, the client cannot know), or refuses to connect at all.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlops.config import ClientSettings, MLOpsConfig
from mlops.monitoring import AlertManager, DriftDetector, PerformanceMonitor
from mlops.monitoring.store import monitoring_store
from mlops.store.open import open_stores
from mlops.store.sql import tables as t


class LossyNetwork(httpx.BaseTransport):
    """Sends requests whose ``METHOD path`` matches ``pattern``, then loses the first
    ``lose`` answers; refuses the next ``refuse`` connections."""

    def __init__(self, pattern: str, lose: int = 2, refuse: int = 1):
        self.inner = httpx.HTTPTransport()
        self.pattern = re.compile(pattern)
        self.lose = lose
        self.refuse = refuse
        self.sent = 0

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.pattern.search(f"{request.method} {request.url.path}"):
            if self.lose:
                self.lose -= 1
                response = self.inner.handle_request(request)
                response.read()
                response.close()
                self.sent += 1
                raise httpx.ReadError("connection dropped before the answer", request=request)
            if self.refuse:
                self.refuse -= 1
                raise httpx.ConnectError("connection refused", request=request)
            self.sent += 1
        return self.inner.handle_request(request)


@pytest.fixture
def remote(rest_server: str, tmp_path: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=tmp_path / "client",
        tracking_uri=rest_server,
        user="ann",
        client=ClientSettings(backoff=0.01, max_backoff=0.05),
    )


def _lossy(config: MLOpsConfig, pattern: str, lose: int = 2, refuse: int = 1) -> LossyNetwork:
    """Puts the client of ``config``'s stores on a lossy network."""
    network = LossyNetwork(pattern, lose, refuse)
    client = open_stores(config).client
    assert client is not None
    client._http.close()
    client._http = httpx.Client(base_url=client.base_url, transport=network)
    return network


def _server_count(tmp_path: Path, table: sa.Table) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'server' / 'mlops.db'}")
    with engine.connect() as conn:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    engine.dispose()
    return count


def test_window_rows_count_once_when_answers_are_lost(remote: MLOpsConfig) -> None:
    network = _lossy(remote, r"POST .*/monitors/.*/chunks$")
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.choice(["x", "y"], 2000)})
    detector = DriftDetector(reference, detection_window=1000, name="lossy", config=remote)
    acks = []
    for _ in range(5):
        batch = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
        acks.append(detector.log_predictions(batch))
        acks[-1].wait(60)  # one chunk per call, so the lost answers hit separate batches
    assert [a.wait(60) for a in acks] == [200] * 5
    detector.flush()
    detector.stop()
    assert network.sent >= 5 + 2  # two batches really were sent twice
    assert [r.n_rows for r in detector.results()] == [1000]
    assert monitoring_store(remote).list_chunks("lossy") == []


def test_predictions_labels_and_results_count_once(remote: MLOpsConfig, tmp_path: Path) -> None:
    network = _lossy(remote, r"POST .*/monitors/.*/(predictions|labels)$|POST .*/results$")
    perf = PerformanceMonitor("svc", window="1h", config=remote)
    ids = perf.log_inference([1, 0, 1, 1], timestamp=1_800_000_000.0).wait()
    assert perf.log_ground_truth(ids, [1, 0, 0, 1]) == [1_800_000_000.0]
    result = perf.evaluate(1_800_000_000.0)
    assert network.sent >= 3 + 2
    assert _server_count(tmp_path, t.monitoring_predictions) == 4
    assert result.n_labelled == 4
    stored = monitoring_store(remote).list_results(monitor=perf.name)
    assert [r.n_rows for r in stored] == [4]
    assert stored[0].payload["metrics"]["precision"] == pytest.approx(2 / 3)


def test_alerts_deliveries_and_silences_count_once(remote: MLOpsConfig, tmp_path: Path) -> None:
    network = _lossy(remote, r"POST .*/monitoring/(alerts|silences|deliveries/claim)")
    manager = AlertManager(["log"], config=remote)
    alert = manager.fire("manual", "on fire", labels={"model": "m"})
    assert alert.status == "firing"
    manager.silence({"model": "other"}, "1h")
    assert manager.deliver()["delivered"] == 1
    assert network.sent >= 3
    assert _server_count(tmp_path, t.monitoring_alerts) == 1
    assert _server_count(tmp_path, t.monitoring_deliveries) == 1
    assert _server_count(tmp_path, t.monitoring_silences) == 1
    assert [d.status for d in manager.store.get_alert(alert.id).deliveries] == ["delivered"]


def test_a_server_that_stays_down_fails_the_call_not_the_rows(remote: MLOpsConfig) -> None:
    from mlops.errors import BackendUnavailableError

    network = _lossy(remote, r"POST .*/predictions$", lose=0, refuse=100)
    perf = PerformanceMonitor("svc", config=remote)
    with pytest.raises(BackendUnavailableError, match="did not answer"):
        perf.log_inference([1, 0])
    network.refuse = 0  # the server is back: the caller's retry stores the rows once
    perf.log_inference([1, 0], prediction_ids=["a", "b"])
    perf.log_inference([1, 0], prediction_ids=["a", "b"])
    assert len(monitoring_store(remote).list_predictions(perf.name, perf._open or 0.0)) == 2


def test_rows_logged_while_the_writer_retries_are_not_lost(remote: MLOpsConfig) -> None:
    # The first chunk is stored but its answer lost, then the server stays unreachable past
    # the client's own retries, while more rows keep arriving: the writer must send the same
    # chunk again (the server keeps the one it has) and the later rows under new seqs.
    network = _lossy(remote, r"POST .*/monitors/.*/chunks$", lose=1, refuse=8)
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"a": rng.normal(size=2000)})
    detector = DriftDetector(reference, detection_window=100_000, name="busy", config=remote)
    acks = []
    for _ in range(30):  # spread over the writer's failing attempts
        acks.append(detector.log_predictions(pd.DataFrame({"a": rng.normal(size=100)})))
        time.sleep(0.01)
    assert sum(a.wait(60) for a in acks) == 3000
    detector.flush()
    assert network.refuse == 0  # the writer itself had to retry
    detector.stop()
    # What is stored is what a restarted process gets back: every acknowledged row, once.
    again = DriftDetector(reference, detection_window=100_000, name="busy", config=remote)
    window = again.stream.open_window
    assert window is not None
    assert window.rows == 3000


def test_a_window_result_the_server_could_not_take_is_saved_later(remote: MLOpsConfig) -> None:
    network = _lossy(remote, r"POST .*/monitoring/results$", lose=0, refuse=8)
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"a": rng.normal(size=2000)})
    detector = DriftDetector(reference, detection_window=500, name="late", config=remote)
    for _ in range(4):
        detector.log_predictions(pd.DataFrame({"a": rng.normal(size=250)})).wait(60)
    detector.flush()
    deadline = time.monotonic() + 30
    while len(detector.results()) < 2:  # the writer retries the kept results in order
        assert time.monotonic() < deadline, "the kept window results were never stored"
        time.sleep(0.05)
    assert network.refuse == 0
    assert [r.n_rows for r in detector.results()] == [500, 500]
    assert monitoring_store(remote).list_chunks("late") == []
    detector.stop()


def test_reports_and_the_alerts_cli_work_through_a_server(
    remote: MLOpsConfig, rest_server: str
) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app
    from mlops.monitoring import generate_report

    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"a": rng.normal(size=1000)})
    detector = DriftDetector(
        reference, detection_window=200, name="rep", model_version="svc", config=remote
    )
    detector.log_predictions(pd.DataFrame({"a": rng.normal(3.0, 1.0, 200)})).wait(60)
    detector.flush()
    detector.stop()
    alert = AlertManager(["log"], config=remote).fire("manual", "look", labels={"model": "svc"})
    report = generate_report(model_version="svc", config=remote)
    assert "rep" in report.html
    assert "manual" in json.dumps(report.data["alerts"], default=str)
    uri = ["--tracking-uri", rest_server]
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", "--json", *uri])
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.output)] == [alert.id]
    assert runner.invoke(app, ["alerts", "resolve", str(alert.id), *uri]).exit_code == 0
    results = runner.invoke(app, ["monitor", "results", "--json", *uri])
    assert results.exit_code == 0, results.output
    assert [r["n_rows"] for r in json.loads(results.output)] == [200]


def test_a_big_call_goes_to_the_server_in_bounded_chunks(remote: MLOpsConfig) -> None:
    # 40 MB of numbers in one call: over the server's 32 MB body limit if sent whole.
    from mlops.config import ServerSettings

    assert ServerSettings().max_request_bytes < 40 * 1024**2
    rng = np.random.default_rng(5)
    columns = [f"c{i}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(1000, 10)), columns=columns)
    detector = DriftDetector(reference, detection_window=10**7, name="big", config=remote)
    big = pd.DataFrame(rng.normal(size=(500_000, 10)), columns=columns)
    assert detector.log_predictions(big).wait(120) == 500_000
    detector.stop()
    chunks = monitoring_store(remote).list_chunks("big")
    assert len(chunks) == 5  # 100,000 rows of 10 columns each
    again = DriftDetector(reference, detection_window=10**7, name="big", config=remote)
    window = again.stream.open_window
    assert window is not None
    assert window.rows == 500_000
