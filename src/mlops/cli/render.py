"""How the CLI shows things: Rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlops.config import MLOpsConfig, with_locations
from mlops.experiments.entities import Run

console = Console()
err_console = Console(stderr=True)


def report_error(exc: BaseException) -> None:
    """An error as one plain line on stderr (its text is never read as Rich markup)."""
    message = Text("Error: ", style="bold red")
    message.append(str(exc))
    err_console.print(message, highlight=False)


def config_from(tracking_uri: str | None, artifact_uri: str | None = None) -> MLOpsConfig:
    """The config with any ``--tracking-uri`` / ``--artifact-uri`` given on the command line."""
    return with_locations(None, tracking_uri, artifact_uri)


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_json(obj: Any) -> None:
    def default(value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        return str(value)

    console.print_json(json.dumps(obj, default=default))


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float] | NDArray[np.float64], width: int = 32) -> str:
    """A metric's history as one line of bars (downsampled to ``width`` by bucket means)."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < 2:
        return ""
    if data.size > width:
        data = np.array([chunk.mean() for chunk in np.array_split(data, width)])
    low, high = float(data.min()), float(data.max())
    if high == low:
        return _BARS[3] * data.size
    scaled = ((data - low) / (high - low) * (len(_BARS) - 1)).round().astype(int)
    return "".join(_BARS[i] for i in scaled)


def runs_table(
    runs: Sequence[Run],
    title: str = "Runs",
    max_columns: int | None = None,
    caption: str | None = None,
) -> Table:
    """Runs with the params and metrics that appear in them (metrics first, most common first).

    As many value columns as fit the terminal are shown; `mlops runs show` has the rest.
    """
    if max_columns is None:
        max_columns = max(1, min(8, (console.width - 70) // 11))
    table = Table(title=title, caption=caption, caption_justify="left")
    for column in ("run id", "name", "status", "started"):
        table.add_column(column, no_wrap=True)
    counts: dict[str, int] = {}
    for run in runs:
        for key in [f"params.{k}" for k in run.params] + [f"metrics.{k}" for k in run.metrics]:
            counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts, key=lambda k: (not k.startswith("metrics."), -counts[k], k))[:max_columns]
    for key in keys:  # metrics green, params cyan: the prefix would not fit at 80 columns
        kind, _, name = key.partition(".")
        table.add_column(name, justify="right", style="green" if kind == "metrics" else "cyan")
    colors = {"FINISHED": "green", "FAILED": "red", "KILLED": "magenta", "RUNNING": "yellow"}
    for run in runs:
        cells = []
        for key in keys:
            kind, _, name = key.partition(".")
            value = (run.params if kind == "params" else run.metrics).get(name)
            cells.append(
                "-"
                if value is None
                else (f"{value:.4g}" if isinstance(value, float) else str(value))
            )
        status = run.status.value
        table.add_row(
            run.id[:12],
            run.name,
            f"[{colors.get(status, 'white')}]{status}[/]",
            when(run.start_time)[5:16],
            *cells,
        )
    return table
