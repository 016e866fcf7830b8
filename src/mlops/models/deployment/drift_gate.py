"""``MonitoringDriftGate``: a rollout step passes only if the new version's served inputs have
not drifted from its attached reference.

Why here and not in monitoring: deployment depends on monitoring's public API
(``recent_drift``), never the reverse. The gate reads the rows the new version's replicas
logged under the rollout's deployment id (the runner starts them with the monitoring hook on and
that id), so the stable version's traffic and earlier rollouts never mix in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidInputError

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig

__all__ = ["DriftCheck", "MonitoringDriftGate", "replica_tags"]

_POLL = 0.25


def replica_tags(deployment_id: str, replicas: int) -> list[str]:
    """The monitoring tag of each replica of a rollout's new version: one per process, since
    each replica's monitor keeps its own stream of stored rows (two processes writing one
    monitor would collide); the drift gate reads them all together."""
    return [f"{deployment_id}.r{i}" for i in range(replicas)]


@dataclass(frozen=True)
class DriftCheck:
    """A drift gate's verdict and what it measured (recorded in the step's gate event)."""

    passed: bool
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringDriftGate:
    """Fails a step when the new version's served inputs drifted (monitoring's verdict).

    At each step's end it asks ``mlops.monitoring.recent_drift`` about the rows the new
    version's replicas served in this rollout, judged by the detector attached to the version
    (``DriftDetector(...).attach(version)``). The replicas' monitoring hook stores rows a moment
    after it answers, so the gate waits up to ``wait_seconds`` for ``min_rows`` of them.

    Attributes:
        threshold: Largest share of drifted columns that passes (None: the detector's own
            ``alert_threshold``, i.e. its ``dataset_drift`` verdict).
        min_rows: Fewest served rows drift is judged on. With fewer (or no detector attached)
            the step is not judged on drift: it passes, and its gate event says why.
        wait_seconds: How long to wait for ``min_rows`` rows to reach the store.
        config: The store the replicas' monitors write to (default: the deployment's).
    """

    threshold: float | None = None
    min_rows: int = 200
    wait_seconds: float = 10.0
    config: MLOpsConfig | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            problems.append(
                f"drift threshold {self.threshold!r} is a share of columns: give 0..1 (0.3 = 30%)"
            )
        if self.min_rows < 1:
            problems.append(f"drift gate min_rows must be at least 1, got {self.min_rows}")
        if self.wait_seconds < 0:
            problems.append(f"drift gate wait_seconds must be >= 0, got {self.wait_seconds}")
        if problems:
            raise InvalidInputError("; ".join(problems))

    def __call__(
        self,
        model_name: str,
        version: int | None,
        *,
        deployment: str | Sequence[str] | None = None,
        since: float | None = None,
    ) -> DriftCheck:
        """The verdict on the rows the version's replicas tagged ``deployment`` (one tag, or
        one per replica: see ``replica_tags``) served."""
        from mlops.monitoring import recent_drift

        if version is None:
            return DriftCheck(True, None, {"checked": False, "note": "no version to judge"})
        deadline = time.monotonic() + self.wait_seconds
        while True:
            result = recent_drift(
                model_name,
                version,
                since=since,
                config=self.config,
                deployment=deployment,
                min_rows=self.min_rows,
            )
            if result is not None or time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
        if result is None:
            note = (
                f"drift not judged: fewer than {self.min_rows} served rows reached the monitor "
                "(or no drift detector is attached to the version)"
            )
            return DriftCheck(True, None, {"checked": False, "note": note})
        limit = result.alert_threshold if self.threshold is None else self.threshold
        drifted = result.dataset_drift if self.threshold is None else result.drift_share > limit
        detail = {
            "checked": True,
            "drift_share": result.drift_share,
            "threshold": limit,
            "drifted_columns": result.drifted_columns,
            "rows_checked": result.n_rows,
        }
        reason = None
        if drifted:
            columns = ", ".join(result.drifted_columns) or "none"
            reason = (
                f"drift share {result.drift_share:.0%} > {limit:.0%} over {result.n_rows} "
                f"served rows (drifted: {columns})"
            )
        return DriftCheck(not drifted, reason, detail)

    def describe(self) -> dict[str, Any]:
        """The settings, as recorded with the deployment and sent to a running one."""
        return {
            "kind": "monitoring",
            "threshold": self.threshold,
            "min_rows": self.min_rows,
            "wait_seconds": self.wait_seconds,
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> MonitoringDriftGate:
        """The gate ``describe()`` recorded.

        Raises:
            InvalidInputError: Another kind of gate, or malformed settings.
        """
        if settings.get("kind") != "monitoring":
            raise InvalidInputError(
                f"drift gate settings {settings!r}: only kind 'monitoring' can be sent as "
                "settings (a callable gate is code: pass it to LocalDeployment in Python)"
            )
        try:
            threshold = settings.get("threshold")
            return cls(
                threshold=None if threshold is None else float(threshold),
                min_rows=int(settings.get("min_rows", 200)),
                wait_seconds=float(settings.get("wait_seconds", 10.0)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"malformed drift gate settings {settings!r}: {exc}") from exc
