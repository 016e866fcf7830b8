"""The web UI's runs table over 10,000 runs, in Debian's chromium: load, sort, filter, page.

Not one of run.py's side-by-side benchmarks (there is no MLflow peer to compare a browser page
with): run it alone, ``python -m benchmarks.ui_smoke [--runs N]``. It fills a fresh SQLite store
(5 params and 5 metrics a run, as benchmarks/server.py does), starts ``mlops server`` on it, opens
the runs table in chromium and, for each action, prints the time until the browser shows the new
page and the server time of every API request the page made (Playwright's request timing:
request sent to first response byte, on loopback). Exits 1 if a page is not drawn with 50 rows
or a request takes over 300 ms (the issue's server-time target for a runs-table page).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("MLOPS_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_MS = 300.0
PAGE = 50


def populate(folder: Path, runs: int) -> str:
    """A store with ``runs`` runs in one experiment; returns the experiment's id."""
    from mlops.config import MLOpsConfig
    from mlops.experiments.tracking import ExperimentTracker

    rng = random.Random(20240601)
    config = MLOpsConfig(
        home=folder / "home",
        tracking_uri=f"sqlite:///{folder / 'mlops.db'}",
        artifact_uri=str(folder / "artifacts"),
    )
    tracker = ExperimentTracker(config=config)
    try:
        store = tracker.stores.tracking
        experiment_id = tracker.create_experiment("ten-thousand").id
        rows: list[tuple[str, str, float, int, int]] = []
        for i in range(runs):
            run = store.create_run(experiment_id, f"run-{i:05d}", user="bench")
            store.log_params(run.id, {f"p{j}": f"value-{rng.randrange(100)}" for j in range(5)})
            rows.extend((run.id, f"m{j}", rng.random(), 0, 1_700_000_000_000) for j in range(5))
            if len(rows) >= 50_000:
                store.log_metric_rows(rows)
                rows = []
        store.log_metric_rows(rows)
    finally:
        tracker.close()
    return experiment_id


def serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "mlops", "server", "--port", str(port)]
    command += ["--tracking-uri", f"sqlite:///{folder / 'mlops.db'}"]
    command += ["--artifact-uri", str(folder / "artifacts")]
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start: " + (folder / "server.log").read_text())


def measure(url: str, experiment_id: str, runs: int) -> list[tuple[str, float, list[str]]]:
    """(action, ms until drawn, ["METHOD path: server ms", ...]) for each action."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []

    def finished(request: Any) -> None:
        if "/api/v1/" in request.url:
            timing = request.timing
            server_ms = timing["responseStart"] - timing["requestStart"]
            path = request.url.split("/api/v1", 1)[1]
            requests.append(f"{request.method} {path}: {server_ms:.1f} ms")

    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("requestfinished", finished)

        def step(label: str, action: Any) -> None:
            requests.clear()
            start = time.perf_counter()
            action()
            page.evaluate("() => new Promise(done => setTimeout(done, 0))")
            page.wait_for_function("document.body.dataset.pending === '0'")
            rows = page.locator("table.runs tbody tr").count()
            elapsed = (time.perf_counter() - start) * 1000
            if rows != PAGE:
                raise RuntimeError(f"{label}: the table shows {rows} rows, not {PAGE}")
            results.append((label, elapsed, list(requests)))

        step("first page", lambda: page.goto(f"{url}/ui/#/experiments/{experiment_id}/runs"))
        summary = page.locator(".summary").inner_text()
        if not summary.endswith(f"of {runs:,}"):
            raise RuntimeError(f"the summary says {summary!r}")
        step("sort by metrics.m1", lambda: page.locator("button[data-sort='metrics.m1']").click())
        flt = "metrics.m0 > 0.5 and params.p1 LIKE 'value-1%'"

        def filter_runs() -> None:
            page.get_by_label("filter").fill(flt)
            page.get_by_label("filter").press("Enter")

        step(f"filter {flt}", filter_runs)
        step("next page", lambda: page.get_by_role("button", name="Next →").click())
        browser.close()
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-ui-smoke-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        experiment_id = populate(folder, args.runs)
        print(f"{args.runs:,} runs written in {time.perf_counter() - start:.1f} s")
        port = free_port()
        proc = serve(folder, port)
        try:
            results = measure(f"http://127.0.0.1:{port}", experiment_id, args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    slow = []
    for label, elapsed, requests in results:
        print(f"{label}: drawn in {elapsed:.0f} ms")
        for line in requests:
            print(f"    {line}")
            if float(line.rsplit(": ", 1)[1].split()[0]) > TARGET_MS:
                slow.append(f"{label}: {line}")
    if slow:
        print(f"over {TARGET_MS:g} ms server time:", *slow, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
