"""What every benchmark module shares: options, results, the machine, timing and the table.

A benchmark module defines ``NAME`` and ``measure(options) -> list[Result]``; ``run.py`` finds
every such module in this folder. Each measurement runs mlops and MLflow in the same process,
one after the other, each in a new Python process (``isolated``) on embedded SQLite in its
own fresh temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import logging
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class Options:
    """Command-line options shared by ``run.py`` and each module's own ``main``."""

    quick: bool = False
    no_fail: bool = False
    only: list[str] = field(default_factory=list)
    json_path: Path | None = None

    def wants(self, key: str) -> bool:
        """Whether the measurement ``key`` was selected (``--only``; all by default)."""
        return not self.only or key in self.only


def parse_args(argv: Sequence[str] | None, description: str) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke run (the figures are then not the benchmark's)",
    )
    parser.add_argument(
        "--no-fail", action="store_true", help="exit 0 even when a target is missed"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated measurement keys (ingest, register, search, history)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    only = [key.strip() for key in args.only.split(",") if key.strip()]
    return Options(quick=args.quick, no_fail=args.no_fail, only=only, json_path=args.json)


# --- results -----------------------------------------------------------------------------------


@dataclass
class Check:
    """One target: ``passed`` says whether the measured figure meets it."""

    name: str
    passed: bool
    detail: str


@dataclass
class Result:
    """One measurement of mlops and MLflow on the same workload.

    ``ratio`` is mlops' advantage, always "times better": throughput divided by throughput,
    or MLflow's latency divided by mlops' latency.
    """

    key: str
    title: str
    target: str
    mlops: str
    mlflow: str
    ratio: float
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    peer: str = "MLflow"  # whose figure ``mlflow`` holds (Evidently, Feast, ...)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def exit_code(results: Sequence[Result], options: Options) -> int:
    """1 if a target was missed (unless ``--no-fail``), else 0."""
    return 0 if options.no_fail or all(r.passed for r in results) else 1


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures depend on: CPU, cores, RAM, Python, SQLite, MLflow, and the load."""
    info = {
        "cpu": _cpuinfo("model name") or platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "ram": _ram(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "mlops": _version("mlops"),
        "mlflow": _version("mlflow"),
        "sqlalchemy": _version("sqlalchemy"),
        "commit": _git_commit(),
    }
    if hasattr(os, "getloadavg"):
        info["load average (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    return info


def _cpuinfo(field_name: str) -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field_name:
            return value.strip()
    return None


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + (" (src/ has uncommitted changes)" if dirty.stdout.strip() else "")


# --- measuring ---------------------------------------------------------------------------------


@contextmanager
def fresh_folder(label: str) -> Iterator[Path]:
    """A new temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as tmp:
        yield Path(tmp)


def isolated(fn: Callable[..., T], label: str, *args: Any, peer: bool = False) -> T:
    """``fn(folder, *args)`` in a new Python process, with a new temporary folder.

    Each side of each measurement starts from the same clean interpreter, whatever ran before:
    in one long-lived process, the objects earlier measurements left (MLflow's modules, the
    search data) make every later garbage collection slower, and the figures would depend on
    the order they ran in. ``peer=True`` silences MLflow's logging in that process.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_in_child, fn, label, peer, args).result()


def _in_child(fn: Callable[..., T], label: str, peer: bool, args: tuple[Any, ...]) -> T:
    with fresh_folder(label) as folder, quiet_mlflow() if peer else contextlib.nullcontext():
        return fn(folder, *args)


def clock() -> float:
    return time.perf_counter()


def settle() -> None:
    """Start each timed section from the same place: no garbage left from the last one."""
    gc.collect()


def median_seconds(call: Callable[[], object], repeats: int, warmups: int = 1) -> float:
    """Median wall time of ``call`` over ``repeats`` runs after ``warmups`` untimed ones."""
    for _ in range(warmups):
        call()
    settle()
    times = []
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    return statistics.median(times)


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's INFO logs, warnings and stderr notes; errors still raise."""
    import mlflow  # noqa: F401  (importing configures its loggers; quiet them afterwards)

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


# --- reporting ---------------------------------------------------------------------------------


def rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def millis(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def render(results: Sequence[Result], info: dict[str, str], options: Options) -> None:
    """Print the machine, the table (target, mlops, peer, ratio, PASS/FAIL) and the notes."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=180)  # a log or a pipe: do not wrap the table to 80 columns
    console.print(
        "[bold]Machine[/bold]: "
        + escape("; ".join(f"{key}: {value}" for key, value in info.items()))
    )
    peers = ", ".join(dict.fromkeys(r.peer for r in results)) or "MLflow"
    title = f"mlops vs {peers}" + (
        " (--quick: smoke sizes, not the benchmark)" if options.quick else ""
    )
    table = Table(title=title, show_lines=True)
    header = peers if "," not in peers else "Peer"
    for column in ("Benchmark", "Target", "mlops", header, "mlops better by", "Result"):
        table.add_column(column, overflow="fold")
    for r in results:
        failed = [c for c in r.checks if not c.passed]
        verdict = (
            "[green]PASS[/green]"
            if not failed
            else "[red]FAIL[/red]\n" + escape("\n".join(f"{c.name}: {c.detail}" for c in failed))
        )
        cells = [escape(text) for text in (r.title, r.target, r.mlops, r.mlflow)]
        table.add_row(*cells, f"{r.ratio:,.1f}x", verdict)
    console.print(table)
    for r in results:
        for note in r.notes:
            console.print(f"[dim]{r.key}:[/dim] {escape(note)}")


def write_json(
    path: Path, results: Sequence[Result], info: dict[str, str], options: Options
) -> None:
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": options.quick,
        "machine": info,
        "results": [{**asdict(r), "passed": r.passed} for r in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def run_cli(
    measures: Sequence[Callable[[Options], list[Result]]],
    argv: Sequence[str] | None,
    doc: str | None,
) -> tuple[list[Result], Options]:
    """Parse ``argv``, run every ``measure``, print the report; return results and options."""
    options = parse_args(argv, (doc or "").strip().splitlines()[0])
    info = machine()
    results = [result for measure in measures for result in measure(options)]
    report(results, info, options)
    return results, options


def report(results: Sequence[Result], info: dict[str, str], options: Options) -> None:
    if hasattr(os, "getloadavg"):
        info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    render(results, info, options)
    if options.json_path is not None:
        write_json(options.json_path, results, info, options)


def peer_python(variable: str, module: str) -> str | None:
    """The interpreter that imports a peer's ``module``: the one the environment ``variable``
    names (a side venv, when the peer's pins clash with ours), else this one; None if neither.
    """
    python = os.environ.get(variable, sys.executable)
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
    return python if probe.returncode == 0 else None
