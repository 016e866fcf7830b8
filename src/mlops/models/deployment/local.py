"""``LocalDeployment``: model server processes on this machine behind a local traffic router.

Each backend (``stable`` at first; a ``canary`` added beside it) is a set of ``mlops serve``
child processes, one per replica. The router (``TrafficRouter`` on uvicorn, in a thread of this
process) is the deployment's one address: it splits traffic by backend weight, sticky by the
``X-Routing-Key`` header, and resends a request whose replica died to another replica.

The first ``deploy()`` starts the stable version. ``deploy(new_version)`` on a running
deployment rolls the new version out with the deployment's strategy (``strategy.py``) in a
background thread and returns the ``Rollout`` at once. Everything is recorded in the store; a
finished rollout promotes the version in the registry (``promotion.py``).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import uvicorn

from mlops.config import MLOpsConfig, load_config
from mlops.errors import DeploymentError, InvalidInputError, InvalidStateError
from mlops.models.deployment.base import DeploymentStatus, ModelDeployment, model_uri
from mlops.models.deployment.promotion import Promotion, roll_back_promotion
from mlops.models.deployment.records import Recorder, resolve_version
from mlops.models.deployment.rollout import Rollout
from mlops.models.deployment.router import Backend, TrafficRouter
from mlops.models.deployment.runner import run_rollout
from mlops.models.deployment.strategy import RolloutStrategy, make_strategy, strategy_from
from mlops.models.entities import ModelVersion
from mlops.models.serving.options import ServingOptions
from mlops.models.serving.server import ModelServing, serve_in_thread

__all__ = ["LocalDeployment"]

_FIXED = re.compile(r"models:/[^/]+/\d+")
DRAIN_SECONDS = 1.0


class LocalDeployment(ModelDeployment):
    """Replicas of a model version on this machine behind one routing address.

    Args:
        model_version: A registered ``ModelVersion`` or a ``models:/`` reference.
        replicas: Server processes for it.
        strategy: How later versions roll out: a ``RolloutStrategy`` or a name (``canary``,
            ``blue_green``, ``rolling``) with default settings.
        name: The deployment's name in the store (default: the model's name).
        host: Interface the router listens on.
        port: The router's port (0: a free one; see ``url`` after ``deploy``).
        options: Each replica's serving options.
        config: Where the registry and the deployment records are (default: the environment's).
        record: Record deployments, steps and rollbacks in the store.
        promote_to: The registry stage a version that finished a rollout (100 %, every gate
            passed) is promoted to, with the deployment id as lineage (approval rules apply:
            a request is filed when they require one); ``None`` leaves the registry alone.
            A rollback of such a deployment rolls the registry back too.
        drain_seconds: How long replicas taken out of the routing table keep running before
            they stop, so requests already routed to them are answered.
    """

    target = "local"

    def __init__(
        self,
        model_version: ModelVersion | str,
        replicas: int = 2,
        *,
        strategy: RolloutStrategy | str = "canary",
        name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServingOptions | None = None,
        config: MLOpsConfig | None = None,
        record: bool = True,
        promote_to: str | None = "production",
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        if replicas < 1:
            raise InvalidInputError(f"replicas must be at least 1, got {replicas}")
        self.model_uri = model_uri(model_version)
        self.replicas = replicas
        self.strategy = (
            make_strategy(strategy, replicas=replicas) if isinstance(strategy, str) else strategy
        )
        self.name = name
        self.host = host
        self.port = port
        self.options = options or ServingOptions()
        self.config = config
        self.record = record
        self.promote_to = promote_to
        self.drain_seconds = drain_seconds
        self.promotion: Promotion | None = None
        """What the last finished rollout did in the registry (undone by ``rollback``)."""
        self.servers: dict[str, list[ModelServing]] = {}
        self.router: TrafficRouter | None = None
        self.rollout: Rollout | None = None
        """The latest rollout (the first ``deploy`` included)."""
        self.previous_uri: str | None = None
        """The fixed version (``models:/NAME/N``) the stable backend served before the last
        promotion: a manual rollback's target. Never a stage or alias, which a promotion moves."""
        self.promoted_by: str | None = None
        """The deployment id of the rollout (or rollback) that made the stable backend what it
        is: the one rollout a rollback by id may name once nothing is running."""
        self._stable_fixed: str | None = None
        self._stopping = threading.Event()
        self.abort = threading.Event()
        self.abort_reason = ""
        self._control_token = secrets.token_urlsafe(24)
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _config(self) -> MLOpsConfig:
        if self.config is None:
            self.config = load_config()
        return self.config

    def deploy(self, model_version: ModelVersion | str | None = None) -> Rollout:
        """Start serving; on a running deployment, roll ``model_version`` out by the strategy.

        The first call starts the replicas and the router and returns a finished ``Rollout``.
        A later call starts the new version's replicas beside the stable ones and returns the
        running ``Rollout`` at once: ``.wait()`` or ``await`` it. A failed gate rolls back by
        itself (``status == "rolled_back"``).

        Raises:
            InvalidStateError: A rollout is already in progress, or no new version was given to
                a running deployment.
        """
        with self._lock:
            if self.router is None:
                if model_version is not None:
                    self.model_uri = model_uri(model_version)
                return self._deploy_first()
            if model_version is None:
                raise InvalidStateError(
                    "this deployment is already deployed; pass the model version to roll out"
                )
            if self.rollout is not None and not self.rollout.done():
                raise InvalidStateError(
                    f"rollout {self.rollout.deployment_id} is still running; wait for it or "
                    "roll it back first"
                )
            uri = model_uri(model_version)
            version = resolve_version(uri, self._config())
            stable = resolve_version(self.model_uri, self._config())
            recorder = self._recorder(
                self.strategy.name, version, stable.version, self.strategy.describe()
            )
            rollout = Rollout(recorder.deployment_id, self)
            recorder.rollout = rollout
            self.rollout = rollout
            self.abort.clear()
            thread = threading.Thread(
                target=run_rollout,
                args=(self, rollout, recorder, self.strategy, version),
                name="mlops-rollout",
                daemon=True,
            )
            thread.start()
            return rollout

    def _deploy_first(self) -> Rollout:
        self._stopping.clear()
        version = resolve_version(self.model_uri, self._config())
        self._stable_fixed = _fixed_uri(version)
        recorder = self._recorder("direct", version, None, {"replicas": self.replicas})
        rollout = Rollout(recorder.deployment_id, self)
        recorder.rollout = rollout
        try:
            stable = self._start_backend("stable", self.model_uri, self.replicas, 1.0)
            self.router = TrafficRouter(
                [stable],
                control=self._control,
                control_token=self._control_token,
                max_body_size=self.options.max_body_size,
            )
            self._uvicorn, self._thread, self._socket = serve_in_thread(
                self.router, self.host, self.port, 30.0, name="mlops-router"
            )
            self.port = self._socket.getsockname()[1]
            while not self._uvicorn.started and self._thread.is_alive():
                threading.Event().wait(0.01)
        except BaseException as exc:
            # Whatever stopped the start (a replica that would not come up, an interrupt), the
            # record says so before the error goes on to the caller.
            recorder.finish("failed", str(exc) or type(exc).__name__)
            self.stop()
            raise
        recorder.event("step", traffic=100.0, detail={"replicas": self.replicas})
        recorder.update(url=self.url)
        recorder.finish("succeeded", f"serving {self.model_uri} at {self.url}")
        self.rollout = rollout
        return rollout

    def _recorder(
        self,
        strategy: str,
        version: ModelVersion,
        previous: int | None,
        settings: dict[str, Any],
    ) -> Recorder:
        store = None
        if self.record:
            from mlops.models.deployment.store import deployment_store

            store = deployment_store(self._config())
        return Recorder.start(
            store,
            name=self.name or version.name,
            target=self.target,
            strategy=strategy,
            version=version,
            previous_version=previous,
            settings=settings,
            user=self._config().user,
            url=self.url if self.router is not None else None,
            control_token=self._control_token,
        )

    def add_backend(
        self,
        name: str,
        model_version: ModelVersion | str,
        replicas: int = 1,
        weight: float = 0.0,
        *,
        monitor_as: Sequence[str] | None = None,
    ) -> None:
        """Start another backend (a canary) beside the others, with ``weight`` of the traffic.

        ``monitor_as``: one monitoring tag per replica (``replica_tags``); the replicas then
        feed the version's ``ModelMonitor`` with their predictions under their tag (what a
        ``MonitoringDriftGate`` reads).

        Raises:
            InvalidInputError: The name is taken, or ``monitor_as`` has not one tag per replica.
        """
        router = self._router()
        if name in self.servers:
            raise InvalidInputError(f"backend {name!r} exists already")
        if monitor_as is not None and len(monitor_as) != replicas:
            raise InvalidInputError(
                f"monitor_as has {len(monitor_as)} tags for {replicas} replicas; give one each"
            )
        backend = self._start_backend(
            name, model_uri(model_version), replicas, weight, monitor_as=monitor_as
        )
        for counts in (router.served, router.failed):
            counts.pop(name, None)
        router.reset_window(name)
        router.set_backends([*router.backends, backend])

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the split, e.g. ``{"stable": 95, "canary": 5}``."""
        self._router().set_weights(weights)

    def remove_backend(self, name: str) -> None:
        """Take a backend out of the routing table, then stop its replicas (rolls a canary back)."""
        router = self._router()
        if name not in self.servers:
            raise InvalidInputError(f"no backend named {name!r}; backends: {sorted(self.servers)}")
        router.set_backends([b for b in router.backends if b.name != name])
        self._retire(self.servers.pop(name))

    def promote_backend(self, name: str, uri: str) -> None:
        """Make backend ``name`` the stable one with all traffic; stop the old stable replicas.

        ``previous_uri`` becomes the fixed version the old replicas served (resolved before the
        switch, so a failed lookup changes nothing): the registry promotion that follows moves
        a stage like ``production`` to the new version, and a rollback must not follow it.
        """
        router = self._router()
        if name not in self.servers:
            raise InvalidInputError(f"no backend named {name!r}; backends: {sorted(self.servers)}")
        fixed = self._fixed(uri)
        previous = self._stable_fixed or self._fixed(self.model_uri)
        promoted = next(b for b in router.backends if b.name == name)
        router.set_backends([Backend("stable", promoted.urls, 1.0)])
        old = self.servers.pop("stable", [])
        self.servers["stable"] = self.servers.pop(name)
        self.previous_uri, self.model_uri, self._stable_fixed = previous, uri, fixed
        self._retire(old)

    def _retire(self, servers: list[ModelServing]) -> None:
        """Stop replicas just taken out of the routing table, after a short drain: a request
        the router chose them for a moment before still reaches them and is answered (their
        graceful stop only answers requests that already arrived). ``stop()`` cuts it short."""
        if servers and self.drain_seconds > 0:
            self._stopping.wait(self.drain_seconds)
        for server in servers:
            server.stop()

    def rollback(
        self,
        reason: str = "rolled back by hand",
        timeout: float = 120.0,
        *,
        deployment_id: str | None = None,
    ) -> Rollout:
        """Roll back: stop a running rollout (traffic back to stable), or, after a promotion,
        put the previous version back (its replicas start, then take all traffic at once).

        ``deployment_id``: the rollout the caller means (``mlops deployments rollback ID``);
        refused unless it is the running rollout or, with none running, the one that put the
        current stable version in place, so an old id never rolls back a newer version.

        Raises:
            InvalidStateError: Not deployed, nothing to roll back to, or ``deployment_id`` is
                not the current rollout.
            DeploymentError: The previous version's replicas did not start (the current
                version keeps serving; the rollback's record says ``failed``).
        """
        self._router()
        current = self.rollout
        running = current is not None and not current.done()
        if deployment_id is not None:
            self._check_current(deployment_id, current if running else None)
        if current is not None and not current.done():
            self.abort_reason = reason
            self.abort.set()
            current.wait(timeout)
            return current
        if self.previous_uri is None:
            raise InvalidStateError(
                "nothing to roll back: no rollout is running and no version was replaced"
            )
        with self._lock:
            target = self.previous_uri
            version = resolve_version(target, self._config())
            stable = resolve_version(self.model_uri, self._config())
            recorder = self._recorder(
                "rollback", version, stable.version, {"reason": reason, "replicas": self.replicas}
            )
            rollout = Rollout(recorder.deployment_id, self)
            recorder.rollout = rollout
            self.rollout = rollout
            try:
                self.add_backend("previous", target, self.replicas, 0.0)
                self.promote_backend("previous", target)
            except BaseException as exc:
                # The current version keeps serving; the record must not stay "running".
                message = f"{target} did not start; {stable.id} keeps serving: {exc}"
                rollout.error = DeploymentError(message)
                recorder.finish("failed", message)
                raise rollout.error from exc
            self.promoted_by = rollout.deployment_id
            recorder.event("rolled_back", traffic=100.0, message=reason)
            if self.promotion is not None:
                roll_back_promotion(self._config(), self.promotion, recorder)
                self.promotion = None
            recorder.finish("succeeded", f"{target} serves again: {reason}")
            return rollout

    def _control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The router's control endpoint: ``mlops deploy`` / ``mlops deployments rollback`` from
        another process. ``deploy`` takes ``{"model_uri", "strategy": {...}}`` and returns at
        once; ``rollback`` waits for the rollback."""
        if action == "rollback":
            wanted = body.get("deployment_id")
            if wanted is not None and not isinstance(wanted, str):
                raise InvalidInputError("deployment_id is a deployment id string")
            reason = str(body.get("reason") or "rolled back by hand")
            rollout = self.rollback(reason, deployment_id=wanted)
        elif action == "deploy":
            if not isinstance(body.get("model_uri"), str):
                raise InvalidInputError("deploy needs a model_uri")
            settings = body.get("strategy")
            if isinstance(settings, dict):
                self.strategy = strategy_from(settings, self.replicas)
            if "promote_to" in body:
                promote_to = body["promote_to"]
                if promote_to is not None and not isinstance(promote_to, str):
                    raise InvalidInputError("promote_to is a stage name or null")
                self.promote_to = promote_to
            rollout = self.deploy(body["model_uri"])
        else:
            raise InvalidInputError(f"unknown control action {action!r}: deploy or rollback")
        return {"deployment_id": rollout.deployment_id, "status": rollout.status}

    def _check_current(self, deployment_id: str, running: Rollout | None) -> None:
        """Refuse a rollback by id unless it names the rollout a rollback would act on."""
        current = running.deployment_id if running is not None else self.promoted_by
        if current is not None and deployment_id == current:
            return
        if running is not None:
            now = f"rollout {current} is running now; roll back that id"
        elif current is not None:
            now = f"the current version was put in place by {current}; roll back that id"
        else:
            now = "no rollout replaced a version here"
        raise InvalidStateError(
            f"deployment {deployment_id} is not the current rollout of this deployment, so "
            f"rolling it back would undo something else: {now}"
        )

    def status(self) -> DeploymentStatus:
        router = self.router
        if router is None:
            return DeploymentStatus(url=None, running=False)
        table = router.table()
        return DeploymentStatus(url=self.url, running=True, backends=table["backends"])

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the router and every replica, a running rollout's too (rolled back first).

        Waits up to ``timeout`` seconds for a running rollout to roll back. Replicas still
        starting after that are stopped as soon as they are up (``_start_backend`` checks the
        stopping flag): none outlives the deployment.
        """
        self._stopping.set()
        if self.rollout is not None and not self.rollout.done():
            self.abort_reason = "the deployment was stopped"
            self.abort.set()
            self.rollout._done.wait(timeout)
        if self._uvicorn is not None and self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(40)
        if self._socket is not None:
            self._socket.close()
        for servers in self.servers.values():
            for server in servers:
                server.stop()
        self.servers.clear()
        self.router = self._uvicorn = self._thread = self._socket = None

    def _fixed(self, uri: str) -> str:
        """``uri`` as a fixed version: a stage or alias resolved now."""
        if _FIXED.fullmatch(uri):
            return uri
        return _fixed_uri(resolve_version(uri, self._config()))

    def _router(self) -> TrafficRouter:
        if self.router is None:
            raise InvalidStateError("deploy() the deployment first")
        return self.router

    def _start_backend(
        self,
        name: str,
        uri: str,
        replicas: int,
        weight: float,
        monitor_as: Sequence[str] | None = None,
    ) -> Backend:
        servers: list[ModelServing] = []
        try:
            for i in range(replicas):
                config, monitor = self.config, None
                if monitor_as is not None:
                    base = self._config()
                    serving = base.serving.model_copy(
                        update={"monitor": True, "deployment": monitor_as[i]}
                    )
                    config, monitor = base.model_copy(update={"serving": serving}), True
                server = ModelServing(
                    uri, process=True, options=self.options, config=config, monitor=monitor
                )
                servers.append(server.start(timeout=120))
                if self._stopping.is_set():
                    raise DeploymentError(
                        f"the deployment was stopped while backend {name!r} was starting; "
                        "its replicas were stopped"
                    )
        except BaseException:
            for server in servers:
                server.stop()
            raise
        self.servers[name] = servers
        return Backend(name, [s.url for s in servers], weight)

    def __enter__(self) -> LocalDeployment:
        self.deploy()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _fixed_uri(version: ModelVersion) -> str:
    return f"models:/{version.name}/{version.version}"
