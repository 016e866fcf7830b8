"""Rollout strategies and their gates: how much traffic the new version gets, and when it may
get more.

One machinery serves every strategy: a list of traffic steps (percent of requests to the new
version), each held for ``hold_seconds`` *and* until the new version answered
``min_requests``, then judged by the gates on what the router measured for that step alone.
A canary is ``5 -> 25 -> 50 -> 100``; blue-green is one step of ``100`` (all traffic switches,
the old replicas wait as the fallback); rolling moves one replica's share at a time.
At 100 % with every gate passed, the new version replaces the old replicas (promotion); the
first failed gate sends all traffic back to the stable version and stops the new replicas.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlops.errors import InvalidInputError
from mlops.models.deployment.drift_gate import DriftCheck, MonitoringDriftGate
from mlops.models.deployment.router import Window

__all__ = [
    "DriftCheck",
    "DriftGate",
    "GateVerdict",
    "Gates",
    "MonitoringDriftGate",
    "RolloutStrategy",
    "make_strategy",
    "strategy_from",
]

DriftGate = Callable[[str, int | None], "bool | str | DriftCheck | None"]
"""Called with the new version's model name and number at each step's end. ``True``/``None``
passes; ``False`` or a message fails; a ``DriftCheck`` says which and carries its measurements.
``MonitoringDriftGate`` is the product's own: monitoring's verdict on the rows the new version
served in this rollout (it is also given the rollout's deployment id and start)."""

STRATEGIES = ("canary", "blue_green", "rolling", "shadow")


@dataclass(frozen=True)
class Gates:
    """What the new version must do at each step to get more traffic.

    Attributes:
        max_error_rate: Most the new version's error rate may exceed the stable version's over
            the same step (errors: 5xx, no answer, and 4xx: a model raising on valid input
            answers 422; comparing with stable discounts clients' own bad requests).
        max_p99_ms: Highest p99 latency, through the router, in milliseconds (None: no limit).
        drift: Optional drift gate (see ``DriftGate``), e.g. ``MonitoringDriftGate()``: the
            new version's replicas then run with the monitoring hook on.
        min_agreement: Shadow only: least share of mirrored requests whose predictions equal
            the live answer's (None: not checked).
    """

    max_error_rate: float = 0.05
    max_p99_ms: float | None = 1000.0
    drift: DriftGate | None = None
    min_agreement: float | None = None

    def judge(
        self,
        model_name: str,
        version: int | None,
        new: Window,
        stable: Window | None,
        *,
        deployment: str | Sequence[str] | None = None,
        since: float | None = None,
    ) -> GateVerdict:
        """The verdict on one step's measurements (``deployment`` and ``since``: the new
        replicas' monitoring tags and the rollout's start, for a ``MonitoringDriftGate``)."""
        new_rate = (new.errors + new.rejected) / new.requests if new.requests else 0.0
        stable_rate = 0.0
        if stable is not None and stable.requests:
            stable_rate = (stable.errors + stable.rejected) / stable.requests
        p99 = new.p99_ms()
        reasons = []
        if new_rate > stable_rate + self.max_error_rate:
            reasons.append(
                f"error rate {new_rate:.1%} > stable {stable_rate:.1%} + {self.max_error_rate:.1%}"
            )
        if self.max_p99_ms is not None and p99 is not None and p99 > self.max_p99_ms:
            reasons.append(f"p99 latency {p99:.1f} ms > {self.max_p99_ms} ms")
        agreement = new.agreed / new.compared if new.compared else None
        minimum = self.min_agreement
        if minimum is not None and agreement is not None and agreement < minimum:
            reasons.append(f"agreement {agreement:.1%} < {self.min_agreement:.1%}")
        drift = None
        if self.drift is not None:
            drift = self._drift(model_name, version, deployment, since)
            if not drift.passed:
                reasons.append(drift.reason or "drift gate failed")
        return GateVerdict(
            passed=not reasons,
            requests=new.requests,
            errors=new.errors,
            rejected=new.rejected,
            error_rate=new_rate,
            stable_error_rate=stable_rate,
            p99_ms=p99,
            reasons=reasons,
            agreement=agreement,
            drift=None if drift is None else {"passed": drift.passed, **drift.detail},
        )

    def _drift(
        self,
        model_name: str,
        version: int | None,
        deployment: str | Sequence[str] | None,
        since: float | None,
    ) -> DriftCheck:
        """The drift gate's answer, whatever form it took, as a ``DriftCheck``.

        A gate that raises (monitoring's store unreachable, a custom gate's request failing)
        fails the step: no verdict is no evidence the version is fit for more traffic.
        """
        assert self.drift is not None
        try:
            if isinstance(self.drift, MonitoringDriftGate):
                return self.drift(model_name, version, deployment=deployment, since=since)
            answer = self.drift(model_name, version)
        except Exception as exc:
            name = getattr(self.drift, "__qualname__", type(self.drift).__name__)
            reason = f"drift gate {name} raised {type(exc).__name__}: {exc}"
            return DriftCheck(False, reason, {"error": f"{type(exc).__name__}: {exc}"})
        if isinstance(answer, DriftCheck):
            return answer
        if answer is False or isinstance(answer, str):
            return DriftCheck(False, answer if isinstance(answer, str) else None)
        return DriftCheck(True)


@dataclass(frozen=True)
class GateVerdict:
    """One step's measurements and whether they passed."""

    passed: bool
    requests: int
    errors: int
    rejected: int
    error_rate: float
    stable_error_rate: float
    p99_ms: float | None
    reasons: list[str] = field(default_factory=list)
    agreement: float | None = None
    drift: dict[str, Any] | None = None
    """The drift gate's measurements (drift share, drifted columns, rows checked), if any."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RolloutStrategy:
    """Traffic steps and what each must show before the next.

    Attributes:
        name: ``canary``, ``blue_green`` or ``rolling`` (recorded with the deployment).
        steps: Percent of traffic to the new version, increasing, ending at 100.
        hold_seconds: Least time each step lasts.
        min_requests: Least requests the new version answers in each step before it is judged.
        step_timeout: A step that has not seen ``min_requests`` by then fails (no traffic is no
            evidence).
        gates: The checks (``Gates``).
        replicas: Replicas of the new version (default: as many as the stable one has).
    """

    name: str = "canary"
    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    hold_seconds: float = 30.0
    min_requests: int = 100
    step_timeout: float = 600.0
    gates: Gates = field(default_factory=Gates)
    replicas: int | None = None

    def __post_init__(self) -> None:
        steps = tuple(float(s) for s in self.steps)
        object.__setattr__(self, "steps", steps)
        problems = []
        if self.name not in STRATEGIES:
            problems.append(f"strategy {self.name!r} is not one of {list(STRATEGIES)}")
        if not steps or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps):
            problems.append(f"steps {list(steps)} must be percents in (0, 100] ending at 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            problems.append(f"steps {list(steps)} must increase")
        if self.hold_seconds < 0 or self.min_requests < 0 or self.step_timeout <= 0:
            problems.append("hold_seconds and min_requests must be >= 0, step_timeout > 0")
        if self.gates.max_error_rate < 0:
            problems.append("gates.max_error_rate must be >= 0")
        if self.replicas is not None and self.replicas < 1:
            problems.append(f"replicas must be at least 1, got {self.replicas}")
        if problems:
            raise InvalidInputError("; ".join(problems))

    def describe(self) -> dict[str, Any]:
        """The settings, as recorded with the deployment (a callable drift gate by name only;
        a ``MonitoringDriftGate`` by its settings, which ``strategy_from`` rebuilds)."""
        gates = self.gates
        drift: str | dict[str, Any] | None = None
        if isinstance(gates.drift, MonitoringDriftGate):
            drift = gates.drift.describe()
        elif gates.drift is not None:
            drift = getattr(gates.drift, "__qualname__", "callable")
        return {
            "strategy": self.name,
            "steps": list(self.steps),
            "hold_seconds": self.hold_seconds,
            "min_requests": self.min_requests,
            "step_timeout": self.step_timeout,
            "gates": {
                "max_error_rate": gates.max_error_rate,
                "max_p99_ms": gates.max_p99_ms,
                "drift": drift,
                "min_agreement": gates.min_agreement,
            },
            "replicas": self.replicas,
        }


def make_strategy(
    name: str = "canary",
    *,
    steps: Sequence[float] | None = None,
    replicas: int = 1,
    **settings: Any,
) -> RolloutStrategy:
    """A strategy by name: ``canary`` (5, 25, 50, 100 unless ``steps``), ``blue_green`` (100),
    ``rolling`` (one replica's share per step, of ``replicas``).

    Raises:
        InvalidInputError: An unknown name or bad settings.
    """
    if name not in STRATEGIES:
        raise InvalidInputError(f"strategy {name!r} is not one of {list(STRATEGIES)}")
    if steps is None:
        if name in ("blue_green", "shadow"):
            steps = (100.0,)  # shadow: every request mirrored, none answered by it
        elif name == "rolling":
            steps = tuple(round(100 * i / replicas, 2) for i in range(1, replicas + 1))
        else:
            steps = (5.0, 25.0, 50.0, 100.0)
    return RolloutStrategy(name=name, steps=tuple(steps), **settings)


def strategy_from(settings: dict[str, Any], replicas: int) -> RolloutStrategy:
    """A strategy from plain settings (``describe()``'s shape, as JSON carries it). Of drift
    gates only a ``MonitoringDriftGate`` travels (as its settings); a callable is code.

    Raises:
        InvalidInputError: Unknown or malformed settings.
    """
    settings = dict(settings)
    name = str(settings.pop("strategy", settings.pop("name", "canary")))
    gates = settings.pop("gates", None) or {}
    new_replicas = settings.pop("replicas", None)
    try:
        built = Gates(
            max_error_rate=float(gates.get("max_error_rate", 0.05)),
            max_p99_ms=None if gates.get("max_p99_ms") is None else float(gates["max_p99_ms"]),
            min_agreement=None
            if gates.get("min_agreement") is None
            else float(gates["min_agreement"]),
            drift=MonitoringDriftGate.from_settings(gates["drift"])
            if isinstance(gates.get("drift"), dict)
            else None,
        )
        strategy = make_strategy(name, replicas=replicas, gates=built, **settings)
        return replace(strategy, replicas=new_replicas)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"malformed strategy settings {settings}: {exc}") from exc
