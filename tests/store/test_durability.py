"""Crashes and concurrency: kill -9 mid-logging, and 8 processes writing one SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops.config import MLOpsConfig
from mlops.experiments import ExperimentTracker, RunStatus

KILLED_CHILD = textwrap.dedent(
    """
    import sys, time
    from mlops.config import MLOpsConfig
    from mlops.experiments import ExperimentTracker

    tracker = ExperimentTracker(config=MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2]))
    run = tracker.start_experiment("crash")
    step = 0
    while True:
        run.log_metrics({"loss": float(step), "acc": 1.0 / (step + 1)}, step=step)
        step += 1
        if step % 5000 == 0:
            run.flush()
            print(f"{run.id} {step}", flush=True)
        if step % 500 == 0:
            time.sleep(0.001)
    """
)


def test_sigkill_mid_logging_loses_at_most_the_unflushed_buffer(
    config: MLOpsConfig, tmp_path: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(tmp_path / "home"), config.resolved_tracking_uri],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    flushed, run_id = 0, ""
    deadline = time.monotonic() + 60
    while flushed < 20_000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        run_id, count = line.split()
        flushed = int(count)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert flushed >= 20_000, "the child never got far enough"
    tracker = ExperimentTracker(config=config)  # opening the store detects the dead process
    run = tracker.get_run(run_id)
    assert run.status is RunStatus.KILLED
    history = tracker.get_metric_history(run_id, "loss")
    assert len(history) >= flushed  # everything flushed before the kill is there
    assert list(history.steps[:flushed]) == list(range(flushed))
    # The store is intact and writable.
    with tracker.start_experiment("after") as after:
        after.log_metric("ok", 1.0)
    assert tracker.get_run(after.id).status is RunStatus.FINISHED


WRITER_CHILD = textwrap.dedent(
    """
    import sys
    from mlops.config import MLOpsConfig
    from mlops.experiments import ExperimentTracker

    tracker = ExperimentTracker(config=MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2]))
    worker = int(sys.argv[3])
    for r in range(3):
        with tracker.start_experiment("shared", run_name=f"w{worker}-r{r}") as run:
            run.log_params({"worker": worker, "round": r})
            for step in range(2000):
                run.log_metrics({"a": step, "b": worker}, step=step)
                if step % 500 == 0:
                    run.set_tags({"progress": str(step)})
    """
)


def test_eight_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_CHILD, str(tmp_path / "home"), uri, str(i)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("locked" in e for e in errors), errors
    tracker = ExperimentTracker(config=MLOpsConfig(home=tmp_path / "home", tracking_uri=uri))
    runs = tracker.search_runs("shared", max_results=100)
    assert len(runs) == 24
    assert all(r.status is RunStatus.FINISHED for r in runs)
    for run in runs:
        assert len(tracker.get_metric_history(run.id, "a")) == 2000
        assert run.metrics == {"a": 1999.0, "b": float(run.params["worker"])}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_stale_run_of_another_host_is_killed_by_heartbeat(config: MLOpsConfig) -> None:
    import sqlalchemy as sa

    from mlops.store.sql import tables as t

    tracker = ExperimentTracker(config=config)
    run = tracker.start_experiment("remote")
    with tracker.stores.db.write() as conn:
        conn.execute(
            t.runs.update().where(t.runs.c.id == run.id).values(host="elsewhere", heartbeat_at=1)
        )
    assert tracker.stores.tracking.mark_dead_runs(stale_after_ms=60_000) == [run.id]
    assert tracker.get_run(run.id).status is RunStatus.KILLED
    assert sa is not None


NORMAL_EXIT_CHILD = textwrap.dedent(
    """
    import sys
    from mlops.config import MLOpsConfig
    from mlops.experiments import ExperimentTracker

    tracker = ExperimentTracker(config=MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2]))
    run = tracker.start_experiment("exit")  # never ended, never flushed
    for step in range(10_000):
        run.log_metrics({"loss": float(step)}, step=step)
    print(run.id)
    """
)


def test_normal_exit_loses_nothing(config: MLOpsConfig, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            NORMAL_EXIT_CHILD,
            str(tmp_path / "home"),
            config.resolved_tracking_uri,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    tracker = ExperimentTracker(config=config)
    run = tracker.get_run(proc.stdout.strip())
    assert run.status is RunStatus.FINISHED
    assert len(tracker.get_metric_history(run.id, "loss")) == 10_000


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_same_host_name_in_another_pid_namespace_is_judged_by_heartbeat(
    config: MLOpsConfig,
) -> None:
    """A container sharing the host name must not have its live runs marked KILLED by pid."""
    from mlops.store import process
    from mlops.store.sql import tables as t

    tracker = ExperimentTracker(config=config)
    run = tracker.start_experiment("ns")
    other = process.hostname().rsplit("|", 1)[0] + "|pid:[1]"  # same name and boot, other namespace
    with tracker.stores.db.write() as conn:
        conn.execute(t.runs.update().where(t.runs.c.id == run.id).values(host=other, pid=999_999))
    assert tracker.stores.tracking.mark_dead_runs(stale_after_ms=60_000) == []  # fresh heartbeat
    assert tracker.get_run(run.id).status is RunStatus.RUNNING
    run.end()
    assert tracker.get_run(run.id).error is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_recycled_pid_does_not_keep_a_dead_run_alive(config: MLOpsConfig) -> None:
    """The run's process died and this process (started later) got its pid."""
    from mlops.store.sql import tables as t

    tracker = ExperimentTracker(config=config)
    run = tracker.start_experiment("recycled")
    with tracker.stores.db.write() as conn:  # pretend the run started before this process did
        conn.execute(
            t.runs.update().where(t.runs.c.id == run.id).values(pid=os.getpid(), start_time=1000)
        )
    assert tracker.stores.tracking.mark_dead_runs(stale_after_ms=60_000) == [run.id]


CRASHING_CHILD = textwrap.dedent(
    """
    import sys
    from mlops.config import MLOpsConfig
    from mlops.experiments import ExperimentTracker

    tracker = ExperimentTracker(config=MLOpsConfig(home=sys.argv[1], tracking_uri=sys.argv[2]))
    run = tracker.start_experiment("crash")  # no `with`: only the exit hook can end it
    run.log_metrics({"loss": 1.0}, step=0)
    print(run.id, flush=True)
    raise ValueError("diverged")
    """
)


def test_an_uncaught_exception_ends_open_runs_failed(config: MLOpsConfig, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_CHILD,
            str(tmp_path / "home"),
            config.resolved_tracking_uri,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "ValueError: diverged" in proc.stderr  # the usual traceback is still printed
    tracker = ExperimentTracker(config=config)
    run = tracker.get_run(proc.stdout.strip())
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "diverged" in run.error
    assert run.metrics == {"loss": 1.0}
