"""Training/serving skew: do the online values equal what training would have seen?

For a sample of a view's entities, the online value is compared with the offline point-in-time
value at the end of the view's last materialization (the time the online value is "as of").
A value older than the TTL at that time is expected to be null offline. Differences mean the
online store and the offline source disagree: a push never logged offline, a source rewritten
after materialization, or a bug in either path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.errors import FeatureStoreError, InvalidStateError
from mlops.features.engine import quote

if TYPE_CHECKING:
    from mlops.features.feature_store import FeatureStore


class SkewCheckError(FeatureStoreError, InvalidStateError):
    """Skew cannot be checked (e.g. the view was never materialized)."""


@dataclass
class SkewReport:
    """Per feature, how many sampled entities differ between online and offline."""

    view: str
    at: datetime
    sampled: int
    mismatches: dict[str, int]
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every sampled value agrees."""
        return not any(self.mismatches.values())


def _same(a: Any, b: Any, tolerance: float) -> bool:
    a_null = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NaT
    b_null = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NaT
    if a_null or b_null:
        return a_null and b_null
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)
    return bool(a == b)


def check_skew(
    store: FeatureStore, view_name: str, sample: int = 100, tolerance: float = 1e-9
) -> SkewReport:
    """Compare online and offline values of up to ``sample`` entities of a view."""
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
    for i, stamp in enumerate(online.event_timestamps[view.name]):
        expired = stamp is not None and ttl_floor is not None and stamp < ttl_floor
        for feature in view.features:
            served = None if expired else online[feature.name][i]
            trained = frame[f"{view.name}__{feature.name}"].iloc[i]
            trained = None if pd.isna(trained) else trained
            if not _same(served, trained, tolerance):
                mismatches[feature.name] += 1
                if len(examples) < 10:
                    key = {k: entity_cols[k][i] for k in names}
                    examples.append(
                        {"key": key, "feature": feature.name, "online": served, "offline": trained}
                    )
    return SkewReport(view.name, at, len(rows), mismatches, examples)
