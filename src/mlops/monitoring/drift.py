"""``DriftDetector``: is the current data still distributed like the reference?

Fitting summarizes the reference once (``summaries.py``); a check prepares each current column
once (sorted values or counts) and runs the column's test (``stattests.py``) against the
summary. The dataset drifted when the share of drifted columns exceeds ``alert_threshold``.
Streaming (``log_predictions``) lives in ``streaming.py`` and ends every window in this same
check, so a window and a batch of the same rows get the same verdicts.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from mlops.errors import NotFittedError
from mlops.monitoring import multivariate as mv
from mlops.monitoring.frames import as_frame, with_text_columns
from mlops.monitoring.results import ColumnDrift, DriftResult, MultivariateDrift
from mlops.monitoring.stattests import CurrentColumn, StatTest, default_stattest, get_stattest
from mlops.monitoring.summaries import (
    ColumnSummary,
    Kind,
    cap_categories,
    category_counts,
    column_kind,
    from_arrays,
    numeric_values,
    summarize_column,
    to_arrays,
)
from mlops.monitoring.units import InvalidMonitoringInputError
from mlops.monitoring.windows import WindowSpec

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ModelVersion
    from mlops.monitoring.streaming import Ack, DriftStream

PREDICTION = "prediction"
T = TypeVar("T")
FORMAT_VERSION = 1


class DriftDetector:
    """Data and prediction drift of a model's inputs against a reference.

    Args:
        reference_data: The reference (training or validation data): a DataFrame, Arrow table,
            numpy array, Parquet/CSV path or a logged ``Dataset``. Summarized on first use.
        detection_window: Window of ``log_predictions``: a duration ("15m", "1h", "1d") or a
            number of rows (an int).
        alert_threshold: The dataset drifted when more than this share of columns drifted.
        columns: Columns to watch (default: every reference column).
        stattest: One test name for every column, or a mapping column -> test name. Default:
            chosen per column by type and size (``stattests.default_stattest``).
        stattest_threshold: Threshold for the tests (one number or per column); default each
            test's own (0.05 for p-values, 0.1 for distances).
        categorical_columns: Numeric-typed columns to treat as categories (codes, ids).
        reference_predictions: The model's outputs on the reference, for prediction drift.
        multivariate: Also run the domain-classifier check (slower: trains a classifier).
        name: The detector's name in the store (default: from the model version or the
            reference's content), so a restarted process resumes its open window.
        model_version: The registered version (``ModelVersion`` or "name/3") the detector
            watches; windows' results are stored linked to it.
        config: Store configuration (default: the environment's).
        persist: Keep open windows and results in the metadata store (default True).
        deployment: The deployment whose traffic is watched (serving passes its id); stored with
            every window result, and it gives the deployment its own windows.
    """

    def __init__(
        self,
        reference_data: Any = None,
        detection_window: str | int | float = "1h",
        alert_threshold: float = 0.1,
        columns: Sequence[str] | None = None,
        stattest: str | Mapping[str, str] | None = None,
        stattest_threshold: float | Mapping[str, float] | None = None,
        categorical_columns: Sequence[str] | None = None,
        reference_predictions: Any = None,
        multivariate: bool = False,
        name: str | None = None,
        model_version: ModelVersion | str | None = None,
        config: MLOpsConfig | None = None,
        persist: bool = True,
        deployment: str | None = None,
    ):
        if not 0.0 <= float(alert_threshold) <= 1.0:
            raise InvalidMonitoringInputError(
                f"alert_threshold {alert_threshold!r} is a share of columns: give 0..1 (0.1 = 10%)"
            )
        if isinstance(stattest, str):
            get_stattest(stattest)
        elif stattest is not None:
            for test in stattest.values():
                get_stattest(test)
        self.reference_data = reference_data
        self.detection_window = detection_window
        self.window = WindowSpec.parse(detection_window)
        self.alert_threshold = float(alert_threshold)
        self.columns = list(columns) if columns is not None else None
        self.stattest = stattest
        self.stattest_threshold = stattest_threshold
        self.categorical_columns = list(categorical_columns or [])
        self.reference_predictions = reference_predictions
        self.multivariate = multivariate
        self.name = name
        self.model_version = model_version
        self.config = config
        self.persist = persist
        self.deployment = deployment
        self._stream: DriftStream | None = None

    # --- fitting -------------------------------------------------------------------------------

    def fit(self, reference_data: Any = None, reference_predictions: Any = None) -> DriftDetector:
        """Summarize the reference (sorting each numeric column once). Returns ``self``."""
        data = reference_data if reference_data is not None else self.reference_data
        if data is None:
            raise NotFittedError(
                "DriftDetector has no reference data: pass reference_data=... or call fit(data)"
            )
        frame = as_frame(data, "reference_data")
        if len(frame) == 0:
            raise InvalidMonitoringInputError("reference_data is empty (0 rows)")
        names = [str(c) for c in frame.columns]
        frame = with_text_columns(frame)
        wanted = self.columns if self.columns is not None else names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidMonitoringInputError(
                f"columns {missing} are not in the reference data, which has: {', '.join(names)}"
            )
        unknown = [c for c in self.categorical_columns if c not in wanted]
        if unknown:
            raise InvalidMonitoringInputError(
                f"categorical_columns {unknown} are not among the watched columns"
            )

        def summarize(column: str) -> ColumnSummary:
            kind: Kind = (
                "categorical" if column in self.categorical_columns else column_kind(frame[column])
            )
            return summarize_column(frame[column], column, kind)

        summaries = []
        for summary in parallel_map(summarize, wanted, len(frame)):
            column = summary.name
            if summary.count == 0:
                raise InvalidMonitoringInputError(
                    f"reference column {column!r} has no values (all missing); drop it with "
                    "columns=[...] or fix the reference"
                )
            if summary.kind == "categorical":
                summary.counts = cap_categories(summary.counts)
            summaries.append(summary)
        self.reference_ = summaries
        self.kinds_ = {s.name: s.kind for s in summaries}
        preds = (
            reference_predictions
            if reference_predictions is not None
            else (self.reference_predictions)
        )
        self.prediction_reference_: ColumnSummary | None = None
        if preds is not None:
            series = _prediction_series(preds)
            self.prediction_reference_ = summarize_column(series, PREDICTION)
        self.multivariate_sample_ = (
            mv.sample_rows(mv.encode(frame, summaries)) if self.multivariate else None
        )
        self.rows_ = len(frame)
        return self

    @property
    def fitted(self) -> bool:
        return hasattr(self, "reference_")

    def _ensure_fitted(self) -> None:
        if not self.fitted:
            self.fit()

    # --- checking ------------------------------------------------------------------------------

    def check(
        self,
        current_data: Any,
        predictions: Any = None,
        *,
        multivariate: bool | None = None,
        window_start: float | None = None,
        window_end: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DriftResult:
        """Compare ``current_data`` (and ``predictions``, if the reference has them) with the
        reference.

        Raises:
            InvalidMonitoringInputError: The current data is empty, lacks watched columns, or
                holds text where the reference has numbers.
        """
        self._ensure_fitted()
        frame = as_frame(current_data, "current_data", [s.name for s in self.reference_])
        frame = with_text_columns(frame)
        if len(frame) == 0:
            raise InvalidMonitoringInputError(
                "current_data is empty (0 rows): a drift check needs at least one row"
            )
        absent = [s.name for s in self.reference_ if s.name not in frame.columns]
        if absent:
            raise InvalidMonitoringInputError(
                f"current_data lacks columns {absent} that the reference has; current columns: "
                f"{', '.join(map(str, frame.columns))}"
            )
        ready = parallel_map(lambda s: prepare(s, frame[s.name]), self.reference_, len(frame))
        prepared = {s.name: p for s, p in zip(self.reference_, ready, strict=True)}
        prediction = None
        if predictions is not None and self.prediction_reference_ is not None:
            series = _prediction_series(predictions)
            prediction = self.check_column(
                self.prediction_reference_, prepare(self.prediction_reference_, series)
            )
        multi = None
        if multivariate if multivariate is not None else self.multivariate:
            if self.multivariate_sample_ is None:
                raise InvalidMonitoringInputError(
                    "multivariate drift needs the reference sample: create the detector with "
                    "multivariate=True"
                )
            multi = mv.domain_classifier_drift(
                self.multivariate_sample_,
                mv.encode(frame, self.reference_),
                [s.name for s in self.reference_],
            )
        return self.verdict(
            prepared, len(frame), prediction, multi, window_start, window_end, progress
        )

    def verdict(
        self,
        prepared: Mapping[str, tuple[CurrentColumn, int, int]],
        n_rows: int,
        prediction: ColumnDrift | None = None,
        multivariate: MultivariateDrift | None = None,
        window_start: float | None = None,
        window_end: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DriftResult:
        """The result for current columns already prepared (``prepare``); ``progress`` is
        called with each column's name once it is checked."""
        columns = {}
        rows = max((p[0].count for p in prepared.values()), default=0)

        def one(s: ColumnSummary) -> ColumnDrift:
            column = self.check_column(s, prepared[s.name])
            if progress is not None:
                progress(s.name)
            return column

        for s, column in zip(
            self.reference_, parallel_map(one, self.reference_, rows), strict=True
        ):
            columns[s.name] = column
        tested = len(columns)
        share = sum(c.drifted for c in columns.values()) / tested if tested else 0.0
        return DriftResult(
            columns=columns,
            drift_share=share,
            alert_threshold=self.alert_threshold,
            dataset_drift=share > self.alert_threshold,
            n_rows=n_rows,
            prediction=prediction,
            multivariate=multivariate,
            window_start=window_start,
            window_end=window_end,
        )

    def _test_for(self, ref: ColumnSummary, cur: CurrentColumn) -> tuple[StatTest, float]:
        name = (
            self.stattest if isinstance(self.stattest, str) else (self.stattest or {}).get(ref.name)
        )
        test = get_stattest(name) if name else default_stattest(ref, cur)
        if ref.kind not in test.column_kinds:
            raise InvalidMonitoringInputError(
                f"stattest {test.name!r} does not apply to {ref.kind} column {ref.name!r}; it "
                f"takes {' or '.join(test.column_kinds)} columns"
            )
        if isinstance(self.stattest_threshold, int | float):
            threshold = float(self.stattest_threshold)
        else:
            threshold = float((self.stattest_threshold or {}).get(ref.name, test.default_threshold))
        return test, threshold

    def check_column(
        self, ref: ColumnSummary, prepared: tuple[CurrentColumn, int, int]
    ) -> ColumnDrift:
        """One column's verdict."""
        cur, missing, infinite = prepared
        total = cur.count + missing
        missing_share = missing / total if total else 1.0
        new = []
        if ref.kind == "categorical":
            new = sorted(k for k in cur.counts if k not in ref.counts)[:20]
        notes = []
        if infinite:
            notes.append(f"{infinite} infinite values counted as missing")
        if cur.count == 0:
            return ColumnDrift(
                column=ref.name,
                kind=ref.kind,
                stattest="missing",
                stattest_kind="verdict",
                statistic=float("nan"),
                p_value=None,
                score=float("nan"),
                threshold=float("nan"),
                drifted=True,
                reference_count=ref.count,
                current_count=0,
                missing_share_reference=ref.missing_share,
                missing_share_current=missing_share,
                constant=ref.constant,
                note="every current value is missing: counted as drifted",
            )
        test, threshold = self._test_for(ref, cur)
        outcome = test.compute(ref, cur)
        score = test.score(outcome)
        if not np.isfinite(score):
            notes.append(f"{test.name} gave {score}; counted as drifted")
            drifted = True
        else:
            drifted = test.drifted(score, threshold)
        if new:
            notes.append(f"{len(new)} categories not in the reference")
        if ref.constant:
            notes.append("constant in the reference")
        return ColumnDrift(
            column=ref.name,
            kind=ref.kind,
            stattest=test.name,
            stattest_kind=test.kind,
            statistic=outcome.statistic,
            p_value=outcome.p_value,
            score=score,
            threshold=threshold,
            drifted=bool(drifted),
            reference_count=ref.count,
            current_count=cur.count,
            missing_share_reference=ref.missing_share,
            missing_share_current=missing_share,
            new_categories=new,
            constant=ref.constant,
            note="; ".join(notes) or None,
        )

    # --- streaming (see streaming.py) ----------------------------------------------------------

    @property
    def stream(self) -> DriftStream:
        if self._stream is None:
            from mlops.monitoring.streaming import DriftStream

            self._ensure_fitted()
            self._stream = DriftStream(self)
        return self._stream

    def log_predictions(
        self, features: Any, predictions: Any = None, timestamp: float | None = None
    ) -> Ack:
        """Add rows to the current window: a cheap enqueue, awaitable or ``.wait()``-able.

        The returned handle completes once the rows are durable in the store (or, with
        ``persist=False``, applied in memory): what was acknowledged survives a restart.
        """
        return self.stream.log(features, predictions, timestamp)

    def start_monitoring(self) -> Any:
        """Start the background writer and window timer (idempotent); awaitable."""
        from mlops.handles import Completed

        self.stream.start()
        return Completed(self)

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything logged so far is durable."""
        if self._stream is not None:
            self._stream.flush(timeout)

    def close_window(self) -> DriftResult | None:
        """Close the open window now, store and return its result (None if it is empty)."""
        return self.stream.close_window()

    def stop(self) -> None:
        """Flush and stop the background writer; the open window stays stored for a restart."""
        if self._stream is not None:
            self._stream.stop()

    def results(self, limit: int = 100) -> list[DriftResult]:
        """The stored results of this detector's closed windows, oldest first."""
        return self.stream.results(limit)

    # --- saving --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The fitted detector (settings and reference summary) as one ``.npz`` blob."""
        self._ensure_fitted()
        settings = {
            "format": FORMAT_VERSION,
            "detection_window": self.detection_window,
            "alert_threshold": self.alert_threshold,
            "columns": [s.name for s in self.reference_],
            "stattest": self.stattest,
            "stattest_threshold": self.stattest_threshold,
            "categorical_columns": self.categorical_columns,
            "multivariate": self.multivariate,
            "name": self.name,
            "rows": self.rows_,
        }
        arrays = to_arrays(self.reference_)
        arrays["settings"] = np.frombuffer(json.dumps(settings).encode(), dtype=np.uint8)
        if self.prediction_reference_ is not None:
            arrays.update(to_arrays([self.prediction_reference_], prefix="pred_"))
        if self.multivariate_sample_ is not None:
            arrays["mv_sample"] = self.multivariate_sample_
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to ``path`` (a ``.npz`` file; no pickle)."""
        target = Path(path)
        target.write_bytes(self.to_bytes())
        return target

    @classmethod
    def from_bytes(cls, blob: bytes, **overrides: Any) -> DriftDetector:
        """A fitted detector from ``to_bytes``; ``overrides`` set constructor arguments."""
        try:
            arrays = np.load(io.BytesIO(blob), allow_pickle=False)
            settings = json.loads(bytes(arrays["settings"]).decode())
        except (ValueError, OSError, KeyError) as exc:
            raise InvalidMonitoringInputError(f"not a saved DriftDetector: {exc}") from exc
        if settings.get("format") != FORMAT_VERSION:
            raise InvalidMonitoringInputError(
                f"saved detector format {settings.get('format')!r} is not {FORMAT_VERSION}"
            )
        kwargs: dict[str, Any] = {
            k: settings[k]
            for k in (
                "detection_window",
                "alert_threshold",
                "columns",
                "stattest",
                "stattest_threshold",
                "categorical_columns",
                "multivariate",
                "name",
            )
        }
        kwargs.update(overrides)
        detector = cls(**kwargs)
        detector.reference_ = from_arrays(arrays)
        detector.kinds_ = {s.name: s.kind for s in detector.reference_}
        detector.prediction_reference_ = (
            from_arrays(arrays, prefix="pred_")[0] if "pred_header" in arrays else None
        )
        detector.multivariate_sample_ = arrays.get("mv_sample", None)
        detector.rows_ = int(settings["rows"])
        return detector

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> DriftDetector:
        """Read a detector written by ``save``."""
        source = Path(path)
        if not source.is_file():
            raise InvalidMonitoringInputError(f"no saved detector at {str(source)!r}")
        return cls.from_bytes(source.read_bytes(), **overrides)

    def attach(self, model_version: ModelVersion | str, config: MLOpsConfig | None = None) -> str:
        """Store this detector with a registered model version; returns the detector's name.

        ``DriftDetector.for_model(model_version)`` loads it back in any process.
        """
        from mlops.monitoring.store import monitoring_store

        store = monitoring_store(config or self.config)
        name, version = store.resolve_version(model_version)
        if name is None or version is None:
            raise InvalidMonitoringInputError(
                f"{model_version!r} is not a registered model version; register the model first"
            )
        self.model_version = f"{name}/{version}"
        self.name = self.name or default_name(name, version)
        store.save_detector(self.name, name, version, self.to_bytes())
        return self.name

    @classmethod
    def for_model(
        cls,
        model_version: ModelVersion | str,
        name: str | None = None,
        config: MLOpsConfig | None = None,
        **overrides: Any,
    ) -> DriftDetector:
        """The detector attached to ``model_version`` (the newest one, or the one named)."""
        from mlops.monitoring.store import monitoring_store

        store = monitoring_store(config)
        model, version = store.resolve_version(model_version)
        detector_name, blob = store.get_detector(model, version, name)
        return cls.from_bytes(
            blob,
            name=detector_name,
            model_version=f"{model}/{version}",
            config=config,
            **overrides,
        )


PARALLEL_ROWS = 5_000  # below this, handing columns to threads costs more than it saves
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def parallel_map(fn: Callable[[Any], T], items: Sequence[Any], rows: int) -> list[T]:
    """``[fn(x) for x in items]``, on a shared thread pool when the columns are long.

    Why threads help: sorting, binary searches and histograms release the GIL, so columns are
    checked side by side; results do not depend on the order they finish in.
    """
    global _pool
    workers = min(os.cpu_count() or 1, 8)
    if rows < PARALLEL_ROWS or workers < 2 or len(items) < 2:
        return [fn(x) for x in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlops-drift")
        pool = _pool
    return list(pool.map(fn, items))


_SAFE = re.compile(r"[^\w.\-]")


def default_name(model: str, version: int) -> str:
    return _SAFE.sub("_", f"{model}-v{version}-drift")


def deployment_name(monitor: str, deployment: str | None) -> str:
    """The monitor of one deployment's traffic: two deployments of a version (a canary and the
    stable one) must not share windows, so each gets its own stream of chunks and results."""
    if deployment is None:
        return monitor
    return f"{monitor}@{_SAFE.sub('_', deployment)}"


def prepare(ref: ColumnSummary, series: pd.Series) -> tuple[CurrentColumn, int, int]:
    """One current column as the tests want it: (column, missing count, infinite count)."""
    if ref.kind == "categorical":
        counts, missing = category_counts(series)
        return CurrentColumn("categorical", counts=counts), missing, 0
    values = numeric_values(series, ref.name)
    finite_mask = np.isfinite(values)
    if finite_mask.all():  # the common case: one pass fewer, and a sorted copy (never in place)
        return CurrentColumn("numeric", values=np.sort(values)), 0, 0
    infinite = int(np.count_nonzero(np.isinf(values)))
    finite = values[finite_mask]
    finite.sort()
    return CurrentColumn("numeric", values=finite), int(values.size - finite.size), infinite


def _prediction_series(predictions: Any) -> pd.Series:
    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] != 1:
            raise InvalidMonitoringInputError(
                f"predictions have {predictions.shape[1]} columns; pass one column of outputs"
            )
        return predictions.iloc[:, 0].rename(PREDICTION)
    if isinstance(predictions, pd.Series):
        return predictions.rename(PREDICTION)
    arr = np.asarray(predictions)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidMonitoringInputError(
            f"predictions have shape {arr.shape}; pass one output per row"
        )
    return pd.Series(arr, name=PREDICTION)


def detect_drift(
    reference_data: Any,
    current_data: Any,
    *,
    columns: Sequence[str] | None = None,
    stattest: str | Mapping[str, str] | None = None,
    stattest_threshold: float | Mapping[str, float] | None = None,
    alert_threshold: float = 0.1,
    categorical_columns: Sequence[str] | None = None,
    multivariate: bool = False,
) -> DriftResult:
    """One-shot drift check of ``current_data`` against ``reference_data`` (the seed's function)."""
    detector = DriftDetector(
        reference_data,
        alert_threshold=alert_threshold,
        columns=columns,
        stattest=stattest,
        stattest_threshold=stattest_threshold,
        categorical_columns=categorical_columns,
        multivariate=multivariate,
        persist=False,
    )
    return detector.check(current_data)
