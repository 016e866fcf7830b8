"""Web UI fixtures: a real `mlops server` process over generated data, and Debian's chromium.

The server is a subprocess (one per test module) on a free loopback port, serving a SQLite store
filled through the Python API: experiments, runs with params, step metrics, tags, text and PNG
artifacts, datasets, nested runs, and a scikit-learn model registered twice. The browser is
Debian's chromium driven by Playwright (one per session; nothing ever downloads a browser). A
missing chromium or Playwright skips these tests, unless ``MLOPS_REQUIRE_SERVICES`` names
``chromium`` (CI sets it): then it is a failure, so CI cannot pass by skipping them.

Screenshots go to ``$MLOPS_TEST_OUTPUT/ui`` (default ``test-output/ui`` at the repository root).
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mlops
from mlops.config import MLOpsConfig
from mlops.experiments.tracking import ExperimentTracker
from mlops.models.registry import ModelRegistry

CHROMIUM = os.environ.get("MLOPS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRED = {s.strip() for s in os.environ.get("MLOPS_REQUIRE_SERVICES", "").split(",") if s.strip()}
REPO = Path(__file__).resolve().parents[2]
WHOAMI = "/api/v1/auth/whoami"


def require_chromium() -> str:
    """Chromium's path, or skip (fail when CI requires it)."""
    problems = []
    if importlib.util.find_spec("playwright") is None:
        problems.append("the playwright package is not installed (pip install 'mlops[dev]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(
            f"no chromium at {CHROMIUM} (apt-get install chromium, or set MLOPS_TEST_CHROMIUM)"
        )
    if not problems:
        return CHROMIUM
    reason = "web UI tests need a browser: " + "; ".join(problems)
    if "chromium" in REQUIRED:
        pytest.fail(f"MLOPS_REQUIRE_SERVICES names chromium but {reason}")
    pytest.skip(reason)


def output_dir() -> Path:
    """Where screenshots go: ``$MLOPS_TEST_OUTPUT/ui`` or ``test-output/ui`` in the repo."""
    base = os.environ.get("MLOPS_TEST_OUTPUT")
    folder = (Path(base) if base else REPO / "test-output") / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- generated data ----------------------------------------------------------------------------


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """A truecolor PNG drawn by ``pixel(x, y)``, encoded by hand (zlib + the chunk format)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def heatmap(matrix: np.ndarray, cell: int = 24) -> bytes:
    """A confusion matrix as a blue heat map, ``cell`` pixels a square."""
    top = float(matrix.max()) or 1.0
    n = matrix.shape[0]

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        shade = matrix[y // cell, x // cell] / top
        return (int(240 - 200 * shade), int(245 - 150 * shade), 255)

    return png(n * cell, n * cell, pixel)


@dataclass
class Store:
    """The data a UI test module runs against, and where its server listens."""

    config: MLOpsConfig
    url: str = ""
    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    runs: dict[str, str] = field(default_factory=dict)  # run name -> id
    model: str = "iris-classifier"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}/api/v1{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


def populate(config: MLOpsConfig, folder: Path) -> Store:
    """Fill a store through the Python API, as a user's training scripts would."""
    store = Store(config)
    tracker = ExperimentTracker(config=config)
    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target
    rng = np.random.default_rng(7)
    models: list[tuple[str, Any]] = []
    try:
        for i in range(12):
            c = [0.01, 0.1, 1.0, 10.0][i % 4]
            solver = ["lbfgs", "newton-cg", "saga"][i % 3]
            with tracker.start_experiment("iris", run_name=f"logreg-{i:02d}") as run:
                run.log_params({"C": c, "solver": solver, "max_iter": 200 + 50 * (i % 3)})
                run.set_tags({"team": "vision" if i % 2 else "tabular", "seed": i})
                run.log_dataset(iris.frame, name="iris", context="training")
                rate = 0.03 + 0.01 * (i % 5)
                for step in range(60):
                    loss = 1.2 * math.exp(-rate * step) + 0.05 * rng.random() + 0.02 * i
                    run.log_metrics({"loss": loss, "accuracy": 1 - loss / 1.6}, step=step)
                run.log_metrics({"f1": 0.7 + 0.02 * i}, step=59)
                run.log_text(f"run {i}: C={c} solver={solver}\nconverged\n", "notes/summary.txt")
                matrix = rng.integers(0, 20, size=(3, 3)) + np.eye(3, dtype=int) * 30
                image = folder / f"confusion-{i}.png"
                image.write_bytes(heatmap(matrix))
                run.log_artifact(image, "plots")
                store.runs[f"logreg-{i:02d}"] = run.id
                if i in (3, 7):
                    models.append((run.id, LogisticRegression(C=c, max_iter=500).fit(X, y)))
        with tracker.start_experiment("digits-sweep", run_name="sweep") as parent:
            parent.log_params({"search": "grid"})
            store.runs["sweep"] = parent.id
            for depth in (2, 4, 8):
                with tracker.start_experiment(
                    "digits-sweep", run_name=f"depth-{depth}", nested=True
                ) as child:
                    child.log_params({"max_depth": depth})
                    for step in range(20):
                        child.log_metrics({"val_loss": 1 / (1 + depth * step / 10)}, step=step)
                    store.runs[f"depth-{depth}"] = child.id
        tracker.create_experiment("empty")
        for experiment in tracker.list_experiments():
            store.experiments[experiment.name] = experiment.id
    finally:
        tracker.close()
    registry = ModelRegistry(config=config)
    for run_id, model in models:
        registry.register_model(store.model, model, run_id=run_id, input_example=X.head(3))
    return store


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(config: MLOpsConfig, folder: Path) -> Iterator[str]:
    """Run `mlops server` over ``config``'s store until the generator is closed."""
    port = free_port()
    log_path = folder / "server.log"
    command = [sys.executable, "-m", "mlops", "server", "--port", str(port)]
    command += ["--tracking-uri", config.resolved_tracking_uri]
    command += ["--artifact-uri", config.resolved_artifact_uri]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_HOME"] = str(folder / "server-home")
    # The server runs the code under test, wherever it was imported from (a checkout's src/).
    source = str(Path(mlops.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    with log_path.open("ab") as log:
        proc = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "no server: " + log_path.read_text()
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def store_config(folder: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=folder / "home",
        tracking_uri=f"sqlite:///{folder / 'mlops.db'}",
        artifact_uri=str(folder / "artifacts"),
        user="alice",
    )


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A generated store and a running server over it, for one test module."""
    require_chromium()  # no data to build when the browser tests cannot run
    folder = tmp_path_factory.mktemp("ui-store")
    config = store_config(folder)
    store = populate(config, folder)
    server = serve(config, folder)
    store.url = next(server)
    yield store
    server.close()


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright; one per session."""
    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives chromium a fresh, empty temporary profile and removes it afterwards.
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A browser tab on the UI that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, base: str):
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.expected: list[str] = [WHOAMI]
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: Any) -> None:
        # Until the server has /auth/whoami (the users-and-roles work), the UI's probe of it is
        # a 404 meaning "no auth", which chromium logs as a failed resource; nothing else is.
        url = message.location["url"]
        if message.type == "error" and not any(url.endswith(e) for e in self.expected):
            self.errors.append(f"console.error: {message.text} ({message.location['url']})")

    def expect_failures(self, *paths: str) -> None:
        """Requests to these paths are meant to fail (chromium logs each failed response)."""
        self.expected.extend(paths)

    def open(self, fragment: str) -> Any:
        """Load ``/ui/#<fragment>`` and wait until the page stops loading data."""
        self.page.goto(f"{self.base}/ui/#{fragment}")
        self.settle()
        return self.page

    def settle(self) -> None:
        """Wait until no API request is in flight (the app counts them on <body>).

        First a moment for a click's ``hashchange`` (a task chromium queues) to start its page.
        """
        self.page.evaluate("() => new Promise(done => setTimeout(done, 30))")
        self.page.wait_for_function("document.body.dataset.pending === '0'")

    def screenshot(self, name: str) -> Path:
        path = output_dir() / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any, ui_store: Store) -> Iterator[Page]:
    """A fresh tab (its own storage) on the module's server; fails on any console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = Page(context.new_page(), ui_store.url)
    yield tab
    context.close()
    assert tab.errors == [], tab.errors
