"""Monitoring benchmark: mlops drift checks against Evidently's data-drift preset, same data.

Measurements (each mlops side in a new Python process, ``isolated``; the Evidently side in a new
process of the interpreter that has Evidently, see below):

* ``drift200k``: a full drift check of 200,000 x 20 mixed columns (14 numeric, 6 categorical;
  reference and current both 200,000 rows, 7 columns shifted). mlops: ``DriftDetector(ref)``
  then ``check(cur)`` (summarizing the reference is inside the clock); Evidently 0.7:
  ``Report([DataDriftPreset()]).run(cur, ref)`` with its default tests. Median of 3 (mlops) and
  2 (Evidently). Per-column verdicts are compared wherever both used the same test.
* ``drift1m``: 1,000,000 x 20 numeric columns, fit + check, median of 3.
* ``window``: with the reference (200,000 rows) summarized, check one 10,000-row window of 20
  columns; median of 20.
* ``hotpath``: ``log_predictions`` on a persisted detector (SQLite): call time per row in
  batches of 100, and per single-row call (the enqueue; durability follows in the writer).
* ``memory``: a 20-column detector (reference 200,000 rows) fed 2,000,000 rows: bytes of its
  summary and open window, and the traced peak while streaming.

Evidently is found in the interpreter named by ``MLOPS_BENCH_EVIDENTLY_PYTHON``, else in this
one. (Evidently 0.7 needs pandas < 3; a side virtualenv whose ``.pth`` adds this environment's
site-packages, plus ``pip install evidently "pandas<3"``, keeps the shared environment as is.)

    python benchmarks/monitoring.py [--quick] [--no-fail] [--only drift200k,window] [--json f]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    Check,
    Options,
    Result,
    clock,
    exit_code,
    isolated,
    millis,
    peer_python,
    run_cli,
    settle,
    sqlite_uri,
)

NAME = "monitoring"

# Targets, from the issue. Never lower them to make a run pass.
VS_EVIDENTLY = 10
ONE_MILLION_SECONDS = 2.0
WINDOW_SECONDS = 0.020
BATCH_ROW_SECONDS = 20e-6
SINGLE_CALL_SECONDS = 100e-6
MEMORY_BYTES = 50 * 1024**2

METHODS = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "PSI": "psi",
}


@dataclass(frozen=True)
class Sizes:
    rows: int
    big_rows: int
    window_rows: int
    stream_rows: int
    hot_calls: int


FULL = Sizes(
    rows=200_000, big_rows=1_000_000, window_rows=10_000, stream_rows=2_000_000, hot_calls=3000
)
QUICK = Sizes(rows=20_000, big_rows=100_000, window_rows=2_000, stream_rows=200_000, hot_calls=500)


def make_data(rows: int, seed: int, shifted: bool) -> Any:
    """20 mixed columns; with ``shifted``, 7 of them moved by different amounts."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    s = 1.0 if shifted else 0.0
    data: dict[str, Any] = {}
    for i in range(10):
        data[f"num_{i}"] = rng.normal([0.0, 0.05, 0.2, 0.5][i] * s if i < 4 else 0.0, 1.0, rows)
    data["amount"] = rng.lognormal(3 + 0.3 * s, 1.0, rows)
    data["age"] = rng.integers(18, 90, rows).astype(float)
    data["visits"] = rng.poisson(3 + s, rows).astype(float)
    data["rating"] = rng.integers(1, 6, rows).astype(float)  # five values: tested by counts
    cities = [f"city_{k}" for k in range(20)]
    p = np.linspace(1, 2, 20)
    data["city"] = rng.choice(cities, rows, p=p / p.sum())
    data["plan"] = rng.choice(
        ["free", "pro", "team"], rows, p=[0.6, 0.3, 0.1] if not s else [0.5, 0.3, 0.2]
    )
    data["device"] = rng.choice(["ios", "android", "web"], rows)
    data["country"] = rng.choice(["de", "fr", "us", "uk", "jp", "br"], rows)
    data["member"] = rng.choice(["yes", "no"], rows)
    data["channel"] = rng.choice(["ads", "seo", "mail", "direct"], rows)
    return pd.DataFrame(data)


CATEGORICAL = ["city", "plan", "device", "country", "member", "channel"]


def measure(options: Options) -> list[Result]:
    sizes = QUICK if options.quick else FULL
    steps = [
        ("drift200k", measure_drift),
        ("drift1m", measure_big),
        ("window", measure_window),
        ("hotpath", measure_hotpath),
        ("memory", measure_memory),
    ]
    return [fn(sizes) for key, fn in steps if options.wants(key)]


# --- drift200k ---------------------------------------------------------------------------------


def _mlops_drift(folder: Path, rows: int, repeats: int) -> tuple[list[float], dict[str, Any]]:
    from mlops.monitoring import DriftDetector

    ref, cur = make_data(rows, 1, False), make_data(rows, 2, True)
    times = []
    result = None
    for _ in range(repeats):
        settle()
        start = clock()
        result = DriftDetector(ref, persist=False).check(cur)
        times.append(clock() - start)
    assert result is not None
    verdicts = {
        name: {"test": c.stattest, "score": c.score, "drifted": c.drifted}
        for name, c in result.columns.items()
    }
    return times, verdicts


EVIDENTLY_CHILD = r"""
import json, sys, time, warnings, gc
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from benchmarks.monitoring import make_data, CATEGORICAL
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset
rows, repeats = int(sys.argv[2]), int(sys.argv[3])
ref, cur = make_data(rows, 1, False), make_data(rows, 2, True)
numeric = [c for c in ref.columns if c not in CATEGORICAL]
times = []
for _ in range(repeats):
    gc.collect()
    start = time.perf_counter()
    dd = DataDefinition(numerical_columns=numeric, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=dd), Dataset.from_pandas(ref, data_definition=dd)
    )
    data = snapshot.dict()
    times.append(time.perf_counter() - start)
verdicts = {}
for m in data["metrics"]:
    cfg = m["config"]
    if cfg.get("type", "").endswith("ValueDrift"):
        method, threshold, value = cfg["method"], cfg["threshold"], m["value"]
        drifted = bool(value <= threshold if "p_value" in method else value >= threshold)
        verdicts[cfg["column"]] = {"method": method, "score": float(value), "drifted": drifted}
import evidently
print(json.dumps({"times": times, "verdicts": verdicts, "version": evidently.__version__}))
"""


def _evidently_python() -> str | None:
    return peer_python("MLOPS_BENCH_EVIDENTLY_PYTHON", "evidently")


def _evidently_drift(rows: int, repeats: int) -> dict[str, Any] | None:
    python = _evidently_python()
    if python is None:
        return None
    repo = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run(
        [python, "-c", EVIDENTLY_CHILD, repo, str(rows), str(repeats)],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the Evidently side failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_drift(sizes: Sizes) -> Result:
    times, ours = isolated(_mlops_drift, "mlops-drift", sizes.rows, 3)
    peer = _evidently_drift(sizes.rows, 2)
    mlops_s = median(times)
    title = f"Full drift check, {sizes.rows:,} x 20 mixed (ref and cur)"
    if peer is None:
        return Result(
            peer="Evidently",
            key="drift200k",
            title=title,
            target=f">= {VS_EVIDENTLY}x Evidently's DataDriftPreset",
            mlops=millis(mlops_s),
            mlflow="Evidently not installed",
            ratio=0.0,
            checks=[Check("peer", False, "install the bench extra (evidently) to compare")],
        )
    peer_s = median(peer["times"])
    same, agree, differ = 0, 0, []
    for column, theirs in peer["verdicts"].items():
        if METHODS.get(theirs["method"]) == ours[column]["test"]:
            same += 1
            if theirs["drifted"] == ours[column]["drifted"]:
                agree += 1
            else:
                differ.append(column)
    ratio = peer_s / mlops_s
    return Result(
        peer="Evidently",
        key="drift200k",
        title=title,
        target=f">= {VS_EVIDENTLY}x Evidently's DataDriftPreset; same verdicts on the same tests",
        mlops=f"{millis(mlops_s)}\n(trials {', '.join(millis(t) for t in times)})",
        mlflow=f"Evidently {peer['version']}: {millis(peer_s)}\n"
        f"(trials {', '.join(millis(t) for t in peer['times'])})",
        ratio=ratio,
        checks=[
            Check("speed", ratio >= VS_EVIDENTLY, f"{ratio:.1f}x, target >= {VS_EVIDENTLY}x"),
            Check(
                "verdicts",
                agree == same and same > 0,
                f"{agree}/{same} columns agree where the same test ran; differ: {differ}",
            ),
        ],
        notes=[
            f"same test on {same}/20 columns, verdicts agree on {agree}",
            "drifted by mlops: "
            + ", ".join(sorted(c for c, v in ours.items() if v["drifted"]))
            + "; by Evidently: "
            + ", ".join(sorted(c for c, v in peer["verdicts"].items() if v["drifted"])),
        ],
        raw={"mlops": {"times": times, "verdicts": ours}, "evidently": peer},
    )


# --- drift1m, window ---------------------------------------------------------------------------


def _mlops_big(folder: Path, rows: int, repeats: int) -> list[float]:
    import numpy as np
    import pandas as pd

    from mlops.monitoring import DriftDetector

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(20)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.02 * i, 1, size=rows) for i in range(20)})
    times = []
    for _ in range(repeats):
        settle()
        start = clock()
        DriftDetector(ref, persist=False).check(cur)
        times.append(clock() - start)
    return times


def measure_big(sizes: Sizes) -> Result:
    times = isolated(_mlops_big, "mlops-big", sizes.big_rows, 3)
    seconds = median(times)
    return Result(
        peer="Evidently",
        key="drift1m",
        title=f"Drift check, {sizes.big_rows:,} x 20 numeric (fit + check)",
        target=f"<= {ONE_MILLION_SECONDS:.0f} s",
        mlops=f"{millis(seconds)}\n(trials {', '.join(millis(t) for t in times)})",
        mlflow="-",
        ratio=ONE_MILLION_SECONDS / seconds,
        checks=[Check("time", seconds <= ONE_MILLION_SECONDS, f"{seconds:.2f} s")],
        notes=["ratio column: target / measured (not a peer comparison)"],
    )


def _mlops_window(folder: Path, rows: int, window: int, repeats: int) -> list[float]:
    from mlops.monitoring import DriftDetector

    detector = DriftDetector(make_data(rows, 1, False), persist=False).fit()
    cur = make_data(window, 2, True)
    detector.check(cur)  # warm-up
    times = []
    for _ in range(repeats):
        start = clock()
        detector.check(cur)
        times.append(clock() - start)
    return times


def measure_window(sizes: Sizes) -> Result:
    times = isolated(_mlops_window, "mlops-window", sizes.rows, sizes.window_rows, 20)
    seconds = median(times)
    return Result(
        peer="Evidently",
        key="window",
        title=f"Check a {sizes.window_rows:,}-row window of 20 columns (reference summarized)",
        target=f"<= {WINDOW_SECONDS * 1000:.0f} ms",
        mlops=f"{millis(seconds)} (median of 20; min {millis(min(times))})",
        mlflow="-",
        ratio=WINDOW_SECONDS / seconds,
        checks=[Check("time", seconds <= WINDOW_SECONDS, millis(seconds))],
    )


# --- hot path, memory --------------------------------------------------------------------------


def _mlops_hotpath(folder: Path, calls: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from mlops.config import MLOpsConfig
    from mlops.monitoring import DriftDetector

    config = MLOpsConfig(
        home=folder, tracking_uri=sqlite_uri(folder / "mlops.db"), artifact_uri=str(folder / "a")
    )
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=50_000) for i in range(20)})
    detector = DriftDetector(ref, name="hot", config=config, detection_window="1h")
    batch = pd.DataFrame({f"x{i}": rng.normal(size=100) for i in range(20)})
    row = batch.iloc[:1].copy()
    preds = np.zeros(100)
    detector.log_predictions(batch, preds).wait(60)  # opens the store, starts the writer
    settle()
    start = clock()
    for _ in range(calls):
        detector.log_predictions(batch, preds)
    batch_calls = clock() - start
    detector.flush()
    durable_batch = clock() - start
    start = clock()
    for _ in range(calls):
        detector.log_predictions(row, preds[:1])
    single_calls = clock() - start
    detector.flush()
    detector.stop()
    return {
        "per_row_batch": batch_calls / (calls * 100),
        "per_single_call": single_calls / calls,
        "durable_rows_per_s": calls * 100 / durable_batch,
    }


def measure_hotpath(sizes: Sizes) -> Result:
    r = isolated(_mlops_hotpath, "mlops-hot", sizes.hot_calls)
    batch_us, single_us = r["per_row_batch"] * 1e6, r["per_single_call"] * 1e6
    return Result(
        peer="Evidently",
        key="hotpath",
        title="log_predictions on the prediction path (20 columns, persisted detector)",
        target="<= 20 us/row in batches of 100; <= 100 us per single-row call",
        mlops=f"{batch_us:.2f} us/row (batches of 100)\n{single_us:.1f} us/single-row call\n"
        f"{r['durable_rows_per_s']:,.0f} rows/s until durable",
        mlflow="-",
        ratio=min(
            BATCH_ROW_SECONDS / r["per_row_batch"], SINGLE_CALL_SECONDS / r["per_single_call"]
        ),
        checks=[
            Check("batch", r["per_row_batch"] <= BATCH_ROW_SECONDS, f"{batch_us:.2f} us/row"),
            Check("single", r["per_single_call"] <= SINGLE_CALL_SECONDS, f"{single_us:.1f} us"),
        ],
        notes=["the call enqueues; the writer thread persists, windows and acknowledges"],
    )


def _mlops_memory(folder: Path, rows: int, stream_rows: int) -> dict[str, int]:
    import numpy as np
    import pandas as pd

    from mlops.monitoring import DriftDetector

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(20)})
    detector = DriftDetector(ref, persist=False, detection_window=10 * stream_rows).fit()
    del ref
    summary = 0
    for s in detector.reference_:
        summary += s.sample.nbytes + s.prefix.nbytes
        summary += 0 if s.upper is None else s.upper.nbytes
    batch = pd.DataFrame({f"x{i}": rng.normal(size=20_000) for i in range(20)})
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(stream_rows // 20_000):
        detector.log_predictions(batch).wait(60)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    window = detector.stream.open_window
    assert window is not None
    return {
        "summary": summary,
        "window": window.nbytes,
        "peak_streaming": peak,
        "rows": window.rows,
    }


def measure_memory(sizes: Sizes) -> Result:
    r = isolated(_mlops_memory, "mlops-mem", sizes.rows, sizes.stream_rows)
    total = r["summary"] + r["window"]
    mb = 1024**2
    return Result(
        peer="Evidently",
        key="memory",
        title=f"Detector memory, 20 columns, fed {r['rows']:,} rows",
        target="<= 50 MB whatever the stream length",
        mlops=f"{total / mb:.1f} MB (summary {r['summary'] / mb:.1f} + window "
        f"{r['window'] / mb:.1f});\nstreaming peak {r['peak_streaming'] / mb:.1f} MB",
        mlflow="-",
        ratio=MEMORY_BYTES / total,
        checks=[Check("memory", total <= MEMORY_BYTES, f"{total / mb:.1f} MB")],
    )


def main(argv: list[str] | None = None) -> list[Result]:
    return run_cli([measure], argv, __doc__)[0]


if __name__ == "__main__":
    sys.exit(exit_code(*run_cli([measure], None, __doc__)))
