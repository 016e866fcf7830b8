"""From logged outcomes to ``ABTestResults``: per-variant values, every treatment-vs-control
test with correction, the sample-ratio check, the sequential test and the verdict.

The primary metric (the first success metric) decides; the others are guardrails: a winner
must not be significantly worse on any of them. In a live test the primary decision is the
group-sequential test over daily looks (valid however often results are read: the looks are
the day boundaries, not the moments someone checks); an offline replay is one fixed-horizon
look. P-values of all (metric, treatment) pairs are corrected together (Holm by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops.experiments.abtest import sequential as seq
from mlops.experiments.abtest.entities import (
    ABTestResults,
    Comparison,
    SequentialLooks,
    SRMCheck,
    VariantResult,
    Verdict,
)
from mlops.experiments.abtest.errors import ABTestStateError, InvalidABTestError
from mlops.experiments.abtest.metrics import Arm, MetricSpec, compare, units, value_of
from mlops.experiments.abtest.srm import srm_check
from mlops.experiments.abtest.stats import holm

__all__ = ["CORRECTIONS", "DAY_MS", "Plan", "analyze_frame"]

DAY_MS = 86_400_000
CORRECTIONS = ("holm", "bonferroni", "none")
BANDIT_DECISION = 0.95


@dataclass(frozen=True)
class Plan:
    """What an analysis needs to know about the test."""

    test_id: str
    name: str
    split: dict[str, float]
    control: str
    metrics: list[MetricSpec]
    alpha: float = 0.05
    correction: str = "holm"
    sequential: str | None = "obrien_fleming"
    allocation: str = "fixed"
    start_ms: int = 0
    duration_days: float = 14.0

    @property
    def treatments(self) -> list[str]:
        return [v for v in self.split if v != self.control]


Wide = dict[str, tuple[pd.DataFrame, pd.DataFrame]]
"""variant -> (values, times): one row per unit, one column per logged metric."""


def _wide(frame: pd.DataFrame, plan: Plan) -> Wide:
    """Each variant's outcomes pivoted once; looks then filter rows by time."""
    out: Wide = {}
    for variant in plan.split:
        sub = frame[frame["variant"] == variant]
        out[variant] = (
            sub.pivot(index="unit_id", columns="metric", values="value"),
            sub.pivot(index="unit_id", columns="metric", values="at"),
        )
    return out


def _arms(wide: Wide, plan: Plan, before: int | None = None) -> dict[str, dict[str, Arm]]:
    """variant -> metric -> the arm's data (only values logged before ``before``, if given)."""
    out: dict[str, dict[str, Arm]] = {}
    for variant, (values, times) in wide.items():
        if before is not None:
            values = values.where(times < before)
        arms: dict[str, Arm] = {}
        for spec in plan.metrics:
            if spec.kind == "classification":
                if {"prediction", "label"} <= set(values.columns):
                    both = values[["prediction", "label"]].dropna()
                    arms[spec.name] = (
                        both["prediction"].to_numpy(float),
                        both["label"].to_numpy(float),
                    )
                else:
                    arms[spec.name] = (np.empty(0), np.empty(0))
            elif spec.name in values.columns:
                arms[spec.name] = values[spec.name].dropna().to_numpy(float)
            else:
                arms[spec.name] = np.empty(0)
        out[variant] = arms
    return out


def _correct(p_values: Sequence[float], how: str) -> list[float]:
    if how == "holm":
        return holm(p_values)
    if how == "bonferroni":
        return [min(1.0, p * len(p_values)) for p in p_values]
    return list(p_values)


def _comparisons(arms: dict[str, dict[str, Arm]], plan: Plan) -> list[Comparison]:
    raw = []
    for spec in plan.metrics:
        for treatment in plan.treatments:
            a, b = arms[plan.control][spec.name], arms[treatment][spec.name]
            if units(spec, a) < 2 or units(spec, b) < 2:
                continue  # too few units for this metric: no test yet
            result, prob = compare(spec, a, b, plan.alpha)
            raw.append((spec, treatment, result, prob, units(spec, a), units(spec, b)))
    adjusted = _correct([r[2].p_value for r in raw], plan.correction)
    return [
        Comparison(
            metric=spec.name,
            control=plan.control,
            treatment=treatment,
            test=result.test,
            control_value=result.control_value,
            treatment_value=result.treatment_value,
            difference=result.difference,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            p_value=result.p_value,
            adjusted_p_value=adj,
            significant=adj < plan.alpha,
            prob_beat=prob,
            higher_is_better=spec.higher_is_better,
            n_control=n_a,
            n_treatment=n_b,
        )
        for (spec, treatment, result, prob, n_a, n_b), adj in zip(raw, adjusted, strict=True)
    ]


def _looks(wide: Wide, plan: Plan, now_ms: int) -> list[SequentialLooks]:
    """The primary metric's sequential test per treatment, over the completed days."""
    spec = plan.metrics[0]
    if plan.sequential is None or plan.duration_days <= 0 or spec.name == "f1_score":
        return []
    elapsed = (now_ms - plan.start_ms) / DAY_MS
    days = min(elapsed, plan.duration_days)
    cuts = [plan.start_ms + k * DAY_MS for k in range(1, math.floor(days) + 1)]
    if elapsed >= plan.duration_days and days > math.floor(days):
        cuts.append(plan.start_ms + round(plan.duration_days * DAY_MS))
    # Each treatment is tested at alpha / (number of treatments): Bonferroni across arms.
    alpha = plan.alpha / len(plan.treatments)
    z: dict[str, list[float]] = {t: [] for t in plan.treatments}
    info: dict[str, list[float]] = {t: [] for t in plan.treatments}
    fractions: dict[str, list[float]] = {t: [] for t in plan.treatments}
    for cut in cuts:
        arms = _arms(wide, plan, before=cut)
        a = arms[plan.control][spec.name]
        for t in plan.treatments:
            b = arms[t][spec.name]
            n_a, n_b = units(spec, a), units(spec, b)
            if n_a < 2 or n_b < 2:
                continue
            result, _ = compare(spec, a, b, alpha, bayes=False)
            if math.isnan(result.statistic):
                continue
            z[t].append(result.statistic)
            info[t].append(n_a * n_b / (n_a + n_b))
            fractions[t].append(min(1.0, (cut - plan.start_ms) / (plan.duration_days * DAY_MS)))
    out = []
    for t in plan.treatments:
        found = seq.group_sequential(z[t], fractions[t], info[t], alpha, plan.sequential)
        out.append(
            SequentialLooks(
                treatment=t,
                method=found.method,
                fractions=found.fractions,
                z_values=found.z_values,
                bounds=found.bounds,
                crossed_at=found.crossed_at,
                complete=elapsed >= plan.duration_days,
            )
        )
    return out


def _verdict(
    plan: Plan,
    comparisons: list[Comparison],
    srm: SRMCheck | None,
    looks: list[SequentialLooks],
    live: bool,
) -> Verdict:
    spec = plan.metrics[0]
    primary = {c.treatment: c for c in comparisons if c.metric == spec.name}
    if len(primary) < len(plan.treatments):
        missing = [t for t in [plan.control, *plan.treatments] if t not in primary]
        return Verdict(
            "insufficient_data",
            None,
            f"the primary metric {spec.name!r} needs at least 2 units per variant "
            f"(short: {', '.join(missing)})",
        )
    if srm is not None and srm.mismatch:
        return Verdict(
            "srm_mismatch",
            None,
            f"sample ratio mismatch (chi-square p = {srm.p_value:.2g}): units {srm.observed} "
            f"against expected { ({k: round(v) for k, v in srm.expected.items()}) }; fix "
            "assignment or logging before trusting any difference",
        )
    sign = 1 if spec.higher_is_better else -1
    if plan.allocation == "thompson":
        better = [t for t, c in primary.items() if c.prob_beat >= BANDIT_DECISION]
        worse = [t for t, c in primary.items() if c.prob_beat <= 1 - BANDIT_DECISION]
        how = f"P(beats {plan.control}) >= {BANDIT_DECISION}"
        undecided = "running"
    elif live and looks:
        crossed = {s.treatment: s for s in looks if s.crossed_at is not None}
        better = [t for t, s in crossed.items() if sign * s.z_values[s.crossed_at or 0] > 0]
        worse = [t for t in crossed if t not in better]
        how = "the sequential test crossed its boundary"
        undecided = "no_difference" if all(s.complete for s in looks) else "running"
    else:
        better = [t for t, c in primary.items() if c.better]
        worse = [t for t, c in primary.items() if c.worse]
        how = f"{plan.correction}-corrected p < {plan.alpha}"
        undecided = "no_difference"
    if better:
        winner = max(better, key=lambda t: sign * primary[t].difference)
        harms = [c.metric for c in comparisons if c.treatment == winner and c.worse]
        if harms:
            return Verdict(
                "conflicting",
                None,
                f"{winner} is better than {plan.control} on {spec.name} ({how}) but "
                f"significantly worse on {', '.join(harms)}",
            )
        c = primary[winner]
        return Verdict(
            "winner",
            winner,
            f"{winner} beats {plan.control} on {spec.name}: {c.treatment_value:.4g} vs "
            f"{c.control_value:.4g}, difference {c.difference:+.4g} "
            f"[{c.ci_low:+.4g}, {c.ci_high:+.4g}] ({how})",
        )
    if worse and len(worse) == len(plan.treatments):
        return Verdict(
            "winner",
            plan.control,
            f"every treatment is worse than {plan.control} on {spec.name} ({how})",
        )
    if undecided == "running":
        return Verdict("running", None, f"no significant difference on {spec.name} yet; keep "
                       "collecting until a boundary is crossed or the planned end")  # fmt: skip
    return Verdict("no_difference", None, f"no significant difference on {spec.name} ({how})")


def analyze_frame(frame: pd.DataFrame, plan: Plan, *, live: bool, now_ms: int) -> ABTestResults:
    """Analyze outcomes (columns ``variant, unit_id, metric, value, at``) under ``plan``.

    Raises:
        ABTestStateError: No outcome has been logged yet.
        InvalidABTestError: Outcomes name a variant the plan does not have.
    """
    if frame.empty:
        raise ABTestStateError(
            f"A/B test {plan.name!r} has no outcomes yet: log some (ABTestFramework.log_outcomes"
            ", POST /api/v1/abtests/{name}/outcomes) or replay a dataset with run()"
        )
    unknown = sorted(set(frame["variant"]) - set(plan.split))
    if unknown:
        raise InvalidABTestError(f"outcomes name unknown variant(s) {unknown}; variants: "
                                 f"{list(plan.split)}")  # fmt: skip
    frame = frame.drop_duplicates(["variant", "unit_id", "metric"], keep="last")
    wide = _wide(frame, plan)
    arms = _arms(wide, plan)
    comparisons = _comparisons(arms, plan)
    counts = frame.groupby("variant")["unit_id"].nunique()
    srm = None
    if plan.allocation == "fixed":
        srm = srm_check({v: int(counts.get(v, 0)) for v in plan.split}, plan.split)
    looks = _looks(wide, plan, now_ms) if live else []
    primary = plan.metrics[0]
    variants = {}
    for v in plan.split:
        values = {s.name: value_of(s, arms[v][s.name]) for s in plan.metrics}
        perf = values[primary.name]
        variants[v] = VariantResult(
            name=v,
            units=int(counts.get(v, 0)),
            metrics=values,
            performance=None if math.isnan(perf) else (perf if primary.higher_is_better else -perf),
        )
    return ABTestResults(
        test_id=plan.test_id,
        test_name=plan.name,
        control_variant=plan.control,
        primary_metric=primary.name,
        alpha=plan.alpha,
        correction=plan.correction,
        variants=variants,
        comparisons=comparisons,
        srm=srm,
        verdict=_verdict(plan, comparisons, srm, looks, live),
        sequential=looks,
        mode="live" if live else "offline",
        analyzed_at=now_ms,
    )
