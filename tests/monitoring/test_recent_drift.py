"""``recent_drift`` reads what a ``ModelMonitor`` in another process stored: its open window's
chunks and its closed windows' results, judged by the detector attached to the version."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlops.config import MLOpsConfig
from mlops.errors import NotFoundError
from mlops.models.registry import ModelRegistry
from mlops.monitoring import DriftDetector, InvalidMonitoringInputError, recent_drift

from .conftest import frame

# Rows logged by another process: 300 shifted rows fill (and close) one count window, then the
# base rows stay in the open one. The reference is the base rows ten times over, so the base
# rows have exactly its distribution (no chance false alarm).
CHILD = textwrap.dedent(
    """
    import sys
    from mlops.config import MLOpsConfig
    from mlops.monitoring import ModelMonitor
    sys.path.insert(0, sys.argv[3])
    from conftest import frame

    config = MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2], artifact_uri=sys.argv[1])
    monitor = ModelMonitor("m/1", detection_window=300, config=config, deployment="dep-1")
    monitor.start_monitoring()
    monitor.log_predictions(frame(300, 7, shift=3.0), [0] * 300).wait(60)
    monitor.log_predictions(frame(100, 0), [0] * 100).wait(60)
    monitor.stop()
    """
)


@pytest.fixture
def config(backend: str, tmp_path: Path) -> MLOpsConfig:
    """SQLite, PostgreSQL, or an mlops server the child and the reader both go through."""
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=backend,
        artifact_uri=str(tmp_path / "art"),
        user="ann",
    )


def _register(config: MLOpsConfig, versions: int = 1) -> None:
    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    registry = ModelRegistry(config=config)
    for _ in range(versions):
        registry.register_model("m", model)


def test_recent_drift_reads_another_process_s_rows(config: MLOpsConfig, tmp_path: Path) -> None:
    _register(config, versions=2)
    base = frame(100, 0)
    DriftDetector(pd.concat([base] * 10, ignore_index=True), config=config).attach(
        "m/1", config=config
    )
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    args = [str(tmp_path / "child"), config.resolved_tracking_uri, str(Path(__file__).parent)]
    subprocess.run([sys.executable, str(script), *args], env=env, check=True, timeout=120)
    after = time.time()

    # The window that closed drifted (every numeric column shifted); it outweighs the calm open
    # window, whose 100 rows were read from the stored chunks.
    result = recent_drift("m", 1, config=config, deployment="dep-1", min_rows=50)
    assert result is not None
    assert result.n_rows == 300
    assert result.dataset_drift
    assert {"age", "income"} <= set(result.drifted_columns)

    # Since the child ended: only the open window is left, judged afresh from its rows.
    calm = recent_drift("m", 1, since=after, config=config, deployment="dep-1", min_rows=50)
    assert calm is not None
    assert calm.n_rows == 100
    assert not calm.dataset_drift
    assert calm.drift_share == 0.0

    # Too few rows, another deployment's monitor, a version with no detector: nothing to judge.
    assert (
        recent_drift("m", 1, since=after, config=config, deployment="dep-1", min_rows=101) is None
    )
    assert recent_drift("m", 1, config=config, deployment="dep-2") is None
    # Several replicas' monitors are judged together (here one of them has rows).
    both = recent_drift("m", 1, since=after, config=config, deployment=["dep-2", "dep-1"])
    assert both is not None
    assert both.n_rows == 100
    assert recent_drift("m", 1, config=config) is None
    assert recent_drift("m", 2, config=config, deployment="dep-1") is None


def test_recent_drift_errors_name_the_problem(config: MLOpsConfig) -> None:
    _register(config)
    with pytest.raises(InvalidMonitoringInputError, match="min_rows"):
        recent_drift("m", 1, config=config, min_rows=0)
    with pytest.raises(NotFoundError):
        recent_drift("m", 9, config=config)
