"""``recent_drift``: drift of what a model version served recently, read from another process.

Why it exists: a rollout's gate runs in the deploying process, while the served rows are logged
by the replicas' monitoring hook (``mlops serve --monitor``) in theirs. Both share the metadata
store, so the rows are read where the hook left them: the drift monitor's open window is stored
as chunks (``streaming.py``), and a window that closed left its result. The detector attached
to the version brings the reference summary, so the reference is never read or sorted again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from mlops.errors import NotFoundError
from mlops.monitoring.drift import DriftDetector, deployment_name
from mlops.monitoring.results import DriftResult
from mlops.monitoring.streaming import PRED, _from_ipc
from mlops.monitoring.units import InvalidMonitoringInputError

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig

__all__ = ["recent_drift"]


def recent_drift(
    model_name: str,
    version: int,
    *,
    since: float | None = None,
    config: MLOpsConfig | None = None,
    deployment: str | Sequence[str] | None = None,
    min_rows: int = 1,
) -> DriftResult | None:
    """The drift of the rows a model version was served recently, by its attached detector.

    Two kinds of rows count: the drift monitor's open window (every row stored so far: rows
    carry no time of their own, and the open window is the current one) and the windows that
    closed at or after ``since`` (their stored results; the rows of a closed window are gone).
    Of those with at least ``min_rows`` rows, the verdict with the highest drift share is
    returned, so a window that drifted and then closed is not hidden by a calmer open one.

    Args:
        model_name: The registered model.
        version: Its version; the detector attached to it (``DriftDetector.attach``) judges.
        since: Epoch seconds; closed windows that ended earlier are left out (None: all).
        config: The store the monitors write to (default: the environment's).
        deployment: Only this deployment's rows (the id the serving hook tagged them with),
            or several deployments' rows judged together (one tag per replica process: each
            process keeps its own monitor); None: the untagged monitor's.
        min_rows: Fewest rows a verdict may rest on.

    Returns:
        The verdict, or None when no detector is attached or no window has ``min_rows`` rows.

    Raises:
        InvalidMonitoringInputError: ``min_rows`` below 1.
        ModelVersionNotFoundError: Not a registered version.
    """
    if min_rows < 1:
        raise InvalidMonitoringInputError(f"min_rows must be at least 1, got {min_rows}")
    from mlops.monitoring.store import monitoring_store

    store = monitoring_store(config)
    store.resolve_version(f"{model_name}/{version}")  # an unregistered version raises here
    try:
        detector = DriftDetector.for_model(f"{model_name}/{version}", config=config, persist=False)
    except NotFoundError:
        return None  # no detector attached: nothing to judge drift by
    tags = [deployment] if deployment is None or isinstance(deployment, str) else deployment
    monitors = [deployment_name(str(detector.name), tag) for tag in tags]
    verdicts: list[DriftResult] = []
    chunks: list[tuple[int, float, bytes]] = []
    for monitor in monitors:
        store.register_monitor(monitor, model_name)  # a server checks the caller's role on it
        verdicts.extend(
            DriftResult.from_dict(r.payload)
            for r in store.list_results(monitor=monitor, kind="drift", limit=1000)
            if r.n_rows >= min_rows and (since is None or r.window_end >= since)
        )
        chunks.extend(store.list_chunks(monitor))
    frames = [_from_ipc(payload) for _, _, payload in chunks]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(rows) >= min_rows:
        predictions = None
        if PRED in rows.columns and detector.prediction_reference_ is not None:
            predictions = rows[PRED]
        verdicts.append(
            detector.check(
                rows.drop(columns=[PRED], errors="ignore"),
                predictions,
                window_start=min(start for _, start, _ in chunks),
                window_end=time.time(),
            )
        )
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: (v.drift_share, v.dataset_drift, v.window_end or 0.0))
