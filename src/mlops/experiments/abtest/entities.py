"""What an A/B test records and what its analysis returns (frozen dataclasses).

``ABTestResults`` reads like the seed: ``results.model_b.performance`` is variant ``model_b``'s
primary-metric value (oriented so that higher is better), ``results.model_b.precision`` any
metric's value, ``results.verdict`` the decision and why, ``results.comparisons`` every
treatment-vs-control test with its interval, raw and corrected p-values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops.handles import Awaitable

__all__ = [
    "ABTestRecord",
    "ABTestResults",
    "Comparison",
    "Outcome",
    "SRMCheck",
    "TestResult",
    "VariantResult",
    "Verdict",
]


@dataclass(frozen=True)
class TestResult:
    """One fixed-horizon test of treatment against control (difference = treatment - control).

    For Mann-Whitney the values are medians and the difference is the centred probability of
    superiority P(B > A) - 0.5.
    """

    __test__ = False  # not a pytest class

    test: str
    control_value: float
    treatment_value: float
    difference: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float


@dataclass(frozen=True)
class SRMCheck:
    """Units per variant against the planned split (chi-square goodness of fit)."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    mismatch: bool


@dataclass(frozen=True)
class Comparison:
    """One metric, one treatment against the control."""

    metric: str
    control: str
    treatment: str
    test: str
    control_value: float
    treatment_value: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    adjusted_p_value: float
    significant: bool
    prob_beat: float
    """Posterior probability that the treatment is better than the control on this metric."""
    higher_is_better: bool = True
    n_control: int = 0
    n_treatment: int = 0

    @property
    def better(self) -> bool:
        """Significantly better than the control (after correction)."""
        return self.significant and (self.difference > 0) == self.higher_is_better

    @property
    def worse(self) -> bool:
        return self.significant and (self.difference < 0) == self.higher_is_better


@dataclass(frozen=True)
class VariantResult:
    """One variant's units and metric values; ``performance`` is its primary metric, oriented
    so that higher is better (negated for a lower-is-better metric)."""

    name: str
    units: int
    metrics: dict[str, float]
    performance: float | None

    def __getattr__(self, name: str) -> float:
        metrics = self.__dict__.get("metrics", {})
        if not name.startswith("_") and name in metrics:
            return float(metrics[name])
        raise AttributeError(f"variant {self.__dict__.get('name')!r} has no metric {name!r}")


@dataclass(frozen=True)
class Verdict:
    """The decision: ``status`` is one of

    * ``winner``: ``winner`` is significantly better on the primary metric (or the control,
      when every treatment is significantly worse) and no worse on any other metric;
    * ``no_difference``: the test ended without a significant difference;
    * ``running``: the sequential test has not crossed a boundary yet; keep collecting;
    * ``conflicting``: better on the primary metric but significantly worse on another;
    * ``srm_mismatch``: blocked: the units per variant do not match the split;
    * ``insufficient_data``: too few units to test.
    """

    status: str
    winner: str | None
    reason: str

    @property
    def blocked(self) -> bool:
        return self.status in ("srm_mismatch", "insufficient_data")


@dataclass(frozen=True)
class SequentialLooks:
    """The primary metric's group-sequential test for one treatment (see ``sequential.py``)."""

    treatment: str
    method: str
    fractions: list[float]
    z_values: list[float]
    bounds: list[float]
    crossed_at: int | None
    complete: bool


@dataclass(frozen=True)
class ABTestResults(Awaitable):
    """An analysis of an A/B test; variants are attributes (``results.model_b``) unless the name
    is also a field (then ``results["name"]``)."""

    test_id: str
    test_name: str
    control_variant: str
    primary_metric: str
    alpha: float
    correction: str
    variants: dict[str, VariantResult]
    comparisons: list[Comparison]
    srm: SRMCheck | None
    verdict: Verdict
    sequential: list[SequentialLooks] = field(default_factory=list)
    mode: str = "offline"  # offline (a replayed dataset) | live (logged outcomes)
    analyzed_at: int = 0

    def __getattr__(self, name: str) -> VariantResult:
        variants = self.__dict__.get("variants", {})
        if not name.startswith("_") and name in variants:
            return variants[name]  # type: ignore[no-any-return]
        raise AttributeError(
            f"A/B test results have no attribute or variant {name!r}; variants: {sorted(variants)}"
        )

    def __getitem__(self, variant: str) -> VariantResult:
        """``results["control"]``: works for any variant name, even one that is also a field."""
        try:
            return self.variants[variant]
        except KeyError:
            raise KeyError(f"no variant {variant!r}; variants: {sorted(self.variants)}") from None

    @property
    def winner(self) -> str | None:
        return self.verdict.winner

    def comparison(self, metric: str, treatment: str | None = None) -> Comparison:
        """The comparison of ``metric`` (for ``treatment``, default: the first treatment)."""
        for c in self.comparisons:
            if c.metric == metric and (treatment is None or c.treatment == treatment):
                return c
        raise KeyError(f"no comparison of metric {metric!r} for treatment {treatment!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; NaN and infinities (a metric with no units) become None."""
        return _finite(asdict(self))  # type: ignore[no-any-return]


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class ABTestRecord:
    """A stored A/B test: its plan, state and last analysis.

    ``variants`` is the traffic split (variant -> share); ``models`` names the registered model
    version behind each variant (``name/version``) when known; ``metrics`` are metric specs
    (``name`` or ``name:kind[:lower]``); ``result`` is the last analysis as a dict.
    """

    id: str
    name: str
    variants: dict[str, float]
    metrics: list[str]
    duration_days: float
    status: str  # running | stopped
    created_by: str
    created_at: int
    updated_at: int
    models: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    stopped_at: int | None = None
    result: dict[str, Any] | None = None
    description: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One unit's value of one metric in a variant, at a time (ms since the epoch)."""

    variant: str
    unit_id: str
    metric: str
    value: float
    at: int
