"""Stored alert rules: a restarted process evaluates rules it never added; CLI and REST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.errors import NotFoundError
from mlops.monitoring.alerts import AlertManager, AlertRule, create_alert
from mlops.monitoring.units import InvalidMonitoringInputError

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = textwrap.dedent(
    """
    import sys
    from mlops.config import MLOpsConfig
    from mlops.monitoring import AlertManager

    config = MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2], user="child")
    manager = AlertManager(["log"], config=config)  # adds no rule of its own
    touched = manager.evaluate({"drift_share": 0.5}, {"model": "fraud", "version": "1"})
    print(",".join(f"{a.rule}:{a.status}" for a in touched))
    """
)


def test_a_new_process_evaluates_a_rule_it_never_added(
    mon_config: MLOpsConfig, tmp_path: Path
) -> None:
    first = AlertManager(["log"], config=mon_config)
    create_alert("too_much_drift", "drift_share", ">", 0.3, severity="critical", manager=first)
    create_alert("ignored", "precision", "<", 0.8, manager=first)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(tmp_path / "child-home"),
            mon_config.resolved_tracking_uri,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "too_much_drift:firing"
    alerts = first.list_alerts()
    assert [(a.rule, a.severity, a.model_name) for a in alerts] == [
        ("too_much_drift", "critical", "fraud")
    ]


def test_create_alert_upserts_by_name_and_delete_removes(mon_config: MLOpsConfig) -> None:
    manager = AlertManager(["log"], config=mon_config)
    create_alert("latency", "latency_p99", ">", "100ms", manager=manager)
    changed = create_alert(
        "latency", "latency_p99", ">", "250ms", for_duration="5m", manager=manager
    )
    other = AlertManager(["log"], config=mon_config)
    assert other.list_rules() == [changed]
    assert changed.threshold == pytest.approx(0.25)
    assert changed.for_duration == 300.0
    assert other.evaluate({"latency_p99": 0.2}) == []  # under the new threshold
    manager.delete_rule("latency")
    assert AlertManager(["log"], config=mon_config).list_rules() == []
    with pytest.raises(NotFoundError, match="no stored alert rule named 'latency'"):
        manager.delete_rule("latency")


def test_process_rules_are_not_stored_and_override_stored_ones(mon_config: MLOpsConfig) -> None:
    manager = AlertManager(["log"], config=mon_config)
    manager.save_rule(AlertRule.create("r", "drift_share", ">", 0.5))
    manager.add_rule(AlertRule.create("r", "drift_share", ">", 0.1))
    manager.add_rule(AlertRule.create("local", "precision", "<", 0.9))
    assert [r.threshold for r in manager.list_rules() if r.name == "r"] == [0.1]
    assert [r.name for r in AlertManager(["log"], config=mon_config).list_rules()] == ["r"]
    with pytest.raises(InvalidMonitoringInputError, match="finite"):
        manager.save_rule(AlertRule.create("inf", "x", ">", float("inf")))


def test_cli_rules_add_list_delete(mon_config: MLOpsConfig) -> None:
    uri = ["--tracking-uri", mon_config.resolved_tracking_uri]
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "alerts",
            "rules",
            "add",
            "slow",
            "--metric",
            "latency_p95",
            "--threshold",
            "100ms",
            "--for",
            "10m",
            "--severity",
            "critical",
            "--label",
            "team=ml",
            *uri,
        ],
    )
    assert added.exit_code == 0, added.output
    assert "Stored rule slow" in added.output
    listed = runner.invoke(app, ["alerts", "rules", "list", "--json", *uri])
    assert listed.exit_code == 0, listed.output
    [rule] = json.loads(listed.output)
    assert rule["threshold"] == pytest.approx(0.1)
    assert rule["for_duration"] == 600.0
    assert rule["labels"] == {"team": "ml"}
    table = runner.invoke(app, ["alerts", "rules", "list", *uri])
    assert "latency_p95 > 0.1" in table.output
    bad = runner.invoke(
        app,
        [
            "alerts",
            "rules",
            "add",
            "x",
            "--metric",
            "m",
            "--threshold",
            "1",
            "--severity",
            "meh",
            *uri,
        ],
    )
    assert bad.exit_code == 1
    assert "severity 'meh'" in str(bad.exception)
    assert runner.invoke(app, ["alerts", "rules", "delete", "slow", *uri]).exit_code == 0
    missing = runner.invoke(app, ["alerts", "rules", "delete", "slow", *uri])
    assert missing.exit_code == 1
    assert "no stored alert rule" in str(missing.exception)


def test_rules_over_rest(rest_server: str) -> None:
    base = f"{rest_server}/api/v1/monitoring/rules"
    put = httpx.put(
        f"{base}/errors",
        json={"metric": "error_rate", "threshold": "2%", "labels": {"model": "fraud"}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["threshold"] == pytest.approx(0.02)
    listed = httpx.get(base, params={"model": "fraud"}).json()["items"]
    assert [r["name"] for r in listed] == ["errors"]
    bad = httpx.put(f"{base}/x", json={"metric": "m", "threshold": "fast"})
    assert bad.status_code == 400
    assert "threshold" in bad.json()["error"]["message"]
    assert httpx.delete(f"{base}/errors").status_code == 204
    assert httpx.delete(f"{base}/errors").status_code == 404
