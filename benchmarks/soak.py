"""Soak test of ``mlops server``: many concurrent clients logging metrics, nothing lost.

Starts an ``mlops server`` subprocess on a free loopback port (SQLite in a fresh temporary
folder, or a fresh PostgreSQL schema), then runs ``--clients`` clients (threads, spread over
``--processes`` processes) for ``--seconds``. Each client is an ``ExperimentTracker(uri=...)``
with its own run: it logs ``--keys`` metrics per step with ``run.log_metrics`` and calls
``run.flush()`` every ``--flush-every`` steps; a step counts as acknowledged once a flush after
it returned. Afterwards every run's every key is read back with ``get_metric_history`` and
must hold each acknowledged step exactly once (no loss, no duplicate).

Failures are counted twice: exceptions seen by the clients, and non-2xx responses counted by
the server itself (its Prometheus ``/metrics``; the client retries transient errors silently,
so those would not show otherwise). Exits 1 on any failure, loss or duplicate.

    python benchmarks/soak.py [--backend sqlite|postgres] [--seconds 60] [--clients 64]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

Not part of ``run.py`` (no ``measure``): it takes a minute per backend.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import sqlite_uri
from benchmarks.server import BIN, free_port, running

DEFAULT_POSTGRES = os.environ.get(
    "MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class ClientResult:
    run_id: str | None
    acknowledged: int  # steps 0..acknowledged-1 were flushed successfully
    logged: int
    flushes: int
    errors: list[str]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients log")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--keys", type=int, default=5, help="metrics per step")
    parser.add_argument("--flush-every", type=int, default=50, help="steps between flushes")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


# --- the backend -------------------------------------------------------------------------------


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A new schema in ``base_url``'s database; the URI selects it; dropped afterwards."""
    import sqlalchemy as sa

    schema = f"soak_{uuid.uuid4().hex[:12]}"
    driver_url = "postgresql+psycopg://" + base_url.split("://", 1)[1]
    engine = sa.create_engine(driver_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options={quote(f'-csearch_path={schema}', safe='-')}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
        print(f"dropped schema {schema}")


@contextmanager
def server(args: argparse.Namespace, folder: Path) -> Iterator[str]:
    with (
        postgres_schema(args.postgres_url)
        if args.backend == "postgres"
        else _nothing(sqlite_uri(folder / "mlops.db"))
    ) as tracking_uri:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            str(BIN / "mlops"),
            "server",
            "--tracking-uri",
            tracking_uri,
            "--artifact-uri",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        print(f"server: {' '.join(command)}")
        with running(command, f"{url}/readyz", folder / "server.log"):
            yield url


@contextmanager
def _nothing(value: str) -> Iterator[str]:
    yield value


# --- the clients -------------------------------------------------------------------------------


def client(url: str, index: int, deadline: float, keys: int, flush_every: int) -> ClientResult:
    from mlops.experiments.tracking import ExperimentTracker

    result = ClientResult(None, 0, 0, 0, [])
    names = [f"k{j}" for j in range(keys)]
    tracker = ExperimentTracker(uri=url)
    try:
        run = tracker.start_run("soak", run_name=f"client-{index}")
        result.run_id = run.id
        step = 0
        while time.time() < deadline:
            run.log_metrics({name: index + step * 1e-3 + j for j, name in enumerate(names)}, step)
            step += 1
            result.logged = step
            if step % flush_every == 0:
                run.flush()
                result.flushes += 1
                result.acknowledged = step
        run.flush()
        result.flushes += 1
        result.acknowledged = step
        run.end()
    except Exception:
        result.errors.append(traceback.format_exc(limit=3))
    finally:
        try:
            tracker.close()
        except Exception:
            result.errors.append(traceback.format_exc(limit=3))
    return result


def client_process(
    url: str, indices: list[int], start_at: float, seconds: float, keys: int, flush_every: int
) -> list[ClientResult]:
    """Several clients as threads of one process, all starting at ``start_at``."""
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.time() + seconds
    results: list[ClientResult | None] = [None] * len(indices)

    def work(slot: int, index: int) -> None:
        results[slot] = client(url, index, deadline, keys, flush_every)

    threads = [
        threading.Thread(target=work, args=(slot, index)) for slot, index in enumerate(indices)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r or ClientResult(None, 0, 0, 0, ["thread died"]) for r in results]


# --- checking ----------------------------------------------------------------------------------


def server_statuses(url: str) -> dict[str, int]:
    """Requests the server counted, by "STATUS METHOD ROUTE" (its own Prometheus counter)."""
    import httpx

    counts: dict[str, int] = {}
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("mlops_http_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            name = f"{labels.get('status')} {labels.get('method')} {labels.get('route')}"
            counts[name] = counts.get(name, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def create_experiment(url: str) -> None:
    """The clients' experiment, made once up front: 64 clients racing to create it would
    answer 404/409 on the way (handled by the client, but not clean traffic to count)."""
    from mlops.experiments.tracking import ExperimentTracker

    tracker = ExperimentTracker(uri=url)
    try:
        tracker.create_experiment("soak")
    finally:
        tracker.close()


def verify(url: str, results: list[ClientResult], keys: int) -> tuple[int, int, int, list[str]]:
    """(stored points, lost points, duplicated points, problems) over every run and key."""
    from mlops.experiments.tracking import ExperimentTracker

    stored = lost = duplicated = 0
    problems: list[str] = []
    tracker = ExperimentTracker(uri=url)
    try:
        for r in results:
            if r.run_id is None:
                continue
            for j in range(keys):
                history = tracker.get_metric_history(r.run_id, f"k{j}")
                steps = history.steps.tolist()
                stored += len(steps)
                unique = set(steps)
                duplicated += len(steps) - len(unique)
                missing = r.acknowledged - len(unique & set(range(r.acknowledged)))
                lost += missing
                extra = len(unique - set(range(r.logged)))
                if missing or len(steps) != len(unique) or extra:
                    problems.append(
                        f"run {r.run_id} k{j}: {len(steps)} points, {len(unique)} steps, "
                        f"{r.acknowledged} acknowledged, {missing} missing, {extra} unknown"
                    )
    finally:
        tracker.close()
    return stored, lost, duplicated, problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    processes = max(1, min(args.processes, args.clients))
    groups = [list(range(p, args.clients, processes)) for p in range(processes)]
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, server(args, Path(tmp)) as url:
        create_experiment(url)
        baseline = server_statuses(url)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            start_at = time.time() + 5  # every process imported and ready
            futures = [
                pool.submit(
                    client_process,
                    url,
                    group,
                    start_at,
                    args.seconds,
                    args.keys,
                    args.flush_every,
                )
                for group in groups
            ]
            results = [r for f in futures for r in f.result()]
        elapsed = time.time() - start_at
        statuses = {
            name: count - baseline.get(name, 0)
            for name, count in server_statuses(url).items()
            if count - baseline.get(name, 0)
        }
        stored, lost, duplicated, problems = verify(url, results, args.keys)
        server_log = (Path(tmp) / "server.log").read_text()
    log_tail = server_log[-4000:]
    server_errors = server_log.count("Traceback") + server_log.count("ERROR")
    errors = [e for r in results for e in r.errors]
    acknowledged = sum(r.acknowledged for r in results) * args.keys
    failed = sum(n for name, n in statuses.items() if not name.startswith("2"))
    print(
        f"backend {args.backend}; {args.clients} clients in {processes} processes; "
        f"{args.seconds:g} s asked, {elapsed:.1f} s taken; server workers {args.workers}"
    )
    print(
        f"runs {sum(r.run_id is not None for r in results)}; flushes "
        f"{sum(r.flushes for r in results):,}; acknowledged points {acknowledged:,} "
        f"({acknowledged / max(elapsed, 1e-9):,.0f}/s); stored {stored:,}; lost {lost:,}; "
        f"duplicated {duplicated:,}"
    )
    print("server responses during the soak (status method route: count):")
    for name, count in sorted(statuses.items()):
        print(f"  {name}: {count:,}")
    print(f"non-2xx responses: {failed}")
    print(
        f"client errors: {len(errors)}; tracebacks/ERROR lines in the server log: {server_errors}"
    )
    for error in errors[:5]:
        print(error)
    for problem in problems[:10]:
        print(problem)
    ok = not errors and not failed and not lost and not duplicated and not problems
    ok = ok and stored == acknowledged and not server_errors
    if not ok:
        print("server log tail:\n" + log_tail)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
