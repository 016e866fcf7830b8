"""``FeatureStore(backend="feast")``: the seed's calls, carried out by a real Feast repository.

A team that has a Feast repository (``feast_repo=`` naming its folder, with its
``feature_store.yaml``) keeps its definitions, registry and stores; without one, a repository
is generated under ``<MLOPS_HOME>/feast`` from the ``offline_store`` / ``online_store`` URIs
(Feast's ``file`` offline store, its ``sqlite`` or ``redis`` online store). Every call goes
through Feast's own API (``apply``, ``get_historical_features``, ``materialize``,
``get_online_features``, ``write_to_online_store``/``write_to_offline_store`` for pushes,
``FeatureService``), so the results are Feast's, including where its semantics differ from
mlops' (see docs/features.md, "Feast backend"). What Feast has no API for (expectations,
known-at retrieval, the skew check) raises ``FeatureBackendUnsupportedError``.

Mapping: an mlops entity with one join key is a Feast entity of the same name; a compound one
becomes one Feast entity per key (Feast entities have a single join key), named
``<entity>__<key>`` and tagged ``mlops_entity=<entity>``. Feast keeps no versions: applying a
changed view replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from mlops.errors import (
    ConfigError,
    FeatureBackendUnsupportedError,
    FeatureDefinitionNotFoundError,
    InvalidFeatureInputError,
)
from mlops.features.entities import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    ValueType,
)
from mlops.features.online import OnlineFeatures
from mlops.features.plan import Change, Plan
from mlops.features.refs import parse_refs
from mlops.features.sources import FileSource


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
        f"the Feast backend supports sqlite:/// and redis:// online stores, not {uri!r}; "
        "use sqlite:///PATH or redis://HOST:PORT/DB"
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


ENTITY_TAG = "mlops_entity"


def unsupported(what: str, instead: str) -> FeatureBackendUnsupportedError:
    """The error for a call Feast has no API for, naming what to do instead."""
    return FeatureBackendUnsupportedError(
        f"{what} is not supported by the feast backend; {instead}"
    )


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

    def _value_type(self, kind: ValueType) -> Any:
        v = self.feast.ValueType
        return {
            ValueType.INT64: v.INT64,
            ValueType.FLOAT64: v.DOUBLE,
            ValueType.STRING: v.STRING,
            ValueType.BOOL: v.BOOL,
            ValueType.TIMESTAMP: v.UNIX_TIMESTAMP,
        }[kind]

    # --- definitions ---------------------------------------------------------------------------

    def _entities(self, entity: Entity) -> list[Any]:
        """The Feast entities of an mlops entity: itself, or one per key of a compound key."""
        if len(entity.join_keys) == 1:
            [(key, kind)] = entity.join_keys
            return [
                self.feast.Entity(
                    name=entity.name,
                    join_keys=[key],
                    value_type=self._value_type(kind),
                    description=entity.description,
                )
            ]
        return [
            self.feast.Entity(
                name=f"{entity.name}__{key}",
                join_keys=[key],
                value_type=self._value_type(kind),
                description=entity.description,
                tags={ENTITY_TAG: entity.name},
            )
            for key, kind in entity.join_keys
        ]

    def _registered_entities(self, name: str) -> list[Any]:
        """The Feast entities an mlops entity name stands for, from Feast's registry."""
        found = [
            e
            for e in self.store.list_entities()
            if e.name == name or e.tags.get(ENTITY_TAG) == name
        ]
        if not found:
            raise FeatureDefinitionNotFoundError(
                f"no entity {name!r} in the Feast registry; apply the Entity with the view"
            )
        return found

    def _view(self, view: FeatureView, batch: Mapping[str, list[Any]]) -> Any:
        src = view.source
        if not isinstance(src, FileSource) or src.format != "parquet":
            raise unsupported(
                f"feature view {view.name!r} reads {src.to_spec()}, which",
                "Feast's file offline store reads Parquet files: give the view a Parquet "
                "FileSource, or use backend='mlops'",
            )
        if view.expectations:
            raise unsupported(
                f"feature view {view.name!r} has expectations, which",
                "Feast has no expectations: drop them, or use backend='mlops'",
            )
        entities = []
        for name in view.entities:
            entities += batch.get(name) or self._registered_entities(name)
        source = self.feast.FileSource(
            name=f"{view.name}_source",
            path=src.path,
            timestamp_field=view.timestamp_field,
            created_timestamp_column=view.created_timestamp_field or "",
        )
        return self.feast.FeatureView(
            name=view.name,
            entities=entities,
            ttl=view.ttl or timedelta(0),
            schema=[
                self.feast.Field(name=f.name, dtype=self._type(f.dtype)) for f in view.features
            ],
            source=source,
            description=view.description,
            tags=dict(view.tags),
        )

    def _service(self, service: FeatureService) -> Any:
        refs = [
            ref.view if ref.feature is None else f"{ref.view}:{ref.feature}"
            for ref in parse_refs(service)
        ]
        return self.feast.FeatureService(
            name=service.name, features=refs, description=service.description
        )

    def _on_demand(self, odfv: OnDemandFeatureView, views: Mapping[str, Any]) -> Any:
        """A Feast on-demand view running the mlops function: Feast stores the UDF as source
        text, so the text imports the function by its reference, as mlops does elsewhere."""
        module, _, qualname = odfv.function_ref.partition(":")
        if not module or not qualname or "<" in qualname:
            raise unsupported(
                f"on-demand view {odfv.name!r}, whose function is not importable by name,",
                "define the function at the top level of a module (not inline or as a lambda)",
            )
        by_view: dict[str, list[str]] = {}
        for ref in odfv.inputs:
            view_name, _, feature = ref.partition(":")
            by_view.setdefault(view_name, []).append(feature)
        sources = []
        for view_name, features in by_view.items():
            view = views.get(view_name) or self.store.get_feature_view(view_name)
            sources.append(view[features])
        inputs = [ref.partition(":")[2] for ref in odfv.inputs]
        name = f"{odfv.name.replace('-', '_').replace('.', '_')}_udf"
        text = (
            f"def {name}(frame):\n"
            "    import importlib\n"
            f"    fn = importlib.import_module({module!r})\n"
            f"    for part in {qualname!r}.split('.'):\n"
            "        fn = getattr(fn, part)\n"
            f"    return fn(frame[{inputs!r}])\n"
        )
        namespace: dict[str, Any] = {}
        exec(text, namespace)
        return self.feast.OnDemandFeatureView(
            name=odfv.name,
            sources=sources,
            schema=[
                self.feast.Field(name=f.name, dtype=self._type(f.dtype)) for f in odfv.features
            ],
            udf=namespace[name],
            udf_string=text,
            mode="pandas",
            description=odfv.description,
        )

    def _exists(self, kind: str, name: str) -> bool:
        listed = {
            "entity": self.store.list_entities,
            "feature_view": self.store.list_feature_views,
            "on_demand_view": self.store.list_on_demand_feature_views,
            "feature_service": self.store.list_feature_services,
        }[kind]()
        return any(o.name == name for o in listed)

    def plan(self, definitions: Sequence[Definition]) -> tuple[Plan, list[Any]]:
        """The Feast objects of ``definitions`` and the plan of applying them (Feast replaces a
        changed object: every change is a create or an update, and nothing is versioned)."""
        batch = {d.name: self._entities(d) for d in definitions if isinstance(d, Entity)}
        objects: list[Any] = []
        changes = []
        views: dict[str, Any] = {}
        order = {Entity: 0, FeatureView: 1, OnDemandFeatureView: 2, FeatureService: 3}
        for d in sorted(definitions, key=lambda d: order[type(d)]):
            if isinstance(d, Entity):
                kind, made = "entity", batch[d.name]
            elif isinstance(d, FeatureView):
                views[d.name] = self._view(d, batch)
                kind, made = "feature_view", [views[d.name]]
            elif isinstance(d, OnDemandFeatureView):
                kind, made = "on_demand_view", [self._on_demand(d, views)]
            else:
                kind, made = "feature_service", [self._service(d)]
            objects += made
            action = "update" if self._exists(kind, made[0].name) else "create"
            changes.append(Change(kind, d.name, action, 1, "in Feast's registry"))
        return Plan(tuple(changes), tuple(definitions)), objects

    def apply(self, definitions: Sequence[Definition]) -> Plan:
        """Apply the definitions to Feast's registry (``FeatureStore.apply``)."""
        plan, objects = self.plan(definitions)
        self.store.apply(objects)
        return plan

    def _any_view(self, name: str) -> Any:
        """A feature view or on-demand view of Feast's registry."""
        errors = self.feast.errors
        try:
            return self.store.get_feature_view(name)
        except errors.FeatureViewNotFoundException:
            pass
        try:
            return self.store.get_on_demand_feature_view(name)
        except errors.OnDemandFeatureViewNotFoundException:
            raise FeatureDefinitionNotFoundError(
                f"no feature view or on-demand view {name!r} in the Feast registry; apply it "
                "first (`feast feature-views list` shows what exists)"
            ) from None

    def get_feature_service(self, name: str) -> FeatureService:
        """A Feast feature service, as mlops' ``FeatureService`` of ``view:feature`` refs."""
        try:
            service = self.store.get_feature_service(name)
        except self.feast.errors.FeatureServiceNotFoundException:
            raise FeatureDefinitionNotFoundError(
                f"no feature service {name!r} in the Feast registry; apply it first"
            ) from None
        refs = [
            f"{p.name_to_use()}:{f.name}"
            for p in service.feature_view_projections
            for f in p.features
        ]
        return FeatureService(service.name, tuple(refs), service.description)

    # --- data ----------------------------------------------------------------------------------

    def _features(self, features: Sequence[str] | FeatureService) -> Any:
        """Feast's ``features=``: its own FeatureService object for a service, else the refs."""
        if isinstance(features, FeatureService):
            return self.store.get_feature_service(features.name)
        return list(features)

    def get_historical_features(
        self,
        entity_df: pd.DataFrame,
        features: Sequence[str] | FeatureService,
        full_feature_names: bool,
    ) -> pd.DataFrame:
        """Feast's point-in-time join (its entity frame's time column is ``event_timestamp``)."""
        job = self.store.get_historical_features(
            entity_df=entity_df,
            features=self._features(features),
            full_feature_names=full_feature_names,
        )
        frame: pd.DataFrame = job.to_df()
        return frame

    def push(self, view_name: str, frame: pd.DataFrame, to_offline: bool) -> int:
        """Rows straight into Feast's online store (``write_to_online_store``, what a Feast push
        source's push does) and, with ``to_offline``, its offline store; returns the entities."""
        view = self.store.get_feature_view(view_name)
        keys = [c.name for c in view.entity_columns]
        missing = [c for c in keys if c not in frame.columns]
        if missing:
            raise InvalidFeatureInputError(
                f"push to feature view {view_name!r}: the rows lack its join key column(s) "
                f"{', '.join(missing)}; include them in every row"
            )
        self.store.write_to_online_store(view_name, frame.copy())  # Feast converts in place
        if to_offline:
            if not view.batch_source.path.endswith(".parquet"):
                raise unsupported(
                    f"push(to_offline=True) to feature view {view_name!r}, which reads a folder,",
                    "Feast's file offline store appends to a single Parquet file source only: "
                    "give the view one file, or push online only",
                )
            try:
                self.store.write_to_offline_store(view_name, frame)
            except ValueError as exc:  # Feast's "columns do not match the batch source"
                raise InvalidFeatureInputError(
                    f"push(to_offline=True) to feature view {view_name!r}: {exc}; push rows "
                    "with exactly the source's columns"
                ) from exc
        return len(frame[keys].drop_duplicates())

    def materialize(
        self, start: datetime | None, end: datetime, views: Sequence[str] | None
    ) -> None:
        """Feast's materialization of [start, end]."""
        begin = start or datetime(1970, 1, 1, tzinfo=UTC)
        self.store.materialize(begin, end, feature_views=list(views) if views else None)

    def materialize_incremental(self, end: datetime, views: Sequence[str] | None) -> None:
        """Feast's incremental materialization (from its last end, or ``end - ttl``)."""
        self.store.materialize_incremental(end, feature_views=list(views) if views else None)

    def get_online_features(
        self,
        entities: Any,
        feature_view: str | None,
        features: Sequence[str] | FeatureService | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        """Online values, event times and freshness from Feast's online store."""
        if feature_view is not None:
            wanted: Any = [
                f"{feature_view}:{f.name}"
                for f in self.store.get_feature_view(feature_view).features
            ]
        else:
            wanted = self._features(features or [])
        refs = (
            [
                f"{p.name_to_use()}:{f.name}"
                for p in wanted.feature_view_projections
                for f in p.features
            ]
            if not isinstance(wanted, list)
            else wanted
        )
        by_view: dict[str, list[str]] = {}
        views: dict[str, Any] = {}  # the stored views, with their keys and TTLs
        on_demand: set[str] = set()
        for ref in parse_refs(refs):
            view = self._any_view(ref.view)
            names = by_view.setdefault(ref.view, [])
            names += [f.name for f in view.features] if ref.feature is None else [ref.feature]
            if isinstance(view, self.feast.OnDemandFeatureView):
                on_demand.add(ref.view)
                for source in view.source_feature_view_projections:
                    views.setdefault(source, self.store.get_feature_view(source))
            else:
                views[ref.view] = view
        keys = list(dict.fromkeys(c.name for v in views.values() for c in v.entity_columns))
        rows = _entity_rows(entities, keys)
        result = self.store.get_online_features(
            features=wanted, entity_rows=rows, full_feature_names=full_feature_names
        ).to_dict(include_event_timestamps=True)
        columns: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in keys}
        stamps: dict[str, list[datetime | None]] = {}
        fresh: dict[str, list[bool]] = {}
        now = datetime.now(UTC)
        for name in on_demand:  # computed at request time: no event time of their own
            for feature in by_view[name]:
                column = f"{name}__{feature}" if full_feature_names else feature
                columns[column] = result[column]
        for name, view in views.items():
            if name not in by_view:
                continue  # only read as an on-demand view's input
            first = by_view[name][0]
            seconds = result.get(
                f"{name}__{first}__ts" if full_feature_names else f"{first}__ts",
                [0] * len(rows),
            )
            stamps[name] = [datetime.fromtimestamp(s, tz=UTC) if s else None for s in seconds]
            ttl = view.ttl if view.ttl and view.ttl.total_seconds() else None
            fresh[name] = [s is not None and (ttl is None or s >= now - ttl) for s in stamps[name]]
            for feature in by_view[name]:
                column = f"{name}__{feature}" if full_feature_names else feature
                columns[column] = result[column]
        return OnlineFeatures(columns, stamps, fresh)


def _entity_rows(entities: Any, keys: list[str]) -> list[dict[str, Any]]:
    """Feast's ``entity_rows``: one dict of join keys per entity."""
    if isinstance(entities, pd.DataFrame):
        entities = entities[keys].to_dict("records")
    elif isinstance(entities, Mapping):
        entities = [
            dict(zip(entities, values, strict=True))
            for values in zip(*entities.values(), strict=True)
        ]
    rows = []
    for e in entities:
        values = e if isinstance(e, dict | tuple | list) else [e]
        if not isinstance(values, dict) and len(values) != len(keys):
            raise InvalidFeatureInputError(
                f"entity {e!r} has {len(values)} key value(s) but the lookup's join keys are "
                f"{', '.join(keys)}; give one value per key, in that order"
            )
        rows.append(values if isinstance(values, dict) else dict(zip(keys, values, strict=True)))
    if not rows:
        raise InvalidFeatureInputError(
            "get_online_features needs at least one entity; pass the keys to look up"
        )
    return rows
