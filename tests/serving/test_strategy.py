"""Rollout strategies and gates: settings checked, verdicts on measured windows; the handle."""

from __future__ import annotations

import asyncio
import threading
from collections import deque

import pytest

from mlops.errors import DeploymentError, InvalidInputError
from mlops.models.deployment import (
    Gates,
    Rollout,
    RolloutStrategy,
    RolloutTimeoutError,
    Window,
    make_strategy,
)


def test_strategies_by_name() -> None:
    assert make_strategy("canary").steps == (5.0, 25.0, 50.0, 100.0)
    assert make_strategy("blue_green").steps == (100.0,)
    assert make_strategy("rolling", replicas=4).steps == (25.0, 50.0, 75.0, 100.0)
    assert make_strategy("canary", steps=[10, 100]).steps == (10.0, 100.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "shadowy"}, "not one of"),
        ({"steps": (5, 50)}, "ending at 100"),
        ({"steps": (50, 25, 100)}, "must increase"),
        ({"steps": (0, 100)}, r"\(0, 100\]"),
        ({"min_requests": -1}, "min_requests"),
        ({"replicas": 0}, "replicas"),
    ],
)
def test_bad_strategies_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        RolloutStrategy(**settings)  # type: ignore[arg-type]


def test_gates_compare_with_stable_and_check_latency_and_drift() -> None:
    fast = deque([0.002] * 100)
    canary = Window(requests=100, errors=2, rejected=28, latencies=fast)
    stable = Window(requests=1000, errors=0, rejected=0, latencies=deque(fast))
    verdict = Gates(max_error_rate=0.05).judge("m", 2, canary, stable)
    assert not verdict.passed
    assert verdict.error_rate == pytest.approx(0.30)
    assert "error rate 30.0%" in verdict.reasons[0]
    # Clients' own bad requests hit stable alike: compared with stable, 30% vs 28% passes.
    noisy = Window(requests=1000, errors=0, rejected=280, latencies=deque(fast))
    assert Gates(max_error_rate=0.05).judge("m", 2, canary, noisy).passed
    slow = Window(requests=100, latencies=deque([0.002] * 98 + [2.0, 2.0]))
    verdict = Gates(max_p99_ms=500).judge("m", 2, slow, stable)
    assert not verdict.passed
    assert "p99 latency 2000.0 ms" in verdict.reasons[0]
    assert Gates(drift=lambda name, version: None).judge("m", 2, slow, None).passed is False
    ok = Window(requests=100, latencies=deque(fast))
    assert Gates(drift=lambda name, version: True).judge("m", 2, ok, None).passed
    assert Gates(drift=lambda name, version: False).judge("m", 2, ok, None).reasons == [
        "drift gate failed"
    ]


def test_rollout_handle_is_awaitable_and_waitable() -> None:
    rollout = Rollout("d1")
    threading.Timer(0.1, rollout.finish, ("succeeded", "done")).start()

    async def main() -> Rollout:
        return await rollout  # as the seed writes it: await deployment.deploy()

    assert asyncio.run(main()) is rollout
    assert rollout.status == "succeeded"
    running = Rollout("d2")
    with pytest.raises(RolloutTimeoutError, match="still running"):
        running.wait(0.01)
    running.fail(DeploymentError("replicas did not start"))
    with pytest.raises(DeploymentError, match="replicas did not start"):
        running.wait()
    assert running.status == "failed"
