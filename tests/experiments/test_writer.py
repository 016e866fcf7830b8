"""The background metric writer under failure: passing outages, rejected runs, bad input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import BackendUnavailableError, ExperimentError, InvalidParamError
from mlops.experiments import ExperimentTracker, RunStatus
from mlops.experiments.store import MetricRow
from mlops.experiments.writer import MetricWriter
from mlops.store.lifecycle import collect_garbage


class FlakyStore:
    """The outside world failing: the store is unreachable for the first ``outages`` batches."""

    def __init__(self, real: object, outages: int = 0, down: bool = False):
        self.real = real
        self.outages = outages
        self.down = down  # down until the test says otherwise

    def log_metric_rows(self, rows: Sequence[MetricRow]) -> None:
        if self.down or self.outages > 0:
            self.outages = max(self.outages - 1, 0)
            raise BackendUnavailableError("connection refused (simulated outage)")
        self.real.log_metric_rows(rows)  # type: ignore[attr-defined]

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self.real.heartbeat(run_ids)  # type: ignore[attr-defined]


@pytest.fixture
def sqlite_config(tmp_path) -> MLOpsConfig:  # type: ignore[no-untyped-def]
    return MLOpsConfig(home=tmp_path / "h", tracking_uri=f"sqlite:///{tmp_path / 'w.db'}")


def test_a_rejected_run_does_not_stop_the_others(sqlite_config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=sqlite_config)
    doomed = tracker.start_experiment("doomed")
    tracker.delete_experiment("doomed")
    collect_garbage(tracker.stores)  # the run is gone for good while its process still logs
    doomed.log_metrics({"loss": 0.5})
    with tracker.start_experiment("healthy") as healthy:
        healthy.log_metrics({"loss": 0.1}, step=0)
        with pytest.raises(ExperimentError, match=f"run\\(s\\) {doomed.id}"):
            healthy.flush()
        healthy.log_metrics({"loss": 0.05}, step=1)
    assert list(tracker.get_metric_history(healthy.id, "loss").values) == [0.1, 0.05]
    assert tracker.get_run(healthy.id).status is RunStatus.FINISHED


def test_passing_outage_is_retried_and_nothing_is_lost(sqlite_config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=sqlite_config)
    with tracker.start_experiment("flaky") as run:
        pass
    writer = MetricWriter(FlakyStore(tracker.stores.tracking, outages=3), flush_interval=0.05)  # type: ignore[arg-type]
    for step in range(100):
        writer.log(run.id, step, step, {"x": float(step)})
    writer.flush()  # waits through the outage: no error, nothing dropped
    writer.log(run.id, 100, 100, {"x": 100.0})
    writer.close()
    assert list(tracker.get_metric_history(run.id, "x").steps) == list(range(101))


def test_a_long_outage_makes_flush_raise_but_keeps_the_points(sqlite_config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=sqlite_config)
    with tracker.start_experiment("down") as run:
        pass
    flaky = FlakyStore(tracker.stores.tracking, down=True)
    writer = MetricWriter(flaky, flush_interval=0.05, give_up_after=0.3)  # type: ignore[arg-type]
    writer.log(run.id, 0, 0, {"x": 1.0})
    with pytest.raises(BackendUnavailableError, match="kept in memory"):
        writer.flush()
    flaky.down = False  # the store comes back
    writer.flush()
    writer.close()
    assert len(tracker.get_metric_history(run.id, "x")) == 1


def test_the_blocks_own_exception_is_never_masked(sqlite_config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=sqlite_config)
    doomed = tracker.start_experiment("gone")
    tracker.delete_experiment("gone")
    collect_garbage(tracker.stores)
    doomed.log_metrics({"x": 1.0})
    with pytest.raises(ValueError, match="user bug"), tracker.start_experiment("other") as run:
        raise ValueError("user bug")  # the pending rejection of 'doomed' must not replace this
    assert tracker.get_run(run.id).status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": {"x": 10**400}}, "must be numbers"),
        ({"metrics": {"x": 1.0}, "step": 2**63}, "64-bit"),
        ({"metrics": {"x": 1.0}, "step": 1.5}, "step must be an integer"),
        ({"metrics": {"x": 1.0}, "step": True}, "step must be an integer"),
        ({"metrics": {"x": 1.0}, "timestamp": "now"}, "timestamp must be an integer"),
    ],
)
def test_bad_steps_values_and_timestamps(
    sqlite_config: MLOpsConfig, kwargs: dict, message: str
) -> None:  # type: ignore[type-arg]
    tracker = ExperimentTracker(config=sqlite_config)
    with tracker.start_experiment("bad") as run, pytest.raises(InvalidParamError, match=message):
        run.log_metrics(**kwargs)


def test_numpy_steps_are_integers(sqlite_config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=sqlite_config)
    with tracker.start_experiment("np") as run:
        run.log_metrics({"x": 1.0}, step=np.int64(3))
    assert list(tracker.get_metric_history(run.id, "x").steps) == [3]
