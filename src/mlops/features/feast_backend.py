"""``FeatureStore(backend="feast")``: the seed's calls, carried out by a real Feast repository.

A team that has a Feast repository (``feast_repo=`` naming its folder, with its
``feature_store.yaml``) keeps its definitions, registry and stores; without one, a repository
is generated under ``<MLOPS_HOME>/feast`` from the ``offline_store`` / ``online_store`` URIs
(Feast's ``file`` offline store, its ``sqlite`` or ``redis`` online store). Every call goes
through Feast's own API (``apply``, ``get_historical_features``, ``materialize``,
``get_online_features``), so the results are Feast's, including where its semantics differ
from mlops' (see docs/features.md, "Feast backend").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from mlops.errors import ConfigError, InvalidFeatureInputError
from mlops.features.entities import ValueType
from mlops.features.online import OnlineFeatures


def _feast() -> Any:
    try:
        import feast
    except ImportError as exc:
        raise ConfigError(
            "backend='feast' needs Feast: pip install 'mlops[feast]' (or use backend='mlops')"
        ) from exc
    return feast


def _online_yaml(uri: str, folder: Path) -> str:
    if uri.startswith("sqlite:///"):
        return f"online_store:\n  type: sqlite\n  path: {uri.removeprefix('sqlite:///')}\n"
    if uri.startswith("redis://"):
        parts = urlsplit(uri)
        db = parts.path.strip("/") or "0"
        return f'online_store:\n  type: redis\n  connection_string: "{parts.netloc},db={db}"\n'
    raise ConfigError(
        f"the Feast backend supports sqlite:/// and redis:// online stores, not {uri!r}"
    )


def generate_repo(folder: Path, online_store: str) -> Path:
    """A Feast repository folder for these stores (kept if it exists already)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "feature_store.yaml"
    if not config.exists():
        config.write_text(
            "project: mlops\nprovider: local\n"
            f"registry: {folder / 'registry.db'}\n"
            + _online_yaml(online_store, folder)
            + "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
        )
    return folder


class FeastBackend:
    """The seed's feature-store calls on a Feast ``FeatureStore``.

    Args:
        repo: The Feast repository folder (with ``feature_store.yaml``).
        offline_root: Where views registered without a source read their Parquet files.
    """

    def __init__(self, repo: Path, offline_root: str):
        feast = _feast()
        self.feast = feast
        self.offline_root = offline_root
        self.store = feast.FeatureStore(repo_path=str(repo))

    def _type(self, kind: ValueType) -> Any:
        from feast import types

        return {
            ValueType.INT64: types.Int64,
            ValueType.FLOAT64: types.Float64,
            ValueType.STRING: types.String,
            ValueType.BOOL: types.Bool,
            ValueType.TIMESTAMP: types.UnixTimestamp,
        }[kind]

    def register_feature_view(
        self,
        name: str,
        keys: Sequence[tuple[str, ValueType]],
        features: Sequence[tuple[str, ValueType]],
        ttl: timedelta | None,
        path: str,
        timestamp_field: str,
        created_timestamp_field: str | None,
    ) -> Any:
        """Apply an entity per join key and the view to the Feast registry."""
        feast = self.feast
        entities = [
            feast.Entity(
                name=key,
                join_keys=[key],
                value_type=feast.ValueType.INT64
                if kind is ValueType.INT64
                else feast.ValueType.STRING,
            )
            for key, kind in keys
        ]
        source = feast.FileSource(
            name=f"{name}_source",
            path=path,
            timestamp_field=timestamp_field,
            created_timestamp_column=created_timestamp_field or "",
        )
        view = feast.FeatureView(
            name=name,
            entities=entities,
            ttl=ttl or timedelta(0),
            schema=[feast.Field(name=f, dtype=self._type(t)) for f, t in features],
            source=source,
        )
        self.store.apply([*entities, view])
        return view

    def get_historical_features(
        self, entity_df: pd.DataFrame, features: Sequence[str], full_feature_names: bool
    ) -> pd.DataFrame:
        """Feast's point-in-time join (its entity frame's time column is ``event_timestamp``)."""
        job = self.store.get_historical_features(
            entity_df=entity_df, features=list(features), full_feature_names=full_feature_names
        )
        frame: pd.DataFrame = job.to_df()
        return frame

    def materialize(
        self, start: datetime | None, end: datetime, views: Sequence[str] | None
    ) -> None:
        """Feast's materialization of [start, end]."""
        begin = start or datetime(1970, 1, 1, tzinfo=UTC)
        self.store.materialize(begin, end, feature_views=list(views) if views else None)

    def materialize_incremental(self, end: datetime, views: Sequence[str] | None) -> None:
        """Feast's incremental materialization (from its last end, or ``end - ttl``)."""
        self.store.materialize_incremental(end, feature_views=list(views) if views else None)

    def get_online_features(self, entities: Any, feature_view: str) -> OnlineFeatures:
        """Online values, event times and freshness from Feast's online store."""
        view = self.store.get_feature_view(feature_view)
        keys = [c.name for c in view.entity_columns]
        rows = [
            e
            if isinstance(e, dict)
            else dict(zip(keys, e if isinstance(e, tuple | list) else [e], strict=True))
            for e in entities
        ]
        if not rows:
            raise InvalidFeatureInputError("get_online_features needs at least one entity")
        refs = [f"{feature_view}:{f.name}" for f in view.features]
        result = self.store.get_online_features(features=refs, entity_rows=rows).to_dict(
            include_event_timestamps=True
        )
        columns = {k: [r[k] for r in rows] for k in keys}
        stamps: list[datetime | None] = []
        seconds = result.get(f"{view.features[0].name}__ts", [0] * len(rows))
        for s in seconds:
            stamps.append(datetime.fromtimestamp(s, tz=UTC) if s else None)
        now = datetime.now(UTC)
        ttl = view.ttl if view.ttl and view.ttl.total_seconds() else None
        fresh = [s is not None and (ttl is None or s >= now - ttl) for s in stamps]
        for f in view.features:
            columns[f.name] = result[f.name]
        return OnlineFeatures(columns, {feature_view: stamps}, {feature_view: fresh})
