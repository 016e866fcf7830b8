"""Reference summaries: everything a drift test needs from the reference, computed once.

Why: checking a window must never re-read or re-sort the reference. A numeric column keeps its
non-missing values sorted (all of them up to ``SAMPLE_CAP``, beyond that an evenly spaced
quantile sketch of ``SAMPLE_CAP`` points), so CDFs, quantiles and any histogram are binary
searches; a categorical column (or a numeric one with few distinct values) keeps its value
counts. A summary is a few arrays, so it saves to one ``.npz`` and loads without pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlops.monitoring.units import InvalidMonitoringInputError

SAMPLE_CAP = 100_000  # sorted values kept per numeric column (8 bytes each)
FEW_UNIQUE = 5  # a numeric column with at most this many values is tested like a category
MAX_CATEGORIES = 10_000  # distinct categories counted; the rest are lumped into OTHER
OTHER = "__other__"

Kind = Literal["numeric", "categorical"]
Floats = NDArray[np.float64]


@dataclass
class ColumnSummary:
    """One reference column, summarized.

    Attributes:
        name: Column name.
        kind: ``numeric`` or ``categorical``.
        count: Non-missing reference values.
        missing: Missing reference values (NaN, None, NaT).
        sample: Numeric only: the sorted non-missing values (a quantile sketch when
            ``exact`` is False).
        exact: Whether ``sample`` holds every reference value.
        mean: Numeric only: mean of all non-missing values.
        std: Numeric only: population standard deviation of all non-missing values.
        counts: Value counts (categorical, or numeric with at most ``FEW_UNIQUE`` values).
    """

    name: str
    kind: Kind
    count: int
    missing: int
    sample: Floats = field(default_factory=lambda: np.empty(0))
    exact: bool = True
    mean: float = float("nan")
    std: float = float("nan")
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def missing_share(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    @property
    def n_unique(self) -> int:
        """Distinct non-missing values (exact for categories; at least ``FEW_UNIQUE + 1``
        for a numeric column with many values)."""
        if self.counts:
            return len(self.counts)
        cached: int | None = self.__dict__.get("_n_unique")
        if cached is None:
            cached = 0
            if self.kind == "numeric" and self.sample.size:
                cached = int(np.count_nonzero(np.diff(self.sample))) + 1
            self.__dict__["_n_unique"] = cached
        return cached

    @property
    def prefix(self) -> Floats:
        """Prefix sums of ``sample`` (for Wasserstein in O(m log n)), computed once."""
        cached: Floats | None = self.__dict__.get("_prefix")
        if cached is None:
            from mlops.monitoring.stattests import reference_prefix

            cached = reference_prefix(self.sample)
            self.__dict__["_prefix"] = cached
        return cached

    @property
    def upper(self) -> NDArray[np.int64] | None:
        """Per sorted value, how many values are <= it (None without ties); computed once."""
        if "_upper" not in self.__dict__:
            from mlops.monitoring.stattests import reference_upper

            self.__dict__["_upper"] = reference_upper(self.sample)
        cached: NDArray[np.int64] | None = self.__dict__["_upper"]
        return cached

    @property
    def constant(self) -> bool:
        return self.n_unique == 1

    def cdf(self, x: Floats, side: Literal["left", "right"] = "right") -> Floats:
        """Reference ECDF at ``x`` (``side="left"``: the limit from the left)."""
        return np.searchsorted(self.sample, x, side=side) / self.sample.size


def column_kind(series: pd.Series) -> Kind:
    """``numeric`` for int/float dtypes, ``categorical`` for strings, categories and bools."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "numeric"
    return "categorical"


def numeric_values(series: pd.Series, name: str) -> Floats:
    """The column as float64 with NaN for missing; a clear error if it holds non-numbers."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
        series.dtype
    ):
        ints = series.to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min)
        values = ints.astype(np.float64)
        values[ints == np.iinfo(np.int64).min] = np.nan
        return values
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        bad = next((v for v in series if not _is_number(v)), None)
        raise InvalidMonitoringInputError(
            f"column {name!r} is numeric in the reference but the current data holds "
            f"{bad!r} ({series.dtype}); send numbers, or make the column categorical in the "
            "reference (e.g. df[col].astype(str))"
        ) from None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Value counts keyed by the value's text, and the number of missing values."""
    counts = series.value_counts(dropna=True, sort=False)
    missing = int(series.isna().sum())
    keys = [str(k) for k in counts.index]
    result: dict[str, int] = {}
    for key, n in zip(keys, counts.to_numpy(), strict=True):
        result[key] = result.get(key, 0) + int(n)
    return result, missing


def cap_categories(counts: dict[str, int]) -> dict[str, int]:
    """At most ``MAX_CATEGORIES`` keys: the rarest beyond that are summed into ``OTHER``."""
    if len(counts) <= MAX_CATEGORIES:
        return counts
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[: MAX_CATEGORIES - 1])
    kept[OTHER] = kept.get(OTHER, 0) + sum(n for _, n in ranked[MAX_CATEGORIES - 1 :])
    return kept


def summarize_column(series: pd.Series, name: str, kind: Kind | None = None) -> ColumnSummary:
    """Summarize one reference column (sorting it once)."""
    kind = kind or column_kind(series)
    if kind == "categorical":
        counts, missing = category_counts(series)
        return ColumnSummary(name, "categorical", sum(counts.values()), missing, counts=counts)
    values = numeric_values(series, name)
    finite = values[~np.isnan(values)]
    missing = int(values.size - finite.size)
    if np.isinf(finite).any():
        raise InvalidMonitoringInputError(
            f"reference column {name!r} holds infinite values; replace them (e.g. with NaN) "
            "before summarizing"
        )
    finite = np.sort(finite)
    summary = ColumnSummary(
        name,
        "numeric",
        int(finite.size),
        missing,
        mean=float(finite.mean()) if finite.size else float("nan"),
        std=float(finite.std()) if finite.size else float("nan"),
    )
    if finite.size > SAMPLE_CAP:
        # Evenly spaced order statistics: the sketch's ECDF is within 1/SAMPLE_CAP of the full one.
        idx = np.round(np.linspace(0, finite.size - 1, SAMPLE_CAP)).astype(np.int64)
        summary.sample = finite[idx]
        summary.exact = False
    else:
        summary.sample = finite
    if finite.size and summary.n_unique <= FEW_UNIQUE:
        uniq, n = np.unique(finite, return_counts=True)
        summary.counts = {_num_key(u): int(c) for u, c in zip(uniq, n, strict=True)}
    return summary


def _num_key(value: float) -> str:
    return repr(float(value))


def numeric_counts(values: Floats) -> dict[str, int]:
    """Value counts of a numeric array, keyed like a summary's ``counts``."""
    uniq, n = np.unique(values, return_counts=True)
    return {_num_key(u): int(c) for u, c in zip(uniq, n, strict=True)}


# --- saving ------------------------------------------------------------------------------------


def to_arrays(summaries: list[ColumnSummary], prefix: str = "") -> dict[str, Any]:
    """Summaries as named arrays plus one JSON header, for ``np.savez``."""
    header = []
    arrays: dict[str, Any] = {}
    for i, s in enumerate(summaries):
        header.append(
            {
                "name": s.name,
                "kind": s.kind,
                "count": s.count,
                "missing": s.missing,
                "exact": s.exact,
                "mean": s.mean,
                "std": s.std,
                "counts": s.counts,
            }
        )
        if s.kind == "numeric":
            arrays[f"{prefix}sample_{i}"] = s.sample
    arrays[f"{prefix}header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return arrays


def from_arrays(arrays: Any, prefix: str = "") -> list[ColumnSummary]:
    """The inverse of ``to_arrays``."""
    header = json.loads(bytes(arrays[f"{prefix}header"]).decode())
    result = []
    for i, h in enumerate(header):
        sample = arrays[f"{prefix}sample_{i}"] if h["kind"] == "numeric" else np.empty(0)
        result.append(
            ColumnSummary(
                name=h["name"],
                kind=h["kind"],
                count=h["count"],
                missing=h["missing"],
                sample=np.asarray(sample, dtype=np.float64),
                exact=h["exact"],
                mean=h["mean"],
                std=h["std"],
                counts={str(k): int(v) for k, v in h["counts"].items()},
            )
        )
    return result
