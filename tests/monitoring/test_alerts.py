"""Alerts delivered to real receivers on loopback: an HTTP server and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops.config import MLOpsConfig
from mlops.monitoring.alerts import AlertManager, AlertRule, AlertStateError, create_alert
from mlops.monitoring.channels import channel_from_spec
from mlops.monitoring.units import InvalidMonitoringInputError

T0 = 1_800_000_000.0


class Receiver:
    """A real HTTP server on 127.0.0.1 that records JSON bodies; ``status`` sets its answer."""

    def __init__(self, port: int = 0):
        self.requests: list[tuple[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, json.loads(body)))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rules_wait_for_their_duration_then_fire_once(
    mon_config: MLOpsConfig, receiver: Receiver
) -> None:
    manager = AlertManager([f"webhook+{receiver.url}/hook"], config=mon_config)
    manager.create_rule(
        "drift", "drift_share", condition=">", threshold=0.1, for_duration="1m", severity="critical"
    )
    labels = {"model": "churn", "version": 3}
    assert manager.evaluate({"drift_share": 0.3}, labels, at=T0)[0].status == "pending"
    assert manager.evaluate({"drift_share": 0.4}, labels, at=T0 + 30)[0].status == "pending"
    assert manager.deliver(at=T0 + 30)["delivered"] == 0
    fired = manager.evaluate({"drift_share": 0.5}, labels, at=T0 + 61)[0]
    assert fired.status == "firing"
    manager.evaluate({"drift_share": 0.5}, labels, at=T0 + 90)  # a repeat: deduplicated
    assert manager.deliver(at=T0 + 91) == {
        "delivered": 1,
        "retrying": 0,
        "failed": 0,
        "silenced": 0,
        "waiting": 0,
    }
    alerts = manager.list_alerts()
    assert len(alerts) == 1
    assert alerts[0].count == 4
    assert alerts[0].model_name == "churn"
    assert alerts[0].model_version == 3
    path, body = receiver.requests[0]
    assert path == "/hook"
    assert body["status"] == "firing"
    assert body["alerts"][0]["rule"] == "drift"
    assert body["alerts"][0]["severity"] == "critical"
    # Recovery resolves the episode and says so.
    manager.evaluate({"drift_share": 0.0}, labels, at=T0 + 120)
    manager.deliver(at=T0 + 121)
    assert receiver.requests[1][1]["status"] == "resolved"
    assert manager.list_alerts()[0].status == "resolved"
    # A pending alert that clears never notifies.
    manager.evaluate({"drift_share": 0.9}, labels, at=T0 + 200)
    manager.evaluate({"drift_share": 0.0}, labels, at=T0 + 210)
    manager.deliver(at=T0 + 211)
    assert len(receiver.requests) == 2


def test_alerts_of_one_group_go_out_together(mon_config: MLOpsConfig, receiver: Receiver) -> None:
    manager = AlertManager([f"webhook+{receiver.url}"], config=mon_config)
    manager.create_rule("slow", "latency", condition=">", threshold="100ms", group_by=("model",))
    manager.evaluate({"latency": 0.2}, {"model": "m", "replica": "a"}, at=T0)
    manager.evaluate({"latency": 0.3}, {"model": "m", "replica": "b"}, at=T0)
    manager.deliver(at=T0)
    assert len(receiver.requests) == 1
    assert len(receiver.requests[0][1]["alerts"]) == 2


def test_a_receiver_that_is_down_gets_the_alert_later(mon_config: MLOpsConfig) -> None:
    port = free_port()
    manager = AlertManager(
        [f"webhook+http://127.0.0.1:{port}"], config=mon_config, max_attempts=3, backoff=10
    )
    manager.fire("disk", "disk almost full", labels={"model": "m"})
    assert manager.deliver(at=T0)["retrying"] == 1
    delivery = manager.list_alerts()[0].deliveries[0]
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == T0 + 10
    assert "ConnectError" in (delivery.last_error or "")
    assert manager.deliver(at=T0 + 5)["retrying"] == 0  # not due yet: backoff
    assert manager.deliver(at=T0 + 10)["retrying"] == 1
    assert manager.list_alerts()[0].deliveries[0].next_attempt_at == T0 + 30  # doubled
    assert manager.deliver(at=T0 + 30)["failed"] == 1
    failed = manager.list_alerts()[0].deliveries[0]
    assert failed.status == "failed"  # undeliverable: kept and visible
    receiver = Receiver(port)
    try:
        assert manager.retry_failed() == 1
        assert manager.deliver()["delivered"] == 1
        assert receiver.requests[0][1]["alerts"][0]["message"] == "disk almost full"
    finally:
        receiver.close()


def test_a_refusing_receiver_is_retried_too(mon_config: MLOpsConfig, receiver: Receiver) -> None:
    receiver.status = 503
    manager = AlertManager([f"webhook+{receiver.url}"], config=mon_config, backoff=1)
    manager.fire("x", "boom")
    assert manager.deliver(at=T0)["retrying"] == 1
    assert "HTTP 503" in (manager.list_alerts()[0].deliveries[0].last_error or "")
    receiver.status = 200
    assert manager.deliver(at=T0 + 1)["delivered"] == 1


def test_silence_holds_notifications_until_it_ends_and_ack_stops_them(
    mon_config: MLOpsConfig, receiver: Receiver
) -> None:
    manager = AlertManager([f"webhook+{receiver.url}"], config=mon_config)
    silence = manager.silence({"model": "noisy"}, "2h", comment="maintenance")
    manager.fire("a", "noisy alert", labels={"model": "noisy"})
    manager.fire("b", "other alert", labels={"model": "calm"})
    outcome = manager.deliver()
    assert outcome["silenced"] == 1
    assert outcome["delivered"] == 1
    assert manager.deliver(at=silence.ends_at)["delivered"] == 1  # after the silence
    third = manager.fire("c", "acked before sending", labels={"model": "calm"})
    manager.acknowledge(third.id, user="bob")
    manager.deliver()
    assert len(receiver.requests) == 2
    assert manager.store.get_alert(third.id).acked_by == "bob"
    manager.resolve(third.id)
    with pytest.raises(AlertStateError, match="already resolved"):
        manager.resolve(third.id)


def test_slack_and_alertmanager_payloads(mon_config: MLOpsConfig, receiver: Receiver) -> None:
    manager = AlertManager(
        [f"slack+{receiver.url}/slack", f"alertmanager+{receiver.url}"], config=mon_config
    )
    alert = manager.fire("prec", "precision 0.6 < 0.8", severity="critical", labels={"model": "m"})
    manager.deliver()
    by_path = dict(receiver.requests)
    slack = by_path["/slack"]
    assert "prec" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    am = by_path["/api/v2/alerts"]
    assert isinstance(am, list)
    assert am[0]["labels"]["alertname"] == "prec"
    assert am[0]["labels"]["severity"] == "critical"
    assert am[0]["annotations"]["summary"] == "precision 0.6 < 0.8"
    assert am[0]["startsAt"].endswith("Z")
    manager.resolve(alert.id)
    manager.deliver()
    assert "endsAt" in receiver.requests[-1][1][0] or "endsAt" in receiver.requests[-2][1][0]


def test_email_reaches_a_real_smtp_server(mon_config: MLOpsConfig) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    controller = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        spec = f"smtp://127.0.0.1:{controller.port}?from=mlops@example.org&to=ops@example.org"
        manager = AlertManager([spec], config=mon_config)
        manager.fire("latency", "p95 latency 250ms > 100ms", severity="critical")
        assert manager.deliver()["delivered"] == 1
    finally:
        controller.stop()
    assert len(received) == 1
    assert received[0]["To"] == "ops@example.org"
    assert "[mlops firing] critical: latency" in received[0]["Subject"]
    assert "p95 latency 250ms" in received[0].get_payload()


def test_bad_rules_and_channels_are_clear_errors(mon_config: MLOpsConfig) -> None:
    with pytest.raises(InvalidMonitoringInputError, match="condition"):
        AlertRule.create("r", "x", condition="=>")
    with pytest.raises(InvalidMonitoringInputError, match="severity"):
        AlertRule.create("r", "x", severity="urgent")
    with pytest.raises(InvalidMonitoringInputError, match="unknown alert channel"):
        channel_from_spec("pager")
    with pytest.raises(InvalidMonitoringInputError, match="needs its address"):
        AlertManager(["slack"], config=mon_config)
    manager = AlertManager(["log"], config=mon_config)
    rule = create_alert("high", "drift_share", ">", 0.2, manager=manager)
    assert rule in manager.list_rules()
    assert AlertManager(["log"], config=mon_config).list_rules() == [rule]  # stored


def test_two_deliverers_on_one_store_never_send_twice(
    mon_config: MLOpsConfig, receiver: Receiver
) -> None:
    first = AlertManager([f"webhook+{receiver.url}"], config=mon_config)
    second = AlertManager([f"webhook+{receiver.url}"], config=mon_config)
    for i in range(20):
        first.fire(f"rule{i}", f"alert {i}", labels={"model": f"m{i}"})
    outcomes: list[dict[str, int]] = []
    threads = [
        threading.Thread(target=lambda m=m: outcomes.append(m.deliver())) for m in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o["delivered"] for o in outcomes) == 20
    sent = sorted(a["rule"] for _, body in receiver.requests for a in body["alerts"])
    assert sent == sorted(f"rule{i}" for i in range(20))  # each exactly once
