"""What a drift check found, per column and for the dataset, as objects and as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict.

    ``score`` is what was compared with ``threshold``: the p-value of a p-value test (drift when
    ``score <= threshold``) or the distance (drift when ``score >= threshold``).
    """

    column: str
    kind: str
    stattest: str
    stattest_kind: str
    statistic: float
    p_value: float | None
    score: float
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int
    missing_share_reference: float
    missing_share_current: float
    new_categories: list[str] = field(default_factory=list)
    constant: bool = False
    note: str | None = None


@dataclass(frozen=True)
class MultivariateDrift:
    """Domain-classifier drift: how well a classifier tells reference rows from current ones.

    ROC AUC 0.5 means indistinguishable. ``p_value`` is the chance of an AUC this high with no
    drift (the out-of-fold AUC is a Mann-Whitney statistic); drift needs both ``p_value <=
    alpha`` and ``auc >= threshold``, so a tiny but significant difference is not an alarm.
    """

    auc: float
    p_value: float
    threshold: float
    drifted: bool
    top_features: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class DriftResult:
    """A drift check of one current dataset or window against the reference."""

    columns: dict[str, ColumnDrift]
    drift_share: float
    alert_threshold: float
    dataset_drift: bool
    n_rows: int
    prediction: ColumnDrift | None = None
    multivariate: MultivariateDrift | None = None
    window_start: float | None = None  # epoch seconds
    window_end: float | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drifted]

    @property
    def number_of_drifted_columns(self) -> int:
        return len(self.drifted_columns)

    def __bool__(self) -> bool:
        """Truthy when the dataset drifted, so ``if detect_drift(...):`` reads naturally."""
        return self.dataset_drift

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drifted_columns"] = self.drifted_columns
        clean: dict[str, Any] = _finite(data)
        return clean

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftResult:
        def column(d: dict[str, Any] | None) -> ColumnDrift | None:
            return None if d is None else ColumnDrift(**_unfinite(d))

        multi = data.get("multivariate")
        return cls(
            columns={k: ColumnDrift(**_unfinite(v)) for k, v in data["columns"].items()},
            drift_share=data["drift_share"],
            alert_threshold=data["alert_threshold"],
            dataset_drift=data["dataset_drift"],
            n_rows=data["n_rows"],
            prediction=column(data.get("prediction")),
            multivariate=(
                None
                if multi is None
                else MultivariateDrift(
                    **{**multi, "top_features": [tuple(x) for x in multi["top_features"]]}
                )
            ),
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
        )

    @classmethod
    def from_json(cls, text: str) -> DriftResult:
        return cls.from_dict(json.loads(text))


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become strings that say what they were."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _unfinite(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: float(v) if isinstance(v, str) and v in ("nan", "inf", "-inf") else v
        for k, v in data.items()
    }
