"""Windows of a stream and what a window remembers, in bounded memory.

A window is a span of time ("15m", "1h", "1d": aligned to the epoch, so every process agrees
where windows start) or a number of rows. Per column a window keeps:

- numeric: the raw values up to ``EXACT_ROWS`` (then a check is exactly the batch check of the
  same rows); beyond that a fixed histogram on the reference's quantiles, plus min and max, so
  memory stays the same however many rows arrive. Every row still counts: nothing is sampled.
  Tests then run on a quantile sketch rebuilt from the histogram, with the true row count
  (the KS distance is then exact at the bin edges and within one bin in between).
- categorical: value counts (at most ``summaries.MAX_CATEGORIES`` distinct, the rarest lumped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlops.monitoring.stattests import CurrentColumn
from mlops.monitoring.summaries import (
    FEW_UNIQUE,
    ColumnSummary,
    Floats,
    cap_categories,
    category_counts,
    numeric_counts,
    numeric_values,
)
from mlops.monitoring.units import InvalidMonitoringInputError, parse_duration

EXACT_ROWS = 50_000  # raw values kept per numeric column before switching to the histogram
HIST_BINS = 2_048
SKETCH_POINTS = 20_000


@dataclass(frozen=True)
class WindowSpec:
    """A time window (``seconds``) or a count window (``rows``)."""

    seconds: float | None = None
    rows: int | None = None

    @classmethod
    def parse(cls, value: str | int | float) -> WindowSpec:
        """ "1h" / "15m" / 3600.0 -> time window; 1000 or "1000 rows" -> count window.

        Raises:
            InvalidMonitoringInputError: Not a positive duration or row count.
        """
        if isinstance(value, bool):
            raise InvalidMonitoringInputError(f"detection_window {value!r} is not a window")
        if isinstance(value, int):
            if value <= 0:
                raise InvalidMonitoringInputError(
                    f"detection_window {value!r}: a count window needs a positive number of rows"
                )
            return cls(rows=value)
        text = str(value).strip().lower()
        for suffix in (" rows", "rows", " row"):
            if text.endswith(suffix) and text[: -len(suffix)].strip().isdigit():
                return cls.parse(int(text[: -len(suffix)]))
        return cls(seconds=parse_duration(value, what="detection_window"))

    def start_of(self, timestamp: float) -> float:
        """Start of the time window holding ``timestamp`` (epoch seconds)."""
        assert self.seconds is not None
        return math.floor(timestamp / self.seconds) * self.seconds

    def __str__(self) -> str:
        return f"{self.rows} rows" if self.rows is not None else f"{self.seconds:g}s"


@dataclass
class NumericState:
    """One numeric column of a window."""

    ref: ColumnSummary
    chunks: list[Floats] = field(default_factory=list)
    buffered: int = 0
    hist: Floats | None = None
    edges: Floats | None = None
    lo: float = math.inf
    hi: float = -math.inf
    total: int = 0
    missing: int = 0
    infinite: int = 0
    counts: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.ref.counts:
            self.counts = {}

    def add(self, values: Floats) -> None:
        finite_mask = np.isfinite(values)
        finite = values[finite_mask]
        self.missing += int(values.size - finite.size)
        self.infinite += int(np.count_nonzero(np.isinf(values)))
        if finite.size == 0:
            return
        self.total += int(finite.size)
        self.lo = min(self.lo, float(finite.min()))
        self.hi = max(self.hi, float(finite.max()))
        if self.counts is not None:
            for key, n in numeric_counts(finite).items():
                self.counts[key] = self.counts.get(key, 0) + n
            if len(self.counts) > 4 * FEW_UNIQUE:
                self.counts = None  # many values after all: the histogram will do
        if self.hist is None:
            self.chunks.append(finite)
            self.buffered += int(finite.size)
            if self.buffered > EXACT_ROWS:
                self._to_histogram()
        else:
            self._bin(finite)

    def _to_histogram(self) -> None:
        quantiles = np.quantile(self.ref.sample, np.linspace(0.0, 1.0, HIST_BINS + 1))
        self.edges = np.unique(quantiles)
        self.hist = np.zeros(self.edges.size + 1, dtype=np.float64)  # + below and above
        for chunk in self.chunks:
            self._bin(chunk)
        self.chunks = []
        self.buffered = 0

    def _bin(self, values: Floats) -> None:
        assert self.hist is not None
        assert self.edges is not None
        idx = np.searchsorted(self.edges, values, side="right")
        self.hist += np.bincount(idx, minlength=self.hist.size)

    def current(self) -> tuple[CurrentColumn, int, int]:
        """The window as the tests want it: (column, missing, infinite)."""
        if self.hist is None:
            values = np.concatenate(self.chunks) if self.chunks else np.empty(0)
            values.sort()
            return CurrentColumn("numeric", values=values), self.missing, self.infinite
        assert self.edges is not None
        # Bin i holds values in [edges[i-1], edges[i]); the outer bins reach to min and max.
        bounds = np.concatenate([[self.lo], self.edges, [self.hi]])
        bounds = np.maximum.accumulate(np.clip(bounds, self.lo, self.hi))
        cum = np.concatenate([[0.0], np.cumsum(self.hist)]) / self.total
        u = (np.arange(SKETCH_POINTS) + 0.5) / SKETCH_POINTS
        sketch = np.interp(u, cum, bounds)
        column = CurrentColumn("numeric", values=sketch, total=self.total)
        if self.counts is not None:
            column._numeric_counts = dict(self.counts)
        return column, self.missing, self.infinite

    @property
    def nbytes(self) -> int:
        held = sum(c.nbytes for c in self.chunks)
        return held + (self.hist.nbytes if self.hist is not None else 0)


@dataclass
class CategoricalState:
    """One categorical column of a window."""

    ref: ColumnSummary
    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0

    def add(self, series: pd.Series) -> None:
        counts, missing = category_counts(series)
        self.missing += missing
        for key, n in counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.counts = cap_categories(self.counts)

    def current(self) -> tuple[CurrentColumn, int, int]:
        return CurrentColumn("categorical", counts=dict(self.counts)), self.missing, 0

    @property
    def nbytes(self) -> int:
        return 100 * len(self.counts)


ColumnState = NumericState | CategoricalState


def new_state(ref: ColumnSummary) -> ColumnState:
    return NumericState(ref) if ref.kind == "numeric" else CategoricalState(ref)


def add_series(state: ColumnState, series: pd.Series) -> None:
    if isinstance(state, NumericState):
        state.add(numeric_values(series, state.ref.name))
    else:
        state.add(series)


class Reservoir:
    """A uniform sample of at most ``capacity`` rows of a stream (Vitter's algorithm R).

    Why: the domain classifier needs rows, not marginals; a reservoir keeps every row's chance
    of being in the sample equal, in fixed memory. One draw per row from a fixed seed, so the
    same stream gives the same sample however it was batched (and after a restart's replay).
    """

    def __init__(self, width: int, capacity: int = 5_000, seed: int = 0):
        self.rows = np.empty((capacity, width), dtype=np.float64)
        self.capacity = capacity
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def add(self, block: Floats) -> None:
        fill = max(min(self.capacity - self.seen, block.shape[0]), 0)
        if fill:
            self.rows[self.seen : self.seen + fill] = block[:fill]
        rest = block.shape[0] - fill
        if rest > 0:
            positions = self.seen + fill + np.arange(rest)  # each row's index in the stream
            slots = self.rng.integers(0, positions + 1)
            for row, slot in zip(
                block[fill:][slots < self.capacity], slots[slots < self.capacity], strict=True
            ):
                self.rows[slot] = row
        self.seen += block.shape[0]

    @property
    def sample(self) -> Floats:
        return self.rows[: min(self.seen, self.capacity)]


@dataclass
class WindowState:
    """Everything one open window holds."""

    start: float  # epoch seconds (time windows) or the first row's time (count windows)
    columns: dict[str, ColumnState]
    prediction: ColumnState | None = None
    rows: int = 0
    end: float | None = None  # last row's time
    reservoir: Reservoir | None = None  # rows for the domain classifier (multivariate=True)

    @property
    def nbytes(self) -> int:
        states = list(self.columns.values()) + ([self.prediction] if self.prediction else [])
        held = self.reservoir.rows.nbytes if self.reservoir is not None else 0
        return held + sum(s.nbytes for s in states)
