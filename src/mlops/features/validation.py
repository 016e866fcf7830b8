"""Statistics and expectations of feature data, computed by DuckDB where the data is.

A view carries expectations (a range, a largest null share, unique keys per event time); its
declared feature types are checked against the source on every read. They are checked before
materialization writes anything online, and on training sets, so bad data is stopped on the
way to a model, in training and in serving alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidFeatureInputError

if TYPE_CHECKING:
    import duckdb

KEYS = "__keys__"


@dataclass(frozen=True)
class Expectation:
    """One check on a feature column (or, with ``column="__keys__"``, on the join keys).

    Args:
        column: The feature, or ``"__keys__"`` for uniqueness of (keys, event time).
        min_value: Smallest allowed value (inclusive).
        max_value: Largest allowed value (inclusive).
        max_null_share: Largest allowed share of nulls, 0..1.
        unique: Only for ``"__keys__"``: no two rows share keys and event time.
    """

    column: str
    min_value: float | None = None
    max_value: float | None = None
    max_null_share: float | None = None
    unique: bool = False

    def __post_init__(self) -> None:
        share = self.max_null_share
        if share is not None and not 0 <= share <= 1:
            raise InvalidFeatureInputError(
                f"expectation on {self.column!r}: max_null_share must be in 0..1, got {share}"
            )
        if self.unique and self.column != KEYS:
            raise InvalidFeatureInputError(
                f"expectation on {self.column!r}: unique applies to '__keys__' only "
                "(use Expectation.unique_keys())"
            )

    @classmethod
    def unique_keys(cls) -> Expectation:
        """No two rows of the view share join keys and event time."""
        return cls(KEYS, unique=True)

    def to_spec(self) -> dict[str, Any]:
        """The JSON-able form stored with the view."""
        return {
            "column": self.column,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "max_null_share": self.max_null_share,
            "unique": self.unique,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Expectation:
        """Rebuild a stored expectation."""
        return cls(**spec)


@dataclass(frozen=True)
class ColumnStats:
    """Summary of one column."""

    count: int
    nulls: int
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None

    @property
    def null_share(self) -> float:
        """Nulls over rows (0 for an empty column)."""
        return self.nulls / self.count if self.count else 0.0


@dataclass
class ValidationReport:
    """Statistics of the checked data and every expectation it failed."""

    subject: str
    rows: int
    stats: dict[str, ColumnStats]
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def column_stats(
    con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[tuple[str, bool]]
) -> tuple[int, dict[str, ColumnStats]]:
    """Row count and per-column statistics; ``columns`` is (name, numeric) pairs. One scan."""
    parts = ["count(*)"]
    for name, numeric in columns:
        col = '"' + name.replace('"', '""') + '"'
        parts.append(f"count({col})")
        if numeric:
            parts += [f"min({col})", f"max({col})", f"avg({col})", f"stddev_samp({col})"]
        else:
            parts += [f"min({col})::VARCHAR", f"max({col})::VARCHAR", "NULL", "NULL"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchall()[0]
    assert row is not None
    total = int(row[0])
    stats: dict[str, ColumnStats] = {}
    for i, (name, _numeric) in enumerate(columns):
        nonnull, lo, hi, mean, std = row[1 + 5 * i : 6 + 5 * i]
        stats[name] = ColumnStats(
            count=total,
            nulls=total - int(nonnull),
            min=lo,
            max=hi,
            mean=None if mean is None or math.isnan(mean) else float(mean),
            std=None if std is None or math.isnan(std) else float(std),
        )
    return total, stats


def check(
    subject: str,
    rows: int,
    stats: dict[str, ColumnStats],
    expectations: Sequence[Expectation],
    duplicate_keys: int | None = None,
) -> ValidationReport:
    """The report of ``expectations`` against computed statistics."""
    report = ValidationReport(subject, rows, stats)
    for exp in expectations:
        if exp.column == KEYS:
            if exp.unique and duplicate_keys:
                report.failures.append(
                    f"{subject}: {duplicate_keys} rows repeat join keys and event time"
                )
            continue
        col = stats.get(exp.column)
        if col is None:
            continue  # not part of this data (e.g. a feature not requested)
        if exp.min_value is not None and col.min is not None and col.min < exp.min_value:
            report.failures.append(
                f"{subject}: {exp.column!r} has values below {exp.min_value} (min {col.min})"
            )
        if exp.max_value is not None and col.max is not None and col.max > exp.max_value:
            report.failures.append(
                f"{subject}: {exp.column!r} has values above {exp.max_value} (max {col.max})"
            )
        if exp.max_null_share is not None and col.null_share > exp.max_null_share:
            report.failures.append(
                f"{subject}: {exp.column!r} is {col.null_share:.1%} null, more than "
                f"{exp.max_null_share:.1%}"
            )
    return report
