"""The rollout loop: traffic steps, gate verdicts, then promotion (of the replicas, and in the
registry) or rollback.

Runs in a background thread of the deploying process (``LocalDeployment.deploy`` returns the
``Rollout`` at once). The new version's replicas run as backend ``canary`` beside ``stable``;
each step resets both backends' router windows, so a verdict judges only that step's requests,
and the stable version's error rate over the same step is the baseline. With a
``MonitoringDriftGate`` the new replicas run with the monitoring hook on, tagged with the
rollout's deployment id, and each step's end also asks monitoring about the rows they served.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from mlops.errors import DeploymentError, MLOpsError
from mlops.models.deployment.drift_gate import MonitoringDriftGate, replica_tags
from mlops.models.deployment.promotion import promote_version
from mlops.models.deployment.records import Recorder
from mlops.models.deployment.rollout import Rollout
from mlops.models.deployment.strategy import Gates, GateVerdict, RolloutStrategy
from mlops.models.entities import ModelVersion

if TYPE_CHECKING:
    from mlops.models.deployment.local import LocalDeployment

__all__ = ["run_rollout"]

log = logging.getLogger(__name__)

NEW = "canary"
_POLL = 0.05


def run_rollout(
    deployment: LocalDeployment,
    rollout: Rollout,
    recorder: Recorder,
    strategy: RolloutStrategy,
    version: ModelVersion,
) -> None:
    """Roll ``version`` out on ``deployment``; every outcome ends ``rollout`` and its record."""
    try:
        _run(deployment, rollout, recorder, strategy, version)
    except Exception as exc:  # the roll-back path itself broke (e.g. the deployment stopped)
        log.exception("rollout %s could not roll back cleanly", recorder.deployment_id)
        rollout.error = rollout.error or exc
    finally:
        if not rollout.done():  # an unexpected error: the handle and the record must still end
            unexpected = DeploymentError("the rollout stopped unexpectedly; see the log")
            error = rollout.error or unexpected
            rollout.error = error
            try:
                recorder.finish("failed", f"rollout failed: {_describe(error)}")
            finally:
                if not rollout.done():
                    rollout.fail(error)


def _run(
    deployment: LocalDeployment,
    rollout: Rollout,
    recorder: Recorder,
    strategy: RolloutStrategy,
    version: ModelVersion,
) -> None:
    uri = f"models:/{version.name}/{version.version}"
    replicas = strategy.replicas or deployment.replicas
    since = time.time()
    gate = strategy.gates.drift
    monitored = isinstance(gate, MonitoringDriftGate)
    tags = replica_tags(recorder.deployment_id, replicas) if monitored else None
    if isinstance(gate, MonitoringDriftGate) and gate.config is None:
        # The replicas' monitors write where the deployment's records are.
        gates = replace(strategy.gates, drift=replace(gate, config=deployment._config()))
        strategy = replace(strategy, gates=gates)
    try:
        recorder.event(
            "started",
            traffic=0.0,
            detail={"model_uri": uri, "replicas": replicas, "monitored_as": tags},
        )
        deployment.add_backend(NEW, uri, replicas, 0.0, monitor_as=tags)
    except Exception as exc:  # not only MLOpsError: an OSError starting a replica ends it too
        rollout.error = exc
        recorder.event("failed", message=_describe(exc))
        recorder.finish("failed", _describe(exc))
        return
    try:
        for percent in strategy.steps:
            verdict = _step(deployment, recorder, strategy, version, percent, since, tags)
            if verdict is None:  # aborted: by hand, or the deployment is stopping
                _roll_back(deployment, recorder, deployment.abort_reason)
                return
            if not verdict.passed:
                reason = f"gate failed at {percent:g} %: " + "; ".join(verdict.reasons)
                _roll_back(deployment, recorder, reason)
                return
        if strategy.name == "shadow":
            # Compared, never answered: passing means "fit for a canary", not promotion.
            deployment._router().shadow = None
            deployment.remove_backend(NEW)
            recorder.finish(
                "succeeded", f"{uri} passed as a shadow; roll it out with a canary to serve it"
            )
            return
        deployment.promote_backend(NEW, uri)
        deployment.promoted_by = recorder.deployment_id  # a rollback by id must name this one
        recorder.event(
            "promoted",
            traffic=100.0,
            detail={"model_uri": uri},
            message=f"{uri} replaced the stable replicas",
        )
        # The registry follows before the handle completes, so its event is in the steps.
        deployment.promotion = None
        if deployment.promote_to:
            deployment.promotion = promote_version(
                deployment._config(), version, deployment.promote_to, recorder
            )
        recorder.finish("succeeded", f"{uri} is serving all traffic")
    except Exception as exc:
        # Something broke mid-rollout (not a gate; any exception, e.g. a bug in a custom gate):
        # put traffic back on stable and stop the new replicas, then report. Catching less
        # would leave the canary serving, the record running and the next deploy() refused.
        log.error("rollout of %s failed: %s", uri, _describe(exc), exc_info=exc)
        rollout.error = exc
        _roll_back(deployment, recorder, f"rollout failed: {_describe(exc)}", status="failed")


def _describe(exc: BaseException) -> str:
    """An error for the record: our own errors say enough; others need their type's name."""
    if isinstance(exc, MLOpsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _step(
    deployment: LocalDeployment,
    recorder: Recorder,
    strategy: RolloutStrategy,
    version: ModelVersion,
    percent: float,
    since: float,
    tags: list[str] | None,
) -> GateVerdict | None:
    """Hold one traffic step; its verdict, or None when the rollout was aborted."""
    router = deployment._router()
    router.reset_window(NEW)
    router.reset_window("stable")
    shadow = strategy.name == "shadow"
    if shadow:
        router.set_shadow(next(b for b in router.backends if b.name == NEW), percent)
        recorder.event("step", traffic=0.0, detail={"mirrored_percent": percent})
    else:
        deployment.set_weights({"stable": 100.0 - percent, NEW: percent})
        recorder.event("step", traffic=percent)
    # Judged early on error rate and latency (no drift): a bad version is stopped after
    # min_requests, not after the whole hold.
    early = Gates(strategy.gates.max_error_rate, strategy.gates.max_p99_ms, None)
    started = time.monotonic()
    while True:
        if deployment.abort.is_set():
            return None
        new = router.window(NEW)
        elapsed = time.monotonic() - started
        if new.requests >= max(strategy.min_requests, 1):
            baseline = None if shadow else router.window("stable")
            verdict = early.judge(version.name, version.version, new, baseline)
            if not verdict.passed or elapsed >= strategy.hold_seconds:
                break
        if elapsed >= strategy.step_timeout:
            verdict = GateVerdict(
                passed=False,
                requests=new.requests,
                errors=new.errors,
                rejected=new.rejected,
                error_rate=0.0,
                stable_error_rate=0.0,
                p99_ms=new.p99_ms(),
                reasons=[
                    f"only {new.requests} requests reached the new version in "
                    f"{strategy.step_timeout:g} s (min_requests={strategy.min_requests})"
                ],
            )
            _record_verdict(recorder, percent, verdict)
            return verdict
        time.sleep(_POLL)
    if verdict.passed:
        baseline = None if shadow else router.window("stable")
        verdict = strategy.gates.judge(
            version.name,
            version.version,
            router.window(NEW),
            baseline,
            deployment=tags,
            since=since,
        )
    _record_verdict(recorder, percent, verdict)
    return verdict


def _record_verdict(recorder: Recorder, percent: float, verdict: GateVerdict) -> None:
    recorder.event(
        "gate",
        traffic=percent,
        passed=verdict.passed,
        detail=verdict.to_dict(),
        message="; ".join(verdict.reasons) or "passed",
    )


def _roll_back(
    deployment: LocalDeployment, recorder: Recorder, reason: str, status: str = "rolled_back"
) -> None:
    """All traffic to stable, then stop the new replicas; record how many requests reached it."""
    router = deployment._router()
    if router.shadow is not None and router.shadow.name == NEW:
        router.shadow = None
    if NEW in deployment.servers:
        if any(b.name == NEW for b in router.backends):
            router.set_weights({"stable": 1.0, NEW: 0.0})  # first: no new request reaches it
        deployment.remove_backend(NEW)  # answers its requests in flight, then stops
    # Counted after the stop, so requests that were in flight at the verdict are included.
    reached = router.served.get(NEW, 0) + router.failed.get(NEW, 0)
    recorder.event(
        "rolled_back",
        traffic=0.0,
        detail={"requests_to_new_version": reached},
        message=reason,
    )
    recorder.finish(status, reason)
