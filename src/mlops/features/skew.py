"""Training/serving skew: do the online values equal what training would have seen?

For a sample of a view's entities, the online value is compared with the offline point-in-time
value at the end of the view's last materialization (the time the online value is "as of").
A value older than the TTL at that time is expected to be null offline. Differences mean the
online store and the offline source disagree: a push never logged offline, a source rewritten
after materialization, or a bug in either path.

Exact comparison says *how many* values differ; it cannot say whether the difference matters to
a model. So each feature's two samples (offline as the reference, online as the current data)
also go through the monitoring domain's drift tests (``mlops.monitoring.detect_drift``: the
same stattests and thresholds as model monitoring, chosen per column type), and the report
gives per feature the test, its statistic and p-value or distance, and the verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.errors import SkewCheckError
from mlops.features.engine import quote
from mlops.features.entities import Feature, FeatureView, ValueType

if TYPE_CHECKING:
    from mlops.features.feature_store import FeatureStore


@dataclass(frozen=True)
class SkewTest:
    """One feature's drift test, offline sample (reference) against online sample (current).

    ``score`` is what was compared with ``threshold``: the p-value (drift when at or below) or
    the distance (drift when at or above). ``stattest`` is None when there was nothing to test
    (a side without values); ``note`` then says why.
    """

    feature: str
    stattest: str | None
    statistic: float | None
    p_value: float | None
    score: float | None
    threshold: float | None
    drifted: bool
    note: str | None = None


@dataclass
class SkewReport:
    """Per feature: how many sampled entities differ exactly, and the drift test's verdict."""

    view: str
    at: datetime
    sampled: int
    mismatches: dict[str, int]
    examples: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, SkewTest] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        """Features whose online and offline samples differ in distribution."""
        return [name for name, test in self.tests.items() if test.drifted]

    @property
    def ok(self) -> bool:
        """True when every sampled value agrees (and so no distribution differs)."""
        return not any(self.mismatches.values()) and not self.drifted


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def _same(a: Any, b: Any, tolerance: float) -> bool:
    a_null, b_null = _null(a), _null(b)
    if a_null or b_null:
        return a_null and b_null
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)
    return bool(a == b)


def _numeric(values: list[Any], dtype: ValueType) -> list[Any]:
    """Values a drift test can take: timestamps as epoch seconds, the rest as they are."""
    if dtype is not ValueType.TIMESTAMP:
        return values
    return [None if _null(v) else pd.Timestamp(v).timestamp() for v in values]


_NUMERIC = (ValueType.INT64, ValueType.FLOAT64, ValueType.TIMESTAMP)


def _frame(features: list[Feature], values: dict[str, list[Any]]) -> pd.DataFrame:
    """One side's sample as a frame: numbers as floats (None as NaN), categories as objects."""
    columns = {}
    for f in features:
        column = pd.Series(_numeric(values[f.name], f.dtype), dtype=object)
        columns[f.name] = pd.to_numeric(column) if f.dtype in _NUMERIC else column
    return pd.DataFrame(columns)


def drift_tests(
    view: FeatureView,
    offline: dict[str, list[Any]],
    online: dict[str, list[Any]],
    stattest: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
) -> dict[str, SkewTest]:
    """Each feature's offline sample against its online one, by the monitoring domain's tests."""
    from mlops.monitoring import detect_drift  # here: monitoring's imports are not needed before

    tests: dict[str, SkewTest] = {}
    testable = []
    for feature in view.features:
        empty = [
            side
            for side, values in (("offline", offline), ("online", online))
            if all(_null(v) for v in values[feature.name])
        ]
        if empty:
            note = f"no {' or '.join(empty)} values in the sample: nothing to test"
            tests[feature.name] = SkewTest(feature.name, None, None, None, None, None, False, note)
        else:
            testable.append(feature)
    if not testable:
        return tests
    frames = [_frame(testable, side) for side in (offline, online)]
    categorical = [f.name for f in testable if f.dtype in (ValueType.STRING, ValueType.BOOL)]
    with warnings.catch_warnings():
        # scipy's exact KS test gives up on some samples with ties and says so while it falls
        # back to the asymptotic p-value, which is still the right answer (not an error).
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        result = detect_drift(
            frames[0],
            frames[1],
            stattest=stattest,
            stattest_threshold=threshold,
            categorical_columns=categorical,
        )
    for f in testable:
        c = result.columns[f.name]
        tests[f.name] = SkewTest(
            f.name, c.stattest, c.statistic, c.p_value, c.score, c.threshold, c.drifted, c.note
        )
    return {f.name: tests[f.name] for f in view.features}


def check_skew(
    store: FeatureStore,
    view_name: str,
    sample: int = 100,
    tolerance: float = 1e-9,
    stattest: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
) -> SkewReport:
    """Compare online and offline values of up to ``sample`` entities of a view: exactly, and
    in distribution with the monitoring domain's drift tests (``stattest``/``threshold`` as in
    ``mlops.monitoring.detect_drift``; default: chosen per column type)."""
    view = store.get_feature_view(view_name)
    keys = store._keys(view)
    last = store.definitions.get_last_materialization(view.name, view.version, store.online.uri)
    if last is None:
        raise SkewCheckError(
            f"feature view {view.name!r} v{view.version} was never materialized into "
            f"{store.online.uri}; run materialize first"
        )
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=last.end_us)
    scanner = store._scanner()
    names = [k for k, _ in keys]
    cols = ", ".join(quote(k) for k in names)
    rows = scanner.con.execute(
        f"SELECT DISTINCT {cols} FROM {scanner.relation(view)} "
        f"WHERE {' AND '.join(f'{quote(k)} IS NOT NULL' for k in names)} "
        f"ORDER BY hash({cols}) LIMIT {int(sample)}"
    ).fetchall()
    entity_cols = {k: [r[i] for r in rows] for i, k in enumerate(names)}
    online = store.get_online_features(entity_cols, feature_view=view.name)
    entity_df = pd.DataFrame({**entity_cols, "event_timestamp": [at] * len(rows)})
    offline = store.get_historical_features(entity_df, [view.name], full_feature_names=True)
    frame = offline.to_pandas()
    ttl_floor = at - view.ttl if view.ttl else None
    mismatches = {f.name: 0 for f in view.features}
    examples: list[dict[str, Any]] = []
    served_values: dict[str, list[Any]] = {f.name: [] for f in view.features}
    trained_values: dict[str, list[Any]] = {f.name: [] for f in view.features}
    for i, stamp in enumerate(online.event_timestamps[view.name]):
        expired = stamp is not None and ttl_floor is not None and stamp < ttl_floor
        for feature in view.features:
            served = None if expired else online[feature.name][i]
            trained = frame[f"{view.name}__{feature.name}"].iloc[i]
            trained = None if pd.isna(trained) else trained
            served_values[feature.name].append(served)
            trained_values[feature.name].append(trained)
            if not _same(served, trained, tolerance):
                mismatches[feature.name] += 1
                if len(examples) < 10:
                    key = {k: entity_cols[k][i] for k in names}
                    examples.append(
                        {"key": key, "feature": feature.name, "online": served, "offline": trained}
                    )
    tests = drift_tests(view, trained_values, served_values, stattest, threshold)
    return SkewReport(view.name, at, len(rows), mismatches, examples, tests)
