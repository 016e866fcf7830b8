"""Tracking server benchmark: ``mlops server`` against ``mlflow server``, both on SQLite.

Both servers run as real subprocesses on free loopback ports, each on a fresh temporary SQLite
database and artifact folder, one worker each; they are stopped by PID afterwards. Each side
runs in a new Python process (``isolated``), which starts its server, measures and stops it.

* ``server-ingest``: metric points over HTTP in batches of 1,000. mlops: direct batch POSTs of
  1,000 points through ``RestTrackingStore.log_metric_rows`` (the target's figure), and, for
  information, the real client path (``ExperimentTracker(uri="http://...")``,
  ``run.log_metrics`` per step, ``run.flush()``). MLflow: ``MlflowClient(tracking_uri=
  "http://...").log_batch`` with 1,000 ``Metric`` objects a call.
* ``server-search``: the runs table over 10,000 runs (5 params, 5 metrics), populated through
  the store directly before the server starts (not timed). Timed: the wall time of each search
  request on loopback (``POST /api/v1/runs/search`` with httpx; MLflow's
  ``POST /api/2.0/mlflow/runs/search``), for pages (first, middle, last), sorts and filters.

    python benchmarks/server.py [--quick] [--no-fail] [--only server-ingest] [--json out.json]
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
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
    rate,
    run_cli,
    settle,
    sqlite_uri,
)

NAME = "server"

# Targets, from the issue. Never lower them to make a run pass.
INGEST_RATE = 200_000  # metric points per second over HTTP, batches of 1,000
INGEST_VS_MLFLOW = 20
PAGE_SECONDS = 0.300  # any page, sort or filter of the runs table

BASE_TS = 1_700_000_000_000
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Sizes:
    ingest_points: int = 1_000_000
    client_steps: int = 100_000  # x 10 metrics, the client path
    mlflow_ingest_points: int = 100_000
    batch: int = 1_000
    trials: int = 3
    search_runs: int = 10_000
    repeats: int = 5
    mlflow_repeats: int = 3


FULL = Sizes()
QUICK = Sizes(
    ingest_points=20_000,
    client_steps=2_000,
    mlflow_ingest_points=5_000,
    trials=1,
    search_runs=500,
    repeats=3,
    mlflow_repeats=2,
)


def measure(options: Options) -> list[Result]:
    sizes = QUICK if options.quick else FULL
    steps = [("server-ingest", measure_ingest), ("server-search", measure_search)]
    return [fn(sizes) for key, fn in steps if options.wants(key)]


# --- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlops_command(folder: Path, port: int) -> list[str]:
    return [
        str(BIN / "mlops"),
        "server",
        "--tracking-uri",
        sqlite_uri(folder / "mlops.db"),
        "--artifact-uri",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def mlflow_command(folder: Path, port: int) -> list[str]:
    return [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        sqlite_uri(folder / "mlflow.db"),
        "--default-artifact-root",
        str(folder / "mlflow-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@contextmanager
def running(
    command: list[str], health: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (a server), wait until ``health`` answers 200, stop it by PID after."""
    import httpx

    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with {proc.returncode}:\n{log.read_text()}"
                )
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready after 120 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (its own session: uvicorn/gunicorn workers), by PID."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def mlops_server(folder: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(mlops_command(folder, port), f"{url}/readyz", folder / "mlops-server.log"):
        yield url


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    (folder / "mlflow-artifacts").mkdir(exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(mlflow_command(folder, port), f"{url}/health", folder / "mlflow-server.log"):
        yield url


# --- metric ingestion --------------------------------------------------------------------------


def _keys(count: int) -> list[str]:
    return [f"m{i}" for i in range(count)]


def measure_ingest(sizes: Sizes) -> Result:
    batch_trials, client_trials, mlflow_trials = [], [], []
    for _ in range(sizes.trials):
        batch_trials.append(isolated(_ingest_mlops_batches, "srv-mlops", sizes))
        mlflow_trials.append(isolated(_ingest_mlflow, "srv-mlflow", sizes, peer=True))
        client_trials.append(isolated(_ingest_mlops_client, "srv-mlops-client", sizes))
    batch_s = statistics.median(batch_trials)
    client_s = statistics.median(client_trials)
    mlflow_s = statistics.median(mlflow_trials)
    batch_rate = sizes.ingest_points / batch_s
    client_points = sizes.client_steps * 10
    client_rate = client_points / client_s
    mlflow_rate = sizes.mlflow_ingest_points / mlflow_s
    ratio = batch_rate / mlflow_rate

    def trials(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values) + " s"

    return Result(
        key="server-ingest",
        title=f"Metric ingestion over HTTP, batches of {sizes.batch:,}",
        target=f">= {INGEST_RATE:,} metrics/s and >= {INGEST_VS_MLFLOW}x MLflow's server",
        mlops=rate(batch_rate, "metrics/s")
        + f"\n(log_metric_rows, {sizes.ingest_points:,} points; trials {trials(batch_trials)})"
        + f"\nclient path: {rate(client_rate, 'metrics/s')}"
        + f"\n(log_metrics per step + flush, {client_points:,} points;"
        + f" trials {trials(client_trials)})",
        mlflow=rate(mlflow_rate, "metrics/s")
        + f"\n(log_batch of {sizes.batch:,}, {sizes.mlflow_ingest_points:,} points;"
        + f" trials {trials(mlflow_trials)})",
        ratio=ratio,
        checks=[
            Check(
                "rate",
                batch_rate >= INGEST_RATE,
                f"{batch_rate:,.0f}/s, target >= {INGEST_RATE:,}/s",
            ),
            Check(
                "vs MLflow",
                ratio >= INGEST_VS_MLFLOW,
                f"{ratio:,.1f}x, target >= {INGEST_VS_MLFLOW}x",
            ),
        ],
        notes=[
            "Both servers: one worker, SQLite, loopback. Timed from the first request to the "
            "last response; stored points are counted afterwards. The client path (the "
            "tracker's own writer batching, informational) is "
            f"{client_rate / mlflow_rate:,.1f}x MLflow."
        ],
        raw={
            "mlops_batch_seconds": batch_trials,
            "mlops_client_seconds": client_trials,
            "mlflow_seconds": mlflow_trials,
            "mlops_points": sizes.ingest_points,
            "mlops_client_points": client_points,
            "mlflow_points": sizes.mlflow_ingest_points,
        },
    )


def _ingest_mlops_batches(folder: Path, sizes: Sizes) -> float:
    from mlops.experiments.tracking import ExperimentTracker

    with mlops_server(folder) as url:
        tracker = ExperimentTracker(uri=url)
        try:
            store = tracker.stores.tracking
            experiment = tracker.create_experiment("ingest")
            run = store.create_run(experiment.id, "ingest", user="bench")
            keys = _keys(10)
            rows = [
                (run.id, keys[i % 10], float(i) * 1e-3, i // 10, BASE_TS + i // 10)
                for i in range(sizes.ingest_points)
            ]
            batches = [rows[i : i + sizes.batch] for i in range(0, len(rows), sizes.batch)]
            store.log_metric_rows(batches[0][:10])  # warm the connection (re-sent: a no-op)
            settle()
            start = clock()
            for batch in batches:
                store.log_metric_rows(batch)
            elapsed = clock() - start
            stored = len(store.get_metric_history(run.id, keys[-1]))
        finally:
            tracker.close()
    if stored != sizes.ingest_points // 10:
        raise RuntimeError(f"mlops stored {stored} points of m9, expected {sizes.ingest_points}")
    return elapsed


def _ingest_mlops_client(folder: Path, sizes: Sizes) -> float:
    from mlops.experiments.tracking import ExperimentTracker

    with mlops_server(folder) as url:
        tracker = ExperimentTracker(uri=url)
        keys = _keys(10)
        calls = [
            {key: float(step * 10 + j) * 1e-3 for j, key in enumerate(keys)}
            for step in range(sizes.client_steps)
        ]
        try:
            run = tracker.start_run("ingest", run_name="ingest")
            settle()
            start = clock()
            for step, values in enumerate(calls):
                run.log_metrics(values, step=step)
            run.flush()
            elapsed = clock() - start
            run.end()
            stored = len(tracker.get_metric_history(run.id, keys[-1]))
        finally:
            tracker.close()
    if stored != sizes.client_steps:
        raise RuntimeError(f"mlops stored {stored} points of m9, expected {sizes.client_steps}")
    return elapsed


def _ingest_mlflow(folder: Path, sizes: Sizes) -> float:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    with mlflow_server(folder) as url:
        client = MlflowClient(tracking_uri=url)
        experiment = client.create_experiment("ingest")
        run_id = client.create_run(experiment).info.run_id
        keys = _keys(10)
        metrics = [
            Metric(keys[i % 10], float(i) * 1e-3, BASE_TS + i // 10, i // 10)
            for i in range(sizes.mlflow_ingest_points)
        ]
        client.log_batch(run_id, metrics=[Metric("warm", 0.0, BASE_TS, 0)])
        settle()
        start = clock()
        for i in range(0, len(metrics), sizes.batch):
            client.log_batch(run_id, metrics=metrics[i : i + sizes.batch])
        elapsed = clock() - start
        stored = len(client.get_metric_history(run_id, keys[-1]))
    if stored != sizes.mlflow_ingest_points // 10:
        raise RuntimeError(f"MLflow stored {stored} points, expected {sizes.mlflow_ingest_points}")
    return elapsed


# --- the runs table ----------------------------------------------------------------------------

LIMIT = 100
# (label, filter, order_by): the same query on both sides.
QUERIES: list[tuple[str, str | None, list[str] | None]] = [
    ("sort metrics.m1 DESC", None, ["metrics.m1 DESC"]),
    ("sort params.p0 ASC", None, ["params.p0 ASC"]),
    ("sort start_time DESC", None, ["attributes.start_time DESC"]),
    ("filter metrics.m0 > 0.5", "metrics.m0 > 0.5", None),
    ("filter params.p1 = 'value-7'", "params.p1 = 'value-7'", None),
    ("filter m0 > 0.5, sort m1 DESC", "metrics.m0 > 0.5", ["metrics.m1 DESC"]),
]


def _search_data(runs: int) -> list[tuple[dict[str, str], dict[str, float]]]:
    rng = random.Random(20240601)
    return [
        (
            {f"p{j}": f"value-{rng.randrange(100)}" for j in range(5)},
            {f"m{j}": rng.random() for j in range(5)},
        )
        for _ in range(runs)
    ]


def measure_search(sizes: Sizes) -> Result:
    data = _search_data(sizes.search_runs)
    mlops = isolated(_search_mlops, "srv-mlops-search", data, sizes.repeats)
    mlflow = isolated(_search_mlflow, "srv-mlflow-search", data, sizes.mlflow_repeats, peer=True)
    # Per case: the median of the repeats. The target applies to the slowest case.
    mlops_cases = {label: statistics.median(times) for label, times in mlops.items()}
    mlflow_cases = {label: statistics.median(times) for label, times in mlflow.items()}
    worst_label = max(mlops_cases, key=mlops_cases.__getitem__)
    worst = mlops_cases[worst_label]
    worst_single = max(t for times in mlops.values() for t in times)
    common = [label for label in mlops_cases if label in mlflow_cases]
    mlops_median = statistics.median(mlops_cases[label] for label in common)
    mlflow_median = statistics.median(mlflow_cases[label] for label in common)
    ratio = mlflow_median / mlops_median
    table = "; ".join(
        f"{label}: {mlops_cases[label] * 1000:.1f} vs {mlflow_cases[label] * 1000:.0f} ms"
        for label in common
    )
    pages = mlops.get("page walk (every page)", [])
    return Result(
        key="server-search",
        title=f"Runs table over HTTP, {sizes.search_runs:,} runs (5 params, 5 metrics), "
        f"{LIMIT} a page: pages, sorts, filters",
        target=f"<= {PAGE_SECONDS * 1000:g} ms server time for any page, sort or filter",
        mlops=f"max {millis(worst)} ({worst_label})\nmedian {millis(mlops_median)}"
        f"\nslowest single request {millis(worst_single)}"
        + (f"\nall {len(pages)} pages walked: max {millis(max(pages))}" if pages else ""),
        mlflow=f"max {millis(max(mlflow_cases.values()))}\nmedian {millis(mlflow_median)}",
        ratio=ratio,
        checks=[
            Check(
                "slowest case",
                worst <= PAGE_SECONDS,
                f"{millis(worst)} ({worst_label}), target <= {PAGE_SECONDS * 1000:g} ms",
            )
        ],
        notes=[
            "Wall time of each search request on loopback (request sent to response read, "
            "JSON body not parsed into objects), median of the repeats per case after one "
            f"warm-up; ratio = MLflow's median case / mlops' median case. Per case: {table}."
        ],
        raw={"mlops_seconds": mlops, "mlflow_seconds": mlflow},
    )


def _timed(call: Any, repeats: int) -> list[float]:
    call()  # warm-up
    settle()
    times = []
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    return times


def _search_mlops(
    folder: Path, data: list[tuple[dict[str, str], dict[str, float]]], repeats: int
) -> dict[str, list[float]]:
    import httpx

    from mlops.config import MLOpsConfig
    from mlops.experiments.tracking import ExperimentTracker

    config = MLOpsConfig(
        home=folder,
        tracking_uri=sqlite_uri(folder / "mlops.db"),
        artifact_uri=str(folder / "artifacts"),
    )
    tracker = ExperimentTracker(config=config)
    try:
        store = tracker.stores.tracking
        experiment_id = tracker.create_experiment("search").id
        rows: list[tuple[str, str, float, int, int]] = []
        for i, (params, metrics) in enumerate(data):
            run = store.create_run(experiment_id, f"run-{i}", user="bench")
            store.log_params(run.id, params)
            rows.extend((run.id, key, value, 0, BASE_TS) for key, value in metrics.items())
            if len(rows) >= 50_000:
                store.log_metric_rows(rows)
                rows = []
        store.log_metric_rows(rows)
    finally:
        tracker.close()

    results: dict[str, list[float]] = {}
    with mlops_server(folder) as url, httpx.Client(base_url=url, timeout=60) as http:

        def search(flt: str | None, order: list[str] | None, token: str | None = None) -> Any:
            body = {
                "experiment_ids": [experiment_id],
                "filter": flt,
                "order_by": order,
                "max_results": LIMIT,
                "page_token": token,
            }
            response = http.post("/api/v1/runs/search", json=body)
            response.raise_for_status()
            return response

        # Walk every page (default order) once untimed to collect the tokens, then time pages.
        tokens: list[str | None] = [None]
        while True:
            token = search(None, None, tokens[-1]).json()["next_page_token"]
            if not token:
                break
            tokens.append(token)
        if len(tokens) != -(-len(data) // LIMIT):
            raise RuntimeError(f"mlops paged {len(tokens)} pages for {len(data)} runs")
        settle()
        walk = []
        for token in tokens:
            start = clock()
            search(None, None, token)
            walk.append(clock() - start)
        results["page walk (every page)"] = walk
        middle, last = tokens[len(tokens) // 2], tokens[-1]
        results["page first"] = _timed(lambda: search(None, None), repeats)
        results["page middle"] = _timed(lambda: search(None, None, middle), repeats)
        results["page last"] = _timed(lambda: search(None, None, last), repeats)
        for label, flt, order in QUERIES:
            results[label] = _timed(lambda f=flt, o=order: search(f, o), repeats)
        # Correctness: the filtered sort returns the expected m1 values.
        expected = sorted((m["m1"] for _, m in data if m["m0"] > 0.5), reverse=True)[:LIMIT]
        got = [r["metrics"]["m1"] for r in search(*QUERIES[-1][1:]).json()["items"]]
        if got != expected:
            raise RuntimeError("mlops search returned other runs than expected")
    return results


def _search_mlflow(
    folder: Path, data: list[tuple[dict[str, str], dict[str, float]]], repeats: int
) -> dict[str, list[float]]:
    import httpx
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    (folder / "mlflow-artifacts").mkdir()
    client = MlflowClient(tracking_uri=sqlite_uri(folder / "mlflow.db"))
    experiment_id = client.create_experiment(
        "search", artifact_location=(folder / "mlflow-artifacts").as_uri()
    )
    for i, (params, metrics) in enumerate(data):
        run_id = client.create_run(experiment_id, run_name=f"run-{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, BASE_TS, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
    del client

    def token(offset: int) -> str:
        # MLflow's page token is base64 of {"offset": N}: jump to a page without walking.
        return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()

    results: dict[str, list[float]] = {}
    with mlflow_server(folder) as url, httpx.Client(base_url=url, timeout=300) as http:

        def search(flt: str | None, order: list[str] | None, page: str | None = None) -> Any:
            body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": LIMIT}
            if flt:
                body["filter"] = flt
            if order:
                body["order_by"] = order
            if page:
                body["page_token"] = page
            response = http.post("/api/2.0/mlflow/runs/search", json=body)
            response.raise_for_status()
            return response

        pages = -(-len(data) // LIMIT)
        middle, last = token(pages // 2 * LIMIT), token((pages - 1) * LIMIT)
        if len(search(None, None, last).json()["runs"]) != len(data) - (pages - 1) * LIMIT:
            raise RuntimeError("MLflow's last page has the wrong size")
        results["page first"] = _timed(lambda: search(None, None), repeats)
        results["page middle"] = _timed(lambda: search(None, None, middle), repeats)
        results["page last"] = _timed(lambda: search(None, None, last), repeats)
        for label, flt, order in QUERIES:
            results[label] = _timed(lambda f=flt, o=order: search(f, o), repeats)
        expected = sorted((m["m1"] for _, m in data if m["m0"] > 0.5), reverse=True)[:LIMIT]
        runs = search(*QUERIES[-1][1:]).json()["runs"]
        got = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "m1") for r in runs]
        if got != expected:
            raise RuntimeError("MLflow search returned other runs than expected")
    return results


def main(argv: Sequence[str] | None = None) -> list[Result]:
    return run_cli([measure], argv, __doc__)[0]


if __name__ == "__main__":
    sys.exit(exit_code(*run_cli([measure], None, __doc__)))
