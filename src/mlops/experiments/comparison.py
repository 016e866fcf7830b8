"""Side-by-side comparison of runs: the object behind ``compare_experiments``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from mlops.errors import InvalidParamError
from mlops.experiments.entities import Run, runs_to_pandas

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table


class ExperimentComparison:
    """Params and metrics of several runs as one table, with the differences called out."""

    def __init__(self, runs: Sequence[Run]):
        if not runs:
            raise InvalidParamError("compare_experiments needs at least one run id")
        self.runs = list(runs)

    @property
    def param_keys(self) -> list[str]:
        return sorted({k for r in self.runs for k in r.params})

    @property
    def metric_keys(self) -> list[str]:
        return sorted({k for r in self.runs for k in r.metrics})

    def differing_params(self) -> list[str]:
        """Parameters whose value is not the same in every run (what actually varied)."""
        return [k for k in self.param_keys if len({r.params.get(k) for r in self.runs}) > 1]

    def to_pandas(self) -> pd.DataFrame:
        """One row per run; columns ``params.*`` and ``metrics.*``."""
        return runs_to_pandas(self.runs).set_index("run_id")

    @property
    def table(self) -> pd.DataFrame:
        return self.to_pandas()

    def best(self, metric: str, mode: Literal["max", "min"] = "max") -> Run:
        """The run with the best value of ``metric`` (NaN and missing values never win)."""
        if mode not in ("max", "min"):
            raise InvalidParamError(f"mode must be 'max' or 'min', got {mode!r}")
        scored = [r for r in self.runs if not math.isnan(r.metrics.get(metric, math.nan))]
        if not scored:
            raise InvalidParamError(f"no compared run has a value for metric {metric!r}")
        pick = max if mode == "max" else min
        return pick(scored, key=lambda r: r.metrics[metric])

    def to_rich(
        self, title: str | None = "Run comparison", metrics: Sequence[str] | None = None
    ) -> Table:
        """A Rich table: one column per run, one row per param and metric; varied params bold.

        ``metrics`` limits (and orders) the metric rows; the best value of each is green.
        """
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        table.add_column("", style="bold cyan")
        for run in self.runs:
            table.add_column(f"{run.name}\n{run.id[:8]}", justify="right")
        varied = set(self.differing_params())
        for key in self.param_keys:
            style = "bold" if key in varied else "dim"
            table.add_row(
                f"params.{key}", *[r.params.get(key, "-") for r in self.runs], style=style
            )
        for key in self.metric_keys if metrics is None else metrics:
            values = [r.metrics.get(key) for r in self.runs]
            finite = [v for v in values if v is not None and not math.isnan(v)]
            top = max(finite) if finite else None
            table.add_row(
                f"metrics.{key}",
                *[
                    "-" if v is None else (f"[green]{v:.4g}[/green]" if v == top else f"{v:.4g}")
                    for v in values
                ],
            )
        return table

    def __repr__(self) -> str:
        return f"ExperimentComparison(runs={[r.id for r in self.runs]})"
