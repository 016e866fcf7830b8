"""From what a request touches (its targets) to the scopes roles are granted on."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mlops.auth.entities import Scope
from mlops.auth.store import AuthStore
from mlops.errors import NotFoundError
from mlops.experiments.store import TrackingStore
from mlops.models.store import RegistryStore
from mlops.monitoring.store import MonitoringStore

Target = tuple[str, str]
"""What a request touches: ``("experiment", id)``, ``("run", id)``, ``("model", name)``,
``("request", id)``, ``("alert", id)`` (on its model), ``("artifact", path)``,
``("artifact_uri", uri)``, ``("run_prefix", p)``, ``("experiment_name", name)``; any other
kind (``("new_experiment", name)``, an admin's ``("user", name)``) is checked against the
global role."""


class ScopeResolver:
    """Maps targets onto the scopes grants are given on, caching what never changes.

    A run never moves to another experiment and a request never changes its model, so their
    lookups are cached (bounded) and a busy client's metric batches cost no extra query.
    """

    MAX_CACHED = 100_000

    def __init__(
        self,
        store: AuthStore,
        tracking: TrackingStore,
        registry: RegistryStore,
        monitoring: MonitoringStore | None = None,
    ):
        self.store = store
        self.tracking = tracking
        self.registry = registry
        self.monitoring = monitoring
        self._run_experiment: dict[str, str] = {}
        self._request_model: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, targets: Sequence[Target]) -> list[tuple[Scope, str]]:
        """The scopes of ``targets`` (none for no targets: the global role then counts)."""
        targets = [self._direct(kind, ident) for kind, ident in targets]
        scopes: dict[tuple[Scope, str], None] = {}
        runs = [ident for kind, ident in targets if kind == "run"]
        experiments = self._experiments_of(runs) if runs else {}
        for kind, ident in targets:
            if kind == "experiment":
                scopes[(Scope.EXPERIMENT, ident)] = None
            elif kind == "run":
                # An unknown run is checked globally: only a global role may learn it is missing.
                exp = experiments.get(ident)
                scopes[(Scope.EXPERIMENT, exp) if exp else (Scope.GLOBAL, "")] = None
            elif kind == "model":
                scopes[(Scope.MODEL, ident)] = None
            elif kind == "request":
                scopes[(Scope.MODEL, self._model_of(ident))] = None
            elif kind == "alert":
                scopes[self._alert_scope(ident)] = None
            elif kind == "artifact":
                scopes[artifact_scope(ident)] = None
            else:
                scopes[(Scope.GLOBAL, "")] = None
        return list(scopes)

    def _direct(self, kind: str, ident: str) -> Target:
        """A target named indirectly (a name, a prefix, a URI) as the run or path it names."""
        if kind == "experiment_name":
            return "experiment", self.tracking.get_experiment_by_name(ident).id
        if kind == "run_prefix":
            return "run", self.tracking.resolve_run_id(ident)
        if kind == "artifact_uri":
            record = self.tracking.get_artifact(ident)
            return ("run", record.run_id) if record.run_id else ("artifact", record.path)
        return kind, ident

    def _experiments_of(self, runs: list[str]) -> dict[str, str]:
        with self._lock:
            known = {r: self._run_experiment[r] for r in runs if r in self._run_experiment}
        missing = [r for r in runs if r not in known]
        if missing:
            found = self.store.experiments_of_runs(missing)
            with self._lock:
                if len(self._run_experiment) > self.MAX_CACHED:
                    self._run_experiment.clear()
                self._run_experiment.update(found)
            known.update(found)
        return known

    def _alert_scope(self, alert_id: str) -> tuple[Scope, str]:
        """An alert is on its model; an unknown alert, or one of no registered model, is
        checked globally (only a global role may learn what exists beyond its grants)."""
        if self.monitoring is None or not alert_id.isdigit():
            return Scope.GLOBAL, ""
        try:
            model = self.monitoring.get_alert(int(alert_id)).model_name
        except NotFoundError:
            return Scope.GLOBAL, ""
        return (Scope.MODEL, model) if model else (Scope.GLOBAL, "")

    def _model_of(self, request_id: str) -> str:
        with self._lock:
            name = self._request_model.get(request_id)
        if name is None:
            name = self.registry.get_request(int(request_id)).name
            with self._lock:
                if len(self._request_model) > self.MAX_CACHED:
                    self._request_model.clear()
                self._request_model[request_id] = name
        return name


def artifact_scope(artifact_path: str) -> tuple[Scope, str]:
    """The scope an artifact path lies in: ``<experiment id>/...`` or ``models/<name>/...``.

    Anything else (an experiment with its own artifact location, the root) needs a global role.
    """
    parts = artifact_path.strip("/").split("/")
    if parts[0].isdigit():
        return Scope.EXPERIMENT, parts[0]
    if parts[0] == "models" and len(parts) > 1 and parts[1]:
        return Scope.MODEL, parts[1]
    return Scope.GLOBAL, ""
