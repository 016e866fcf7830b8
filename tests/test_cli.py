"""The CLI end to end: quickstart twice, then every command group on the store it made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.experiments import ExperimentTracker
from mlops.models import ModelRegistry, Stage
from mlops.quickstart import EXPERIMENT, MODEL_NAME
from mlops.store.sql import engine as engines

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def quickstarted(tmp_path: Path) -> str:
    """A store on which the quickstart ran twice (it must work the second time too)."""
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    first = invoke("quickstart", "--tracking-uri", uri)
    assert "in production" in first
    second = invoke("quickstart", "--tracking-uri", uri)
    assert f"{MODEL_NAME} v2 is in" in second
    return uri


def test_quickstart_tracks_registers_and_promotes(quickstarted: str) -> None:
    tracker = ExperimentTracker(uri=quickstarted)
    runs = tracker.search_runs(EXPERIMENT, max_results=10)
    assert len(runs) == 6
    for run in runs:
        assert {"precision", "recall", "f1", "roc_auc"} <= set(run.metrics)
        assert len(tracker.get_metric_history(run.id, "fold_f1")) == 5
        assert [i.dataset.name for i in run.inputs] == ["breast_cancer_anomalies"]
    registry = ModelRegistry(uri=quickstarted)
    production = registry.get_model(MODEL_NAME, stage="production")
    assert production.version == 2
    assert registry.get_model(MODEL_NAME, version=1).stage is Stage.ARCHIVED
    assert production.run_id in {r.id for r in runs}


def test_read_commands(quickstarted: str) -> None:
    uri = ("--tracking-uri", quickstarted)
    assert EXPERIMENT in invoke("experiments", "list", *uri)
    listed = json.loads(
        invoke("runs", "list", "-e", EXPERIMENT, "-f", "metrics.f1 > 0", "--json", *uri)
    )
    assert len(listed) == 6
    run_id = listed[0]["id"]
    assert "Params" in invoke("runs", "show", run_id[:8], *uri)
    assert "metrics.f1" in invoke("runs", "compare", listed[0]["id"], listed[1]["id"], *uri)
    assert MODEL_NAME in invoke("models", "list", *uri)
    shown = json.loads(invoke("models", "show", MODEL_NAME, "--json", *uri))
    assert [v["version"] for v in shown["versions"]] == [2, 1]


def test_model_commands(quickstarted: str) -> None:
    uri = ("--tracking-uri", quickstarted)
    assert "v1 is now production" in invoke("models", "rollback", MODEL_NAME, *uri)
    assert "aliases: champion" in invoke("models", "alias", MODEL_NAME, "champion", "2", *uri)
    assert "v2 is now staging" in invoke("models", "promote", MODEL_NAME, "2", "staging", *uri)
    assert "Approval requests" in invoke("models", "requests", *uri)


def test_errors_are_one_line_messages_not_tracebacks(quickstarted: str, tmp_path: Path) -> None:
    cases = [
        (["runs", "list", "-f", "metrics.f1 >"], "expected a value"),
        (["runs", "show", "0000000000"], "no run id starts with"),
        (["models", "show", "ghost"], "no registered model named 'ghost'"),
        (["models", "promote", MODEL_NAME, "99", "production"], "has no version 99"),
        (["models", "promote", MODEL_NAME, "1", "production"], "cannot move to production"),
        (["models", "approve", "42"], "no approval request with id 42"),
    ]
    for args, message in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "mlops", *args, "--tracking-uri", quickstarted],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        )
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert message in " ".join(proc.stderr.split()), (args, proc.stderr)
        assert proc.stdout == ""  # errors go to stderr: `--json | jq` never sees them
        assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["runs"],
        ["runs", "shw"],
        ["runs", "show"],
        ["runs", "list", "--bogus"],
        ["runs", "list", "-n", "abc"],
    ],
)
def test_usage_mistakes_get_usage_help_not_tracebacks(args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlops", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Usage" in proc.stdout + proc.stderr


def test_error_text_is_not_rich_markup(quickstarted: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops",
            "runs",
            "list",
            "-e",
            "brackets[x]",
            "--tracking-uri",
            quickstarted,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert "no experiment named 'brackets[x]'" in proc.stderr


def test_gc_and_copy_commands(quickstarted: str, tmp_path: Path) -> None:
    tracker = ExperimentTracker(uri=quickstarted)
    victim = tracker.search_runs(EXPERIMENT, max_results=1)[0]
    invoke("runs", "delete", victim.id, "--tracking-uri", quickstarted)
    assert "Removed 1 runs" in invoke("gc", "--tracking-uri", quickstarted)
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    out = invoke("db", "copy", quickstarted, target)
    assert "model_versions" in out
    assert len(ExperimentTracker(uri=target).search_runs(EXPERIMENT)) == 5


def test_db_current(tmp_path: Path) -> None:
    assert f"needed: {engines.head_revision()}" in invoke(
        "db", "current", "--tracking-uri", f"sqlite:///{tmp_path / 'x.db'}"
    )


def test_sparkline_shape() -> None:
    from mlops.cli.render import sparkline

    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == "▁▂▃▄▅▆▇█"
    assert len(sparkline(list(range(1000)), width=20)) == 20
    assert sparkline([1.0]) == ""
    assert sparkline([float("nan"), 2.0, 2.0]) == "▄▄"


def test_copy_from_a_missing_store_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "tpyo.db"
    result = runner.invoke(
        app, ["db", "copy", f"sqlite:///{missing}", f"sqlite:///{tmp_path / 'dst.db'}"]
    )
    assert result.exit_code == 1
    assert not missing.exists()
    assert not (tmp_path / "dst.db").exists()
