"""Streaming windows: the same verdicts as a batch, bounded memory, nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.models.registry import ModelRegistry
from mlops.monitoring import DriftDetector
from mlops.monitoring.store import monitoring_store
from mlops.monitoring.units import InvalidMonitoringInputError

MakeFrame = Callable[..., pd.DataFrame]


def test_count_windows_give_the_batch_verdicts(
    mon_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    ref = make_frame(3000, 1)
    stream = pd.concat(
        [make_frame(1500, 2), make_frame(1500, 3, shift=0.5), make_frame(1500, 4)],
        ignore_index=True,
    )
    detector = DriftDetector(ref, detection_window=1500, config=mon_config, name="count")
    acks = [detector.log_predictions(stream.iloc[i : i + 100]) for i in range(0, 4500, 100)]
    assert sum(ack.wait(30) for ack in acks) == 4500
    detector.flush()
    results = detector.results()
    assert [r.n_rows for r in results] == [1500, 1500, 1500]
    batch = DriftDetector(ref, persist=False)
    for k, result in enumerate(results):
        expected = batch.check(stream.iloc[1500 * k : 1500 * (k + 1)])
        assert {c: v.drifted for c, v in result.columns.items()} == {
            c: v.drifted for c, v in expected.columns.items()
        }
        for name, column in result.columns.items():
            assert column.score == pytest.approx(expected.columns[name].score, abs=1e-12)
    assert [r.dataset_drift for r in results] == [False, True, False]
    detector.stop()


def test_time_windows_store_results_linked_to_the_model_version(
    mon_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    from sklearn.dummy import DummyClassifier

    ref = make_frame(2000, 1)
    version = ModelRegistry(config=mon_config).register_model(
        "fraud", DummyClassifier().fit([[0], [1]], [0, 1])
    )
    detector = DriftDetector(ref, detection_window="1h", model_version=version, config=mon_config)
    t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
    detector.log_predictions(make_frame(500, 2), timestamp=t0 + 10).wait(30)
    detector.log_predictions(make_frame(500, 3), timestamp=t0 + 3000).wait(30)
    detector.log_predictions(make_frame(300, 4, shift=1.0), timestamp=t0 + 3600 + 5).wait(30)
    stored = monitoring_store(mon_config).list_results(model="fraud", version=1, kind="drift")
    assert len(stored) == 1  # the second hour is still open
    assert stored[0].window_start == t0
    assert stored[0].window_end == t0 + 3600
    assert stored[0].n_rows == 1000
    assert stored[0].monitor == "fraud-v1-drift"
    last = detector.close_window()
    assert last is not None
    assert last.dataset_drift
    assert len(detector.results()) == 2
    detector.stop()


def test_awaiting_log_predictions_in_a_coroutine(make_frame: MakeFrame) -> None:
    detector = DriftDetector(make_frame(1000, 1), detection_window=100, persist=False)

    async def serve() -> int:
        total = 0
        for i in range(5):
            total += await detector.log_predictions(make_frame(50, i + 2))
        return total

    assert asyncio.run(serve()) == 250
    detector.flush()
    assert len(detector.results()) == 2


def test_a_bad_call_fails_its_own_ack_and_the_next_flush(make_frame: MakeFrame) -> None:
    detector = DriftDetector(make_frame(1000, 1), detection_window=100, persist=False)
    bad = detector.log_predictions(pd.DataFrame({"age": [1.0]}))
    good = detector.log_predictions(make_frame(10, 2))
    with pytest.raises(InvalidMonitoringInputError, match="lack columns"):
        bad.wait(10)
    assert good.wait(10) == 10
    with pytest.raises(InvalidMonitoringInputError, match="lack columns"):
        detector.flush()
    detector.flush()  # reported once


def test_memory_stays_bounded_over_ten_million_rows() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=50_000) for i in range(4)})
    ref["c"] = rng.choice(list("abcdefgh"), 50_000)
    detector = DriftDetector(ref, detection_window=20_000_000, persist=False)
    batch = pd.DataFrame({f"x{i}": rng.normal(size=200_000) for i in range(4)})
    batch["c"] = rng.choice(list("abcdefgh"), 200_000)
    detector.log_predictions(batch).wait(60)
    tracemalloc.start()
    sizes = []
    for _ in range(49):
        detector.log_predictions(batch).wait(60)
        window = detector.stream.open_window
        assert window is not None
        sizes.append(window.nbytes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    window = detector.stream.open_window
    assert window is not None
    assert window.rows == 10_000_000
    assert max(sizes) == min(sizes) < 200_000  # histograms and counts, not rows
    assert peak < 60 * 1024**2  # a few batches in flight, never the stream
    result = detector.close_window()
    assert result is not None
    assert not result.dataset_drift
    assert result.columns["x0"].current_count == 10_000_000


CHILD = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd
    from mlops.config import MLOpsConfig
    from mlops.monitoring import DriftDetector
    config = MLOpsConfig(home=sys.argv[1] + "/.mlops", tracking_uri=sys.argv[2],
                         artifact_uri=sys.argv[1] + "/art")
    detector = DriftDetector.load(sys.argv[3], detection_window="1d", name="restart",
                                  config=config)
    rng = np.random.default_rng(7)
    ts = 1_700_006_400.0
    for i in range(40):
        frame = pd.DataFrame({"a": rng.normal(size=250), "b": rng.choice(["x", "y"], 250)})
        detector.log_predictions(frame, timestamp=ts).wait(30)
        print(i, flush=True)
    detector.log_predictions(frame, timestamp=ts)  # not awaited: may or may not survive
    import time; time.sleep(60)
    """
)


def test_a_killed_process_loses_no_acknowledged_row(
    mon_config: MLOpsConfig, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.choice(["x", "y"], 5000)})
    path = DriftDetector(ref, persist=False).fit().save(tmp_path / "d.npz")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), mon_config.resolved_tracking_uri, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    acked = 0
    for line in child.stdout:
        acked = int(line) + 1
        if acked == 40:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    child.stdout.close()
    detector = DriftDetector.load(path, detection_window="1d", name="restart", config=mon_config)
    window = detector.stream.open_window
    assert window is not None
    assert window.rows in (10_000, 10_250)  # every acknowledged row, counted once
    rows = window.rows
    detector.close_window()  # (the writer may already have closed it: its day is long past)
    assert [r.n_rows for r in detector.results()] == [rows]
    assert monitoring_store(mon_config).list_chunks("restart") == []


def test_reservoir_is_uniform_and_independent_of_batching() -> None:
    from mlops.monitoring.windows import Reservoir

    rows = np.arange(50_000, dtype=float).reshape(-1, 1)
    one, many = Reservoir(1, capacity=1000), Reservoir(1, capacity=1000)
    one.add(rows)
    for start in range(0, 50_000, 777):
        many.add(rows[start : start + 777])
    assert np.array_equal(one.sample, many.sample)
    assert one.seen == 50_000
    # Uniform: every stretch of the stream is represented about equally.
    counts = np.histogram(one.sample[:, 0], bins=5, range=(0, 50_000))[0]
    assert counts.min() > 150


def test_streaming_windows_run_the_domain_classifier() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    ref = pd.DataFrame({"a": x, "b": x + rng.normal(scale=0.3, size=4000)})
    detector = DriftDetector(ref, detection_window=3000, multivariate=True, persist=False)
    y = rng.normal(size=3000)
    flipped = pd.DataFrame({"a": y, "b": -y + rng.normal(scale=0.3, size=3000)})
    for start in range(0, 3000, 500):
        detector.log_predictions(flipped.iloc[start : start + 500])
    detector.flush()
    (result,) = detector.results()
    assert result.multivariate is not None
    assert result.multivariate.drifted
    assert not result.dataset_drift  # the marginals did not move


class _RefusesAfterTheFirstChunk:
    """The store as a server behind a body limit answers a batch split into several requests:
    the first request's chunk is stored, the next is refused for good (413)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.refused = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def create_chunks(self, monitor: str, chunks: list[tuple[int, float, int, bytes]]) -> None:
        from mlops.errors import PayloadTooLargeError

        if not self.refused and len(chunks) > 1:
            self.refused = True
            self.inner.create_chunks(monitor, chunks[:1])  # type: ignore[attr-defined]
            raise PayloadTooLargeError("request body too large")
        self.inner.create_chunks(monitor, chunks)  # type: ignore[attr-defined]


def test_rows_acknowledged_after_a_partly_stored_refusal_are_kept(
    sqlite_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    """A refusal after part of a batch was stored must not hand its seqs out again: the store
    keeps a seq it already has, so the next acknowledged rows would be dropped unseen."""
    from mlops.errors import PayloadTooLargeError
    from mlops.monitoring.streaming import _from_ipc

    detector = DriftDetector(make_frame(1000, 1), detection_window=10_000_000, config=sqlite_config)
    detector.stream.store = _RefusesAfterTheFirstChunk(detector.stream.store)  # type: ignore[assignment]
    big = detector.log_predictions(make_frame(400_000, 2))  # two chunks of ~166k rows and more
    with pytest.raises(PayloadTooLargeError):
        big.wait(60)
    assert detector.log_predictions(make_frame(500, 3)).wait(30) == 500
    stored = monitoring_store(sqlite_config).list_chunks(detector.stream.name)
    assert [len(_from_ipc(payload)) for _, _, payload in stored][-1] == 500
    with pytest.raises(PayloadTooLargeError):
        detector.flush()  # the refusal is reported once more
    detector.stop()


class _SlowResults:
    """A store whose result writes take longer than the writer's idle wake-up (1 s)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.result_writes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def create_result(self, result: object, delete_chunks_through: int) -> None:
        import time

        self.result_writes += 1
        time.sleep(1.5)
        self.inner.create_result(result, delete_chunks_through=delete_chunks_through)  # type: ignore[attr-defined]


def test_closing_a_window_by_hand_stores_its_result_once(
    sqlite_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    """close_window() saves on the caller's thread while the writer wakes to retry kept results:
    the two must not both save one result (CI once saw the writer then fail on an empty list)."""
    detector = DriftDetector(make_frame(1000, 1), detection_window="1h", config=sqlite_config)
    slow = _SlowResults(detector.stream.store)
    detector.stream.store = slow  # type: ignore[assignment]
    assert detector.log_predictions(make_frame(300, 2)).wait(30) == 300
    result = detector.close_window()
    assert result is not None
    assert result.n_rows == 300
    detector.flush()  # raises if the writer failed meanwhile
    detector.stop()
    assert slow.result_writes == 1
    stored = monitoring_store(sqlite_config).list_results(monitor=detector.stream.name)
    assert len(stored) == 1
