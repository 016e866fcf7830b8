"""``LocalDeployment``: model server processes on this machine behind a local traffic router.

Each backend (``stable`` at first; a ``canary`` added beside it) is a set of ``mlops serve``
child processes, one per replica. The router (``TrafficRouter`` on uvicorn, in a thread of this
process) is the deployment's one address: it splits traffic by backend weight, sticky by the
``X-Routing-Key`` header, and resends a request whose replica died to another replica.
"""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from mlops.config import MLOpsConfig
from mlops.errors import InvalidInputError, InvalidStateError
from mlops.handles import Completed
from mlops.models.deployment.base import DeploymentStatus, ModelDeployment, model_uri
from mlops.models.deployment.router import Backend, TrafficRouter
from mlops.models.entities import ModelVersion
from mlops.models.serving.options import ServingOptions
from mlops.models.serving.server import ModelServing, serve_in_thread

__all__ = ["LocalDeployment"]


class LocalDeployment(ModelDeployment):
    """Replicas of a model version on this machine behind one routing address.

    Args:
        model_version: A registered ``ModelVersion`` or a ``models:/`` reference.
        replicas: Server processes for it.
        host: Interface the router listens on.
        port: The router's port (0: a free one; see ``url`` after ``deploy``).
        options: Each replica's serving options.
        config: Where the registry is (default: the environment's).
    """

    def __init__(
        self,
        model_version: ModelVersion | str,
        replicas: int = 2,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServingOptions | None = None,
        config: MLOpsConfig | None = None,
    ) -> None:
        if replicas < 1:
            raise InvalidInputError(f"replicas must be at least 1, got {replicas}")
        self.model_uri = model_uri(model_version)
        self.replicas = replicas
        self.host = host
        self.port = port
        self.options = options or ServingOptions()
        self.config = config
        self.servers: dict[str, list[ModelServing]] = {}
        self.router: TrafficRouter | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def deploy(self) -> Completed[ModelDeployment]:
        """Start the replicas, then the router in front of them."""
        if self.router is not None:
            raise InvalidStateError("this deployment is already deployed")
        stable = self._start_backend("stable", self.model_uri, self.replicas, 1.0)
        self.router = TrafficRouter([stable])
        self._uvicorn, self._thread, self._socket = serve_in_thread(
            self.router, self.host, self.port, 30.0, name="mlops-router"
        )
        self.port = self._socket.getsockname()[1]
        while not self._uvicorn.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        return Completed(self)

    def add_backend(
        self, name: str, model_version: ModelVersion | str, replicas: int = 1, weight: float = 0.0
    ) -> None:
        """Start another backend (a canary) beside the others, with ``weight`` of the traffic."""
        router = self._router()
        if name in self.servers:
            raise InvalidInputError(f"backend {name!r} exists already")
        backend = self._start_backend(name, model_uri(model_version), replicas, weight)
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
        for server in self.servers.pop(name):
            server.stop()

    def status(self) -> DeploymentStatus:
        router = self.router
        if router is None:
            return DeploymentStatus(url=None, running=False)
        table = router.table()
        return DeploymentStatus(url=self.url, running=True, backends=table["backends"])

    def stop(self) -> None:
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

    def _router(self) -> TrafficRouter:
        if self.router is None:
            raise InvalidStateError("deploy() the deployment first")
        return self.router

    def _start_backend(self, name: str, uri: str, replicas: int, weight: float) -> Backend:
        servers: list[ModelServing] = []
        try:
            for _ in range(replicas):
                server = ModelServing(uri, process=True, options=self.options, config=self.config)
                servers.append(server.start(timeout=120))
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
