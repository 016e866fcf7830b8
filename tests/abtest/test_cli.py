"""``mlops abtest``: create with registered models, log a CSV, status, analyze, promote, stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from mlops.cli import app, render
from mlops.config import MLOpsConfig
from mlops.models import ModelRegistry

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: the CLI's console reads COLUMNS once, when it is made, so
    under xdist an earlier test's import could fix it at 80 and cut the test names short."""
    monkeypatch.setattr(render.console, "width", 200)


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A store holding model ``m`` versions 1 and 2, both in staging."""
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    registry = ModelRegistry(config=MLOpsConfig(tracking_uri=uri,
                                                artifact_uri=str(tmp_path / "art")))  # fmt: skip
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    for c in (0.5, 2.0):
        registry.register_model("m", LogisticRegression(C=c).fit(x, [0, 0, 1, 1]), stage="staging")
    return uri


def _csv(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["unit_id,variant,conversion,spend"]
    for i in range(6000):
        variant = "a" if i % 2 else "b"
        converted = int(rng.random() < (0.10 if variant == "a" else 0.15))
        lines.append(f"u{i},{variant},{converted},{rng.lognormal(3, 1):.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_abtest_commands_end_to_end(uri: str, tmp_path: Path) -> None:
    out = invoke("abtest", "create", "clicks", "--variant", "a=models:/m/1:0.5",
                 "--variant", "b=models:/m/2:0.5",
                 "--metric", "conversion", "--metric", "spend:rank", "--sequential", "none",
                 "--duration-days", "7", "--tracking-uri", uri)  # fmt: skip
    assert "is running" in out
    assert "m/2" in out
    out = invoke("abtest", "log", "clicks", "--file", str(_csv(tmp_path / "o.csv", 0)),
                 "--tracking-uri", uri)  # fmt: skip
    assert "Logged 12000 values for 6000 units" in out
    out = invoke("abtest", "status", "clicks", "--tracking-uri", uri)
    assert "3000" in out
    assert "m/1" in out
    assert "clicks" in invoke("abtest", "status", "--tracking-uri", uri)

    out = invoke("abtest", "analyze", "clicks", "--tracking-uri", uri)
    for text in ("z-test", "mann-whitney", "Sample ratio", "Verdict: winner", "b beats a"):
        assert text in out, out
    data = json.loads(invoke("abtest", "analyze", "clicks", "--format", "json",
                             "--tracking-uri", uri))  # fmt: skip
    assert data["verdict"]["winner"] == "b"
    assert data["srm"]["mismatch"] is False

    out = invoke("abtest", "promote", "clicks", "--tracking-uri", uri)
    assert "Promoted m/2 to production" in out
    registry = ModelRegistry(config=MLOpsConfig(tracking_uri=uri))
    assert registry.get_model("m", stage="production").version == 2
    assert "A/B test 'clicks'" in (registry.history("m", 2)[-1].comment or "")
    sizes = invoke("abtest", "sample-size", "clicks", "--baseline", "0.1", "--mde", "0.02",
                   "--tracking-uri", uri)  # fmt: skip
    assert "a: 3," in sizes
    assert "stopped" in invoke("abtest", "stop", "clicks", "--tracking-uri", uri)


def test_bad_input_is_one_clear_line(uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops", "abtest", "create", "t", "--variant", "a=0.6",
         "--variant", "b=0.6", "--metric", "conversion", "--tracking-uri", uri],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "sum to 1.2" in result.stderr
    assert "Traceback" not in result.stderr
    bad = runner.invoke(app, ["abtest", "create", "t", "--variant", "a:0.5", "--metric", "x",
                              "--tracking-uri", uri])  # fmt: skip
    assert "NAME=SHARE" in str(bad.exception)
    missing = runner.invoke(app, ["abtest", "analyze", "nope", "--tracking-uri", uri])
    assert "no A/B test named 'nope'" in str(missing.exception)
