"""``ModelServing``: the model server as a Python object (start, stop, health_check).

With one worker it runs uvicorn in a background thread of this process, on a socket it binds
itself (so ``port=0`` gets a free port and the URL is known before the first request). With
more it runs ``mlops serve`` as a child process, whose uvicorn supervisor forks the workers.
``stop`` is graceful either way: the listening socket closes, requests in flight are answered,
the batcher drains its queue, and only then does the server exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import mlops
from mlops.config import MLOpsConfig, load_config
from mlops.errors import BackendUnavailableError
from mlops.models.entities import ModelVersion
from mlops.models.registry import ModelRegistry
from mlops.models.serving.app import create_serving_app
from mlops.models.serving.monitoring import PredictionConsumer
from mlops.models.serving.options import ServingOptions

__all__ = ["ModelServing"]


class ModelServing:
    """Serve one registered model over HTTP.

    Args:
        model_uri: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``models:/NAME/STAGE``,
            or a registered ``ModelVersion`` (served as that fixed version).
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one (see :attr:`url` after ``start``).
        workers: Worker processes; more than one runs ``mlops serve`` as a child process.
        process: Run as a child process even with one worker (a replica that can be killed
            without taking this process with it).
        options: Batching, body limit, registry polling (``ServingOptions``).
        config: Where the registry is (default: the environment's configuration).
        consumer: Monitoring hook consumer (in-process servers only).
        monitor: Feed each prediction to the served version's ``ModelMonitor`` (drift and
            performance, in a low-priority child process); ``None`` follows the
            configuration's ``serving.monitor``.
        shutdown_timeout: Seconds ``stop`` waits for requests in flight.

    Example:
        >>> with ModelServing("models:/churn@champion") as server:  # doctest: +SKIP
        ...     httpx.post(f"{server.url}/predict", json=[{"x": 1.0}])
    """

    def __init__(
        self,
        model_uri: str | ModelVersion,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 1,
        process: bool = False,
        options: ServingOptions | None = None,
        config: MLOpsConfig | None = None,
        consumer: PredictionConsumer | None = None,
        monitor: bool | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.model_uri = model_uri if isinstance(model_uri, str) else model_uri.uri
        self.host = host
        self.port = port
        self.workers = workers
        self.process = process
        self.options = options or ServingOptions()
        self.config = config
        self.consumer = consumer
        self.monitor = monitor
        self.shutdown_timeout = shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ModelServing:
        """Load the model, start listening, and return once the server reports ready.

        Raises:
            ModelVersionNotFoundError: The reference names no version.
            BackendUnavailableError: The server did not become ready within ``timeout``.
        """
        if self._thread is not None or self._process is not None:
            return self
        if self.workers > 1 or self.process:
            self._start_process()
        else:
            self._start_thread()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BackendUnavailableError(
                    f"mlops serve exited with status {self._process.returncode}"
                )
            if self._thread is not None and not self._thread.is_alive():
                raise BackendUnavailableError("the model server thread stopped during startup")
            if self.health_check().get("ready"):
                return self
            time.sleep(0.02)
        self.stop()
        raise BackendUnavailableError(f"the model server was not ready after {timeout} s")

    def stop(self) -> None:
        """Stop accepting, answer every request in flight, drain the batcher, then exit."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(self.shutdown_timeout + 5)
            self._server = self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(self.shutdown_timeout + 5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None

    def health_check(self) -> dict[str, Any]:
        """``{"live", "ready", "model", "version"}`` as the server reports them right now."""
        result: dict[str, Any] = {"live": False, "ready": False, "model": None, "version": None}
        try:
            with httpx.Client(base_url=self.url, timeout=2.0) as client:
                result["live"] = client.get("/v2/health/live").status_code == 200
                result["ready"] = client.get("/v2/health/ready").status_code == 200
                if result["ready"]:
                    name = self.model_uri.removeprefix("models:/").split("/")[0].split("@")[0]
                    meta = client.get(f"/v2/models/{name}").json()
                    result["model"] = meta.get("name")
                    result["version"] = int(meta["versions"][0])
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        return result

    @property
    def pid(self) -> int | None:
        """The child process's id when running as a process, else ``None``."""
        return None if self._process is None else self._process.pid

    def __enter__(self) -> ModelServing:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the two ways of running ---------------------------------------------------------------

    def _start_thread(self) -> None:
        config = self.config or load_config()
        app = create_serving_app(
            self.model_uri,
            self.options,
            registry=ModelRegistry(config=config),
            consumer=self.consumer,
            monitor=self.monitor,
        )
        self._server, self._thread, self._socket = serve_in_thread(
            app, self.host, self.port, self.shutdown_timeout, name="mlops-model-server"
        )
        self.port = self._socket.getsockname()[1]

    def _start_process(self) -> None:
        if self.port == 0:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        config = self.config or load_config()
        env = child_environment(config)
        options = self.options
        command = [
            sys.executable, "-m", "mlops", "serve", self.model_uri,
            "--host", self.host, "--port", str(self.port), "--workers", str(self.workers),
            "--max-batch-size", str(options.max_batch_size),
            "--max-wait-ms", str(options.max_wait_ms),
            "--poll-interval", str(options.poll_interval),
            "--max-body-size", str(options.max_body_size),
        ]  # fmt: skip
        if self.monitor is not None:
            command.append("--monitor" if self.monitor else "--no-monitor")
        self._process = subprocess.Popen(command, env=env)


def child_environment(config: MLOpsConfig) -> dict[str, str]:
    """The environment of a child ``python``: this process's mlops and ``config``'s stores."""
    # The child imports the same mlops as this process, wherever that came from.
    package_root = str(Path(mlops.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "MLOPS_TRACKING_URI": config.resolved_tracking_uri,
        "MLOPS_ARTIFACT_URI": config.resolved_artifact_uri,
        "MLOPS_HOME": str(config.home),
        # A rollout's monitored replicas tag their monitors with its deployment id.
        **(
            {"MLOPS_SERVING__DEPLOYMENT": config.serving.deployment}
            if config.serving.deployment
            else {}
        ),
    }


def serve_in_thread(
    app: Any, host: str, port: int, shutdown_timeout: float, name: str
) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
    """Run ``app`` on uvicorn in a daemon thread, on a socket bound here (``port=0``: free).

    Stop it with ``server.should_exit = True`` and join the thread: uvicorn then answers the
    requests in flight (up to ``shutdown_timeout`` seconds) before the app's shutdown runs.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (no delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            # uvloop and httptools when installed (the `fast` extra), as `uvicorn.run` picks them.
            loop="auto",
            http="auto",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(shutdown_timeout),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    return server, thread, sock
