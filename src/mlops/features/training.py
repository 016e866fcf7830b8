"""A point-in-time training set: run lazily by DuckDB, returned as pandas, Arrow or Parquet.

Writing to Parquet is DuckDB's ``COPY``: the rows go from the sources to the file without
passing through Python (unless on-demand features need the pandas function). Logging the set to
a run records it as a dataset and links, in the lineage graph, the exact view versions and the
entity set's content hash to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from mlops.errors import FeatureValidationError, InvalidFeatureInputError
from mlops.features.engine import literal
from mlops.features.entities import FeatureView, OnDemandFeatureView, ValueType
from mlops.features.validation import ValidationReport, check, column_stats

if TYPE_CHECKING:
    import duckdb

    from mlops.experiments.entities import Dataset
    from mlops.features.store import DefinitionStore


@dataclass(frozen=True)
class OnDemandStep:
    """An on-demand view applied to a frame: its function, inputs and outputs."""

    view: OnDemandFeatureView
    inputs: tuple[str, ...]  # column names in the frame, in the view's input order
    outputs: tuple[str, ...]  # column names to produce, in feature order


def apply_on_demand(frame: pd.DataFrame, steps: Sequence[OnDemandStep]) -> pd.DataFrame:
    """Add each on-demand view's features to ``frame`` (the same code offline and online)."""
    for step in steps:
        fn = step.view.function
        if fn is None:
            raise InvalidFeatureInputError(
                f"on-demand view {step.view.name!r}: its function {step.view.function_ref!r} "
                "is not importable here; import the module defining it, or apply it again"
            )
        short = [ref.split(":", 1)[1] for ref in step.view.inputs]
        result = fn(frame[list(step.inputs)].set_axis(short, axis=1))
        if len(result) != len(frame):
            raise InvalidFeatureInputError(
                f"on-demand view {step.view.name!r} returned {len(result)} rows for "
                f"{len(frame)}: it must return one row per input row"
            )
        for feature, column in zip(step.view.features, step.outputs, strict=True):
            if feature.name not in result.columns:
                raise InvalidFeatureInputError(
                    f"on-demand view {step.view.name!r} did not return feature {feature.name!r}"
                )
            frame[column] = result[feature.name].to_numpy()
    return frame


class TrainingSet:
    """The result of ``get_historical_features``; nothing runs until it is read."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        views: Sequence[FeatureView],
        entity_df: pd.DataFrame | pa.Table,
        on_demand: Sequence[OnDemandStep] = (),
        hidden: Sequence[str] = (),
        outputs: Sequence[tuple[str, FeatureView | None, str]] = (),
        definitions: DefinitionStore | None = None,
    ):
        self._con = con
        self.sql = sql
        self.views = list(views)
        self._entity_df = entity_df
        self._entity_digest: str | None = None
        self._on_demand = list(on_demand)
        self._hidden = list(hidden)
        self._outputs = list(outputs)  # (output column, view or None, feature)
        self._definitions = definitions

    @property
    def entity_digest(self) -> str:
        """Content hash of the entity rows (computed on first use: logging needs it)."""
        if self._entity_digest is None:
            from mlops.experiments.datasets import describe_dataset

            self._entity_digest = describe_dataset(self._entity_df).digest
        return self._entity_digest

    def to_arrow(self) -> pa.Table:
        """The training set as an Arrow table."""
        if self._on_demand:
            return pa.Table.from_pandas(self.to_pandas(), preserve_index=False)
        return self._con.sql(self.sql).to_arrow_table()

    def to_pandas(self) -> pd.DataFrame:
        """The training set as a pandas DataFrame (one row per entity row, in input order)."""
        frame = self._con.execute(self.sql).df()
        if self._on_demand:
            frame = apply_on_demand(frame, self._on_demand)
        return frame.drop(columns=self._hidden)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the training set to one Parquet file (streamed by DuckDB); returns its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._on_demand:
            self.to_pandas().to_parquet(target, index=False)
        else:
            self._con.execute(f"COPY ({self.sql}) TO {literal(str(target))} (FORMAT parquet)")
        return target

    def validate(self, raise_on_failure: bool = False) -> ValidationReport:
        """The views' expectations checked on the training set's feature columns."""
        table = self.to_arrow()
        self._con.register("__mlops_training", table)
        numeric = (ValueType.INT64, ValueType.FLOAT64)
        columns = [
            (out, view.feature(feature).dtype in numeric)
            for out, view, feature in self._outputs
            if view is not None
        ]
        rows, stats = column_stats(self._con, "__mlops_training", columns)
        self._con.unregister("__mlops_training")
        expectations = []
        by_output = {(view.name, feature): out for out, view, feature in self._outputs if view}
        for view in self.views:
            for exp in view.expectations:
                out = by_output.get((view.name, exp.column))
                if out is not None:
                    expectations.append(
                        type(exp)(out, exp.min_value, exp.max_value, exp.max_null_share)
                    )
        report = check("training set", rows, stats, expectations)
        if raise_on_failure and not report.ok:
            raise FeatureValidationError("; ".join(report.failures), report)
        return report

    def log_to(self, run: Any, name: str = "training_set", context: str = "training") -> Dataset:
        """Log the set to a run as a dataset, with lineage to the view versions and entity set.

        Args:
            run: An active run (``start_experiment(...)``).
            name: The dataset's name.
            context: Its role for the run (training, validation, ...).
        """
        source = "features:" + ",".join(v.ref for v in self.views)
        dataset: Dataset = run.log_dataset(
            self.to_pandas(), name=name, context=context, source=source
        )
        if self._definitions is not None:
            edges = [
                ("feature_view", v.ref, "feature_input", "dataset", dataset.id) for v in self.views
            ]
            edges.append(("entity_set", self.entity_digest, "entities", "dataset", dataset.id))
            self._definitions.create_lineage(edges)
        return dataset

    def __repr__(self) -> str:
        return f"TrainingSet(views={[v.ref for v in self.views]})"
