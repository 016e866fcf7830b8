"""``FeatureStore``: the seed's entry point to definitions, training sets and online features.

It wires the three stores together (definitions in the metadata store, the offline engine over
the sources, an online store) and otherwise delegates: the point-in-time query is built by
``offline.py``, materialization by ``materialize.py``, lookups decoded by ``online.py``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from mlops.config import MLOpsConfig, with_locations
from mlops.errors import (
    ConfigError,
    FeatureDefinitionNotFoundError,
    InvalidFeatureInputError,
)
from mlops.features import engine, offline, specs
from mlops.features import online as lookup
from mlops.features.declare import declare_view
from mlops.features.entities import (
    Definition,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    ValueType,
)
from mlops.features.feast_backend import FeastBackend, generate_repo, unsupported
from mlops.features.materialize import (
    EPOCH,
    MaterializeResult,
    Progress,
    materialize_view,
    rich_progress,
    to_micros,
    validate_window,
    window_sql,
)
from mlops.features.plan import Plan, apply_plan, make_plan
from mlops.features.refs import parse_refs
from mlops.features.skew import SkewReport, check_skew
from mlops.features.sources import FileSource, FrameSource, Source, as_source
from mlops.features.store import DefinitionStore, Materialization, OnlineStore
from mlops.features.training import OnDemandStep, TrainingSet, apply_on_demand
from mlops.features.validation import ValidationReport
from mlops.handles import Completed

if TYPE_CHECKING:
    import sqlalchemy as sa

Keys = tuple[tuple[str, ValueType], ...]


class FeatureStore:
    """Feature definitions, point-in-time training sets, and online features.

    Args:
        backend: ``"mlops"`` (DuckDB offline, SQLite/Redis online) or ``"feast"``: the seed's
            calls (register_feature_view, get_historical_features, materialize*,
            get_online_features) carried out by a Feast repository (``feast_backend.py``).
        offline_store: Root folder (local or ``s3://``) of views registered without a source:
            view ``v`` reads ``<root>/v/``. Default: the ``features.offline_store`` setting,
            else ``<MLOPS_HOME>/features``.
        online_store: ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``. Default: the
            ``features.online_store`` setting (``MLOPS_FEATURES__ONLINE_STORE``), else
            ``sqlite:///<MLOPS_HOME>/online.db``.
        config: The mlops configuration (metadata store location, user).
        tracking_uri: Metadata store URI overriding the configuration's.
        show_progress: Show Rich progress bars during materialization.
        feast_repo: With ``backend="feast"``: an existing Feast repository folder; default, one
            generated under ``<MLOPS_HOME>/feast`` for the given stores.
        definitions: The definition store to use (default: the one on the configuration's
            metadata database); the tracking server passes the one on its open database.
    """

    def __init__(
        self,
        backend: str = "mlops",
        offline_store: str | None = None,
        online_store: str | None = None,
        *,
        config: MLOpsConfig | None = None,
        tracking_uri: str | None = None,
        show_progress: bool = True,
        feast_repo: str | None = None,
        definitions: DefinitionStore | None = None,
    ):
        if backend not in ("mlops", "feast"):
            raise ConfigError(
                f"unknown feature store backend {backend!r}; use 'mlops' (DuckDB offline, "
                "SQLite or Redis online) or 'feast' (a Feast repository; pip install "
                "'mlops[feast]')"
            )
        self.config = with_locations(config, tracking_uri)
        home = self.config.home
        settings = self.config.features
        offline_store = offline_store or settings.offline_store
        self.offline_root = (offline_store or str(home / "features")).rstrip("/")
        online_store = online_store or settings.online_store
        self.online_uri = online_store or f"sqlite:///{(home / 'online.db').resolve()}"
        self.show_progress = show_progress
        self._definitions: DefinitionStore | None = definitions
        self._online: OnlineStore | None = None
        self._frames: dict[str, pd.DataFrame | pa.Table] = {}
        self._functions: dict[str, Any] = {}
        self._cache: dict[str, tuple[float, FeatureView, Keys]] = {}
        self.cache_seconds = 5.0  # how long get_online_features trusts a view it has loaded
        self._feast: FeastBackend | None = None
        if backend == "feast":
            repo = (
                Path(feast_repo) if feast_repo else generate_repo(home / "feast", self.online_uri)
            )
            self._feast = FeastBackend(repo, self.offline_root)

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def definitions(self) -> DefinitionStore:
        """The definition store in the metadata database."""
        if self._definitions is None:
            # Imported here: the store layer imports this domain.
            from mlops.store.open import open_stores
            from mlops.store.sql.features import SqlDefinitionStore

            self._definitions = SqlDefinitionStore(open_stores(self.config).db)
        return self._definitions

    @property
    def online(self) -> OnlineStore:
        """The online store."""
        if self._online is None:
            self._online = lookup.open_online_store(self.online_uri)
        return self._online

    def _engine_for(self, uri: str | None) -> sa.engine.Engine:
        if uri is None:
            from mlops.store.open import open_stores

            return open_stores(self.config).db.engine
        from mlops.store.sql.engine import create_engine

        return create_engine(uri)

    def _scanner(self) -> engine.Scanner:
        return engine.Scanner(engine.connect(), self._frames, self._engine_for)

    def close(self) -> None:
        """Release the online store's connections."""
        if self._online is not None:
            self._online.close()

    # --- definitions ---------------------------------------------------------------------------

    def plan(self, *definitions: Definition, force: bool = False) -> Plan:
        """What ``apply`` would change; nothing is written."""
        if self._feast is not None:
            return self._feast.plan(definitions)[0]
        return make_plan(definitions, self.definitions, force)

    def apply(self, *definitions: Definition, force: bool = False) -> Plan:
        """Check definitions against their sources and store them (new versions as needed).

        Raises:
            BreakingChangeError: A view's schema changes incompatibly and ``force`` is False.
            InvalidFeatureInputError: A view's source lacks a column or has the wrong type.
            FeatureBackendUnsupportedError: With ``backend="feast"``, a definition Feast cannot
                hold (an on-demand view, a non-Parquet source, expectations).
        """
        if self._feast is not None:  # Feast's registry holds them, replaced as they change
            return self._feast.apply(definitions)
        batch_entities = {d.name: d for d in definitions if isinstance(d, Entity)}
        for d in definitions:
            if isinstance(d, FeatureView):
                if isinstance(d.source, FrameSource) and d.source.frame is not None:
                    self._frames[d.name] = d.source.frame
                keys = self._keys(d, batch_entities)
                scanner = self._scanner()
                engine.check_view_columns(d, scanner.columns(d), list(keys))
            elif isinstance(d, OnDemandFeatureView) and d.function is not None:
                self._functions[d.name] = d.function
            elif isinstance(d, FeatureService):
                batch = {
                    v.name: v
                    for v in definitions
                    if isinstance(v, FeatureView | OnDemandFeatureView)
                }
                self._check_service(d, batch)
        plan = make_plan(definitions, self.definitions, force)
        apply_plan(plan, self.definitions, self.config.user)
        self._cache.clear()
        return plan

    def _check_service(
        self, service: FeatureService, batch: Mapping[str, FeatureView | OnDemandFeatureView]
    ) -> None:
        for ref in parse_refs(service):
            target = batch.get(ref.view)
            if target is None:
                try:
                    target = self.get_feature_view(ref.view, ref.version)
                except FeatureDefinitionNotFoundError:
                    target = self._on_demand_or_raise(ref.view)
            if ref.feature is not None and ref.feature not in {f.name for f in target.features}:
                raise InvalidFeatureInputError(
                    f"feature service {service.name!r}: feature view {ref.view!r} has no feature "
                    f"{ref.feature!r}; it has {', '.join(f.name for f in target.features)}"
                )

    def register_feature_view(
        self,
        name: str,
        entities: Sequence[str | Entity],
        features: Sequence[str | Feature],
        ttl_hours: float | None = None,
        *,
        source: Source | str | pd.DataFrame | pa.Table | None = None,
        timestamp_field: str | None = None,
        created_timestamp_field: str | None = None,
        description: str = "",
        expectations: Sequence[Any] = (),
        force: bool = False,
    ) -> Completed[FeatureView]:
        """Define and apply a view in one call (the seed's form); awaitable.

        Entities and features may be given by name only: a name that is not a stored entity
        becomes one with a join key of that name; an entity named like a timestamp column
        (``timestamp``, ``event_timestamp``, ...) is taken as the view's timestamp column, as
        the seed lists it; feature types (``"temperature"`` or ``"temperature:float64"``) are
        read from the source when not given. Without a source the view reads
        ``<offline_store>/<name>/``.
        """
        src = as_source(source) if source is not None else FileSource(f"{self.offline_root}/{name}")
        if isinstance(src, FrameSource) and src.frame is not None:
            self._frames[name] = src.frame

        def known_entity(entity: str) -> Entity | None:
            if self._feast is not None:
                return None  # Feast's registry holds the entities
            try:
                return self.get_entity(entity)
            except FeatureDefinitionNotFoundError:
                return None

        view, new_entities = declare_view(
            self._scanner(), name, entities, features, src, known_entity,
            timestamp_field=timestamp_field,
            created_timestamp_field=created_timestamp_field,
            ttl=timedelta(hours=ttl_hours) if ttl_hours else None,
            description=description,
            expectations=tuple(expectations),
        )  # fmt: skip
        if self._feast is not None:
            self._feast.apply([*new_entities, view])
            return Completed(view)
        self.apply(*new_entities, view, force=force)
        return Completed(self.get_feature_view(name))

    def get_entity(self, name: str) -> Entity:
        """The stored entity ``name``."""
        stored = self.definitions.get_definition("entity", name)
        entity = specs.from_spec("entity", stored.spec, stored.version)
        assert isinstance(entity, Entity)
        return entity

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """The stored view (newest version unless ``version``)."""
        stored = self.definitions.get_definition("feature_view", name, version)
        view = specs.from_spec("feature_view", stored.spec, stored.version)
        assert isinstance(view, FeatureView)
        if isinstance(view.source, FrameSource) and name in self._frames:
            view = replace(view, source=FrameSource(self._frames[name], view.source.name))
        return view

    def get_feature_service(self, name: str) -> FeatureService:
        """The stored feature service ``name`` (with ``backend="feast"``: Feast's)."""
        if self._feast is not None:
            return self._feast.get_feature_service(name)
        stored = self.definitions.get_definition("feature_service", name)
        service = specs.from_spec("feature_service", stored.spec, stored.version)
        assert isinstance(service, FeatureService)
        return service

    def get_on_demand_view(self, name: str) -> OnDemandFeatureView:
        """The stored on-demand view, with its function (from this process or by import)."""
        stored = self.definitions.get_definition("on_demand_view", name)
        odfv = specs.from_spec("on_demand_view", stored.spec, stored.version)
        assert isinstance(odfv, OnDemandFeatureView)
        fn = self._functions.get(name)
        if fn is None and odfv.function_ref:
            module, _, qualname = odfv.function_ref.partition(":")
            try:
                obj: Any = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                fn = obj
            except (ImportError, AttributeError):
                fn = None  # reported when the function is needed
        return replace(odfv, function=fn) if fn is not None else odfv

    def list_definitions(self, kind: str | None = None) -> list[Definition]:
        """The newest version of every stored definition (optionally of one kind)."""
        return [
            specs.from_spec(s.kind, s.spec, s.version)
            for s in self.definitions.list_definitions(kind)
        ]

    def _keys(self, view: FeatureView, extra: Mapping[str, Entity] | None = None) -> Keys:
        keys: list[tuple[str, ValueType]] = []
        for name in view.entities:
            entity = (extra or {}).get(name)
            if entity is None:
                try:
                    entity = self.get_entity(name)
                except FeatureDefinitionNotFoundError:
                    raise InvalidFeatureInputError(
                        f"feature view {view.name!r} uses entity {name!r}, which is not defined; "
                        "apply the Entity with (or before) the view"
                    ) from None
            keys.extend(entity.join_keys)
        return tuple(keys)

    def _view(self, name: str, version: int | None = None) -> tuple[FeatureView, Keys]:
        view = self.get_feature_view(name, version)
        return view, self._keys(view)

    # --- offline -------------------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: pd.DataFrame | pa.Table,
        features: Sequence[str] | FeatureService | str,
        *,
        timestamp_column: str = "event_timestamp",
        known_at: bool = False,
        full_feature_names: bool = False,
    ) -> TrainingSet:
        """A point-in-time-correct training set: one row per entity row, features as of its time.

        Args:
            entity_df: Join keys and a timestamp column per row (other columns pass through).
                Naive timestamps are taken as UTC; aware ones are converted to UTC.
            features: ``["view:feature", "view", ...]``, a ``FeatureService`` or its name.
            timestamp_column: The entity_df column holding each row's time.
            known_at: Also require that a row had been written (created) by that time.
            full_feature_names: Name outputs ``view__feature`` instead of ``feature``.
        """
        if isinstance(features, str):
            features = self.get_feature_service(features)
        if self._feast is not None:
            if known_at:
                raise unsupported(
                    "known-at retrieval", "Feast has no created <= T rule; use backend='mlops'"
                )
            return self._feast_training_set(
                entity_df, features, timestamp_column, full_feature_names
            )
        refs = parse_refs(features)
        requests: dict[tuple[str, int | None], list[str]] = {}
        hidden: list[str] = []
        steps: list[tuple[OnDemandFeatureView, list[str]]] = []
        loaded: dict[tuple[str, int | None], tuple[FeatureView, Keys]] = {}

        def want(view_name: str, version: int | None, feature: str | None) -> list[str]:
            key = (view_name, version)
            if key not in loaded:
                loaded[key] = self._view(view_name, version)
            view = loaded[key][0]
            names = (
                [f.name for f in view.features] if feature is None else [view.feature(feature).name]
            )
            bucket = requests.setdefault(key, [])
            bucket.extend(n for n in names if n not in bucket)
            return names

        for ref in refs:
            try:
                want(ref.view, ref.version, ref.feature)
            except FeatureDefinitionNotFoundError:
                odfv = self._on_demand_or_raise(ref.view)
                inputs = []
                for inp in odfv.inputs:
                    v, _, f = inp.partition(":")
                    already = f in requests.get((v, None), [])
                    want(v, None, f)
                    if not already:
                        hidden.append(f)
                    inputs.append(f)
                steps.append((odfv, inputs))
        view_requests = [
            offline.ViewRequest(loaded[key][0], loaded[key][1], tuple(feats))
            for key, feats in requests.items()
        ]
        scanner = self._scanner()
        table = offline.as_arrow(entity_df)
        scanner.con.register("__mlops_entities", table)
        sql = offline.build_query(
            scanner,
            "__mlops_entities",
            timestamp_column,
            view_requests,
            known_at,
            full_feature_names,
        )
        outputs = [
            (f"{r.view.name}__{f}" if full_feature_names else f, r.view, f)
            for r in view_requests
            for f in r.features
        ]
        on_demand = [
            OnDemandStep(odfv, tuple(inputs), tuple(f.name for f in odfv.features))
            for odfv, inputs in steps
        ]
        return TrainingSet(
            scanner.con,
            sql,
            [r.view for r in view_requests],
            entity_df,
            on_demand,
            hidden,
            outputs,
            self.definitions,
        )

    def _feast_training_set(
        self, entity_df: Any, features: Any, timestamp_column: str, full_feature_names: bool
    ) -> TrainingSet:
        assert self._feast is not None
        frame = entity_df.to_pandas() if isinstance(entity_df, pa.Table) else entity_df
        frame = frame.rename(columns={timestamp_column: "event_timestamp"})
        result = self._feast.get_historical_features(frame, features, full_feature_names)
        con = engine.connect()
        con.register("__feast_result", result)
        return TrainingSet(con, "SELECT * FROM __feast_result", [], entity_df)

    def _on_demand_or_raise(self, name: str) -> OnDemandFeatureView:
        try:
            return self.get_on_demand_view(name)
        except FeatureDefinitionNotFoundError:
            raise FeatureDefinitionNotFoundError(
                f"no feature view or on-demand view named {name!r}; "
                "`mlops features list` shows what exists"
            ) from None

    # --- online --------------------------------------------------------------------------------

    def _views_to_materialize(self, views: Sequence[str] | None) -> list[FeatureView]:
        if views is None:
            found = self.list_definitions("feature_view")
            return [self.get_feature_view(v.name) for v in found]
        return [self.get_feature_view(v) for v in views]

    def materialize(
        self,
        start: datetime | None,
        end: datetime,
        views: Sequence[str] | None = None,
        *,
        validate: bool = True,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Write the latest value per entity with event time in [start, end] to the online store.

        Each view is written atomically: a reader sees its old values or all the new ones.
        ``start=None`` reads from the beginning. Expectations are checked first (``validate``).
        """
        return self._materialize(start, end, views, validate, progress, incremental=False)

    def materialize_incremental(
        self,
        end: datetime,
        views: Sequence[str] | None = None,
        *,
        validate: bool = True,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Materialize each view from where its last materialization ended up to ``end``."""
        return self._materialize(None, end, views, validate, progress, incremental=True)

    def _materialize(
        self,
        start: datetime | None,
        end: datetime,
        views: Sequence[str] | None,
        validate: bool,
        progress: Progress | None,
        incremental: bool,
    ) -> list[MaterializeResult]:
        if self._feast is not None:
            if incremental:
                self._feast.materialize_incremental(end, views)
            else:
                self._feast.materialize(start, end, views)
            return []  # Feast reports no per-view figures
        end_us = to_micros(end)
        results = []
        with rich_progress(self.show_progress) as bar:
            for view in self._views_to_materialize(views):
                keys = self._keys(view)
                start_us = None if start is None else to_micros(start)
                inclusive = True
                if incremental:
                    last = self.definitions.get_last_materialization(
                        view.name, view.version, self.online.uri
                    )
                    start_us, inclusive = (last.end_us, False) if last else (None, True)
                rows, report = materialize_view(
                    self._scanner(),
                    view,
                    list(keys),
                    self.online,
                    lookup.table_name(view),
                    start_us,
                    end_us,
                    inclusive,
                    validate,
                    progress or bar(view.name),
                )
                self.definitions.create_materialization(
                    Materialization(
                        view.name,
                        view.version,
                        self.online.uri,
                        start_us,
                        end_us,
                        rows,
                        int(time.time() * 1000),
                    )
                )
                begin = None if start_us is None else EPOCH + timedelta(microseconds=start_us)
                results.append(MaterializeResult(view.name, view.version, rows, begin, end, report))
        return results

    def _cached_view(self, name: str) -> tuple[FeatureView, Keys]:
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1], hit[2]
        view, keys = self._view(name)
        self._cache[name] = (now, view, keys)
        return view, keys

    def get_online_features(
        self,
        entities: Any,
        feature_view: str | None = None,
        features: Sequence[str] | FeatureService | None = None,
        *,
        full_feature_names: bool = False,
    ) -> lookup.OnlineFeatures:
        """The latest materialized (or pushed) values for some entities; awaitable.

        Args:
            entities: Key values: scalars (one key), tuples or dicts (compound keys), a dict of
                lists or a DataFrame.
            feature_view: Every feature of this view (or on-demand view).
            features: Or: ``"view:feature"`` references / a feature service.
            full_feature_names: Name outputs ``view__feature``.
        """
        if (feature_view is None) == (features is None):
            raise InvalidFeatureInputError(
                "give exactly one of feature_view= (all of a view's features) or features= "
                "('view:feature' references or a feature service)"
            )
        if self._feast is not None:
            if isinstance(features, str):
                features = self.get_feature_service(features)
            return self._feast.get_online_features(
                entities, feature_view, features, full_feature_names
            )
        refs = parse_refs([feature_view] if feature_view is not None else features or [])
        wanted: dict[str, list[str]] = {}
        steps: list[OnDemandFeatureView] = []
        for ref in refs:
            try:
                view, _keys = self._cached_view(ref.view)
            except FeatureDefinitionNotFoundError:
                odfv = self._on_demand_or_raise(ref.view)
                steps.append(odfv)
                for inp in odfv.inputs:
                    v, _, f = inp.partition(":")
                    wanted.setdefault(v, [])
                    if f not in wanted[v]:
                        wanted[v].append(f)
                continue
            names = [f.name for f in view.features] if ref.feature is None else [ref.feature]
            bucket = wanted.setdefault(ref.view, [])
            bucket.extend(n for n in names if n not in bucket and view.feature(n))
        columns: dict[str, list[Any]] = {}
        stamps: dict[str, list[Any]] = {}
        fresh: dict[str, list[bool]] = {}
        now_us = time.time_ns() // 1000
        for name, feats in wanted.items():
            view, keys = self._cached_view(name)
            by_key = lookup.key_columns(entities, keys, name)
            for key, key_values in by_key.items():
                columns.setdefault(key, key_values)
            encoded = lookup.encode_keys(by_key, keys, name)
            found = self.online.read(lookup.table_name(view), encoded)
            values, stamps[name], fresh[name] = lookup.decode(view, feats, found, now_us)
            for feature, column in values.items():
                columns[f"{name}__{feature}" if full_feature_names else feature] = column
        if steps:
            frame = pd.DataFrame(columns)
            on_demand = [
                OnDemandStep(
                    s,
                    tuple(i.split(":", 1)[1] for i in s.inputs),
                    tuple(f.name for f in s.features),
                )
                for s in steps
            ]
            frame = apply_on_demand(frame, on_demand)
            columns = {c: frame[c].tolist() for c in frame.columns}
        return lookup.OnlineFeatures(columns, stamps, fresh)

    def push(
        self,
        feature_view: str,
        rows: pd.DataFrame | pa.Table | Sequence[Mapping[str, Any]],
        *,
        to_offline: bool = False,
    ) -> int:
        """Write streaming rows straight to the online store (an older event never replaces a
        newer one); with ``to_offline`` also append them as a Parquet file to the view's folder.
        Returns the number of entities written.

        With ``backend="feast"`` the rows go through Feast's ``write_to_online_store`` (and
        ``write_to_offline_store``); Feast's SQLite store keeps the last row pushed for a key,
        whatever its time.
        """
        if self._feast is not None:
            pushed_frame = rows.to_pandas() if isinstance(rows, pa.Table) else pd.DataFrame(rows)
            return self._feast.push(feature_view, pushed_frame, to_offline)
        view, keys = self._view(feature_view)
        frame = rows if isinstance(rows, pd.DataFrame | pa.Table) else pd.DataFrame(list(rows))
        pushed = replace(view, source=FrameSource(frame, "push"))
        written, _ = materialize_view(
            self._scanner(),
            pushed,
            list(keys),
            self.online,
            lookup.table_name(view),
            None,
            to_micros(datetime(9999, 1, 1, tzinfo=UTC)),
            validate=False,
            atomic=False,
        )
        if to_offline:
            self._append_offline(view, frame)
        self._cache.pop(feature_view, None)
        return written

    def _append_offline(self, view: FeatureView, frame: pd.DataFrame | pa.Table) -> None:
        src = view.source
        if (
            not isinstance(src, FileSource)
            or src.format != "parquet"
            or src.path.endswith(".parquet")
        ):
            raise InvalidFeatureInputError(
                f"push(to_offline=True) appends Parquet files to the folder of feature view "
                f"{view.name!r}, but its source is {src.to_spec()}; give it a folder source"
            )
        engine.append_parquet(src.path, frame)

    # --- validation ----------------------------------------------------------------------------

    def validate(
        self, feature_view: str, start: datetime | None = None, end: datetime | None = None
    ) -> ValidationReport:
        """Statistics of a view's source rows in [start, end] and its expectations' outcome."""
        if self._feast is not None:
            raise unsupported(
                "validation", "Feast has no expectations; validate with backend='mlops'"
            )
        view, keys = self._view(feature_view)
        scanner = self._scanner()
        end_us = to_micros(end or datetime(9999, 1, 1, tzinfo=UTC))
        window = window_sql(
            scanner, view, list(keys), None if start is None else to_micros(start), end_us
        )
        return validate_window(scanner.con, view, [k for k, _ in keys], window)

    def check_skew(
        self,
        feature_view: str,
        sample: int = 100,
        *,
        stattest: str | Mapping[str, str] | None = None,
        threshold: float | Mapping[str, float] | None = None,
    ) -> SkewReport:
        """Compare online values of a sample of entities with their offline point-in-time values
        as of the view's last materialization, exactly and with the monitoring domain's drift
        tests (see ``skew.py``).

        Args:
            feature_view: The view's name.
            sample: How many of its entities to compare.
            stattest: A drift test name (``mlops.monitoring.STATTESTS``) for every feature or
                per feature; default: chosen per column type, as model monitoring does.
            threshold: The test's threshold, for every feature or per feature.
        """
        if self._feast is not None:
            raise unsupported(
                "the skew check", "it compares mlops' own materializations; use backend='mlops'"
            )
        return check_skew(self, feature_view, sample, stattest=stattest, threshold=threshold)
