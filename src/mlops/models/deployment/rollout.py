"""``Rollout``: the handle ``deploy()`` returns, awaitable or waited on like a future.

A rollout runs in a background thread (a canary holds each traffic step for a while), so a
plain script calls ``.wait()`` and a coroutine ``await``s; neither needs the other. The handle
carries the rollout's status and its steps (the same events the store records).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from typing import Any

from mlops.errors import DeploymentError, MLOpsError
from mlops.models.deployment.entities import DeploymentEvent

__all__ = ["Rollout", "RolloutTimeoutError"]


class RolloutTimeoutError(DeploymentError, TimeoutError):
    """``wait(timeout)`` ran out before the rollout finished (it keeps running)."""


class Rollout:
    """A deployment's rollout: ``status`` is running, succeeded, rolled_back or failed.

    Attributes:
        deployment_id: The store's id of the deployment (``mlops deployments status ID``).
        status: Where the rollout is; a failed gate ends in ``rolled_back``, not an error.
        steps: What happened so far (steps, gate verdicts, promotion or rollback).
        error: Why a ``failed`` rollout failed (``wait`` raises it).
    """

    def __init__(self, deployment_id: str | None, deployment: Any = None) -> None:
        self.deployment_id = deployment_id
        self.deployment = deployment
        self.status = "running"
        self.steps: list[DeploymentEvent] = []
        self.error: BaseException | None = None
        self.message: str | None = None
        self._done = threading.Event()

    def finish(self, status: str, message: str | None = None) -> None:
        """Mark the rollout over (the runner's last act)."""
        self.status = status
        self.message = message
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.finish("failed", str(error))

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Rollout:
        """Block until the rollout is over and return it.

        Raises:
            RolloutTimeoutError: ``timeout`` seconds passed first (the rollout goes on).
            DeploymentError: The rollout failed (not a gate: something broke, e.g. the new
                version's replicas did not start); traffic stays on the stable version.
        """
        if not self._done.wait(timeout):
            raise RolloutTimeoutError(
                f"rollout of deployment {self.deployment_id} still {self.status} after {timeout} s"
            )
        if self.error is not None:
            if isinstance(self.error, DeploymentError):
                raise self.error
            error = self.error
            # Not one of ours (a bug, a custom gate's exception): its type says what broke.
            named = str(error)
            if not isinstance(error, MLOpsError):
                named = f"{type(error).__name__}: {error}"
            raise DeploymentError(f"rollout failed: {named}") from error
        return self

    def __await__(self) -> Generator[Any, None, Rollout]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> Rollout:
        while not self._done.is_set():
            await asyncio.sleep(0.05)
        return self.wait()

    def __repr__(self) -> str:
        return f"Rollout({self.deployment_id}, status={self.status!r}, steps={len(self.steps)})"
