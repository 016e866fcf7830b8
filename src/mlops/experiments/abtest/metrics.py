"""Success metrics: what each name means, which test fits it, and its per-variant value.

A metric is ``name`` (a built-in below) or ``name:kind`` with ``:lower`` when smaller is better
(``latency_ms:rank:lower``, ``revenue:mean``). Kinds:

* ``proportion``: 0/1 outcomes per unit -> two-proportion z-test;
* ``mean``: numbers whose mean matters and whose tails are tame -> Welch's t-test;
* ``rank``: skewed or heavy-tailed numbers (latency, spend) -> Mann-Whitney U;
* ``classification``: ``precision``, ``recall``, ``accuracy``, ``f1_score``, from each unit's
  logged ``prediction`` and ``label`` (1 = positive). Precision is a proportion over predicted
  positives, recall over actual positives, accuracy over all units, each z-tested; F1 has no
  per-unit form, so it gets a bootstrap (resampling the confusion-matrix counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as st

from mlops.experiments.abtest import stats
from mlops.experiments.abtest.bayes import prob_beat_means, prob_beat_proportions
from mlops.experiments.abtest.entities import TestResult
from mlops.experiments.abtest.errors import InvalidABTestError

__all__ = ["BUILTIN", "KINDS", "RESERVED", "MetricSpec", "compare", "value_of"]

KINDS = ("proportion", "mean", "rank", "classification")
CLASSIFICATION = ("precision", "recall", "accuracy", "f1_score")
BUILTIN: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(CLASSIFICATION, ("classification", True)),
    "conversion": ("proportion", True),
    "conversion_rate": ("proportion", True),
    "click_through_rate": ("proportion", True),
    "latency_ms": ("rank", False),
}
RESERVED = ("prediction", "label")
"""Outcome names classification metrics are computed from (logged per unit, 1 = positive)."""
BOOTSTRAP = 4000

Arm = NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]
"""One variant's data for a metric: values per unit, or (predictions, labels)."""


@dataclass(frozen=True)
class MetricSpec:
    """A success metric: its name, kind, and whether higher values are better."""

    name: str
    kind: str
    higher_is_better: bool = True

    @classmethod
    def parse(cls, spec: str | MetricSpec) -> MetricSpec:
        if isinstance(spec, MetricSpec):
            return spec
        if not isinstance(spec, str) or not spec.strip():
            raise InvalidABTestError(f"metric {spec!r} must be a name like 'conversion'")
        name, *rest = [p.strip() for p in spec.split(":")]
        if name in RESERVED:
            raise InvalidABTestError(
                f"{name!r} is an input of the classification metrics, not a metric itself; "
                f"use one of {', '.join(CLASSIFICATION)}"
            )
        if not rest:
            if name not in BUILTIN:
                raise InvalidABTestError(
                    f"unknown metric {name!r}: use a built-in ({', '.join(sorted(BUILTIN))}) or "
                    "say its kind, e.g. 'revenue:mean', 'signup:proportion', "
                    "'latency:rank:lower'"
                )
            kind, higher = BUILTIN[name]
            return cls(name, kind, higher)
        kind = rest[0]
        if (
            kind not in ("proportion", "mean", "rank")
            or len(rest) > 2
            or (len(rest) == 2 and rest[1] not in ("lower", "higher"))
        ):
            raise InvalidABTestError(
                f"metric {spec!r} is not 'name:kind' or 'name:kind:lower' with kind one of "
                "proportion, mean, rank"
            )
        return cls(name, kind, not (len(rest) == 2 and rest[1] == "lower"))

    def __str__(self) -> str:
        if BUILTIN.get(self.name) == (self.kind, self.higher_is_better):
            return self.name
        return f"{self.name}:{self.kind}" + ("" if self.higher_is_better else ":lower")


def _subset(spec: MetricSpec, arm: Arm) -> NDArray[np.float64]:
    """The 0/1 values a classification proportion is the mean of."""
    assert isinstance(arm, tuple)
    pred, label = arm
    if spec.name == "precision":
        return np.asarray(label[pred == 1], dtype=float)
    if spec.name == "recall":
        return np.asarray(pred[label == 1], dtype=float)
    return np.asarray(pred == label, dtype=float)


def _f1(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def _confusion(arm: Arm) -> NDArray[np.int64]:
    assert isinstance(arm, tuple)
    pred, label = arm
    tp = int(((pred == 1) & (label == 1)).sum())
    fp = int(((pred == 1) & (label != 1)).sum())
    fn = int(((pred != 1) & (label == 1)).sum())
    return np.array([tp, fp, fn, pred.size - tp - fp - fn])


def units(spec: MetricSpec, arm: Arm) -> int:
    """How many units the metric's test sees in this arm."""
    if spec.kind != "classification":
        assert not isinstance(arm, tuple)
        return int(arm.size)
    if spec.name == "f1_score":
        return int(arm[0].size)
    return int(_subset(spec, arm).size)


def value_of(spec: MetricSpec, arm: Arm) -> float:
    """The metric's value in one variant (a rate, a mean, a median, or the classification
    metric); NaN when the arm has no units for it."""
    if spec.kind == "classification":
        if spec.name == "f1_score":
            return float(_f1(_confusion(arm)))
        values = _subset(spec, arm)
    else:
        assert not isinstance(arm, tuple)
        values = arm
    if values.size == 0:
        return float("nan")
    return float(np.median(values) if spec.kind == "rank" else values.mean())


def _check_binary(spec: MetricSpec, values: NDArray[np.float64]) -> None:
    if not np.isin(values, (0.0, 1.0)).all():
        raise InvalidABTestError(
            f"metric {spec.name!r} is a proportion, so each unit's value must be 0 or 1; "
            f"got e.g. {values[~np.isin(values, (0.0, 1.0))][:3].tolist()}"
        )


def compare(
    spec: MetricSpec,
    control: Arm,
    treatment: Arm,
    alpha: float,
    seed: int = 0,
    bayes: bool = True,
) -> tuple[TestResult, float]:
    """The test that fits ``spec`` and P(treatment better than control) (NaN when ``bayes`` is
    False: the sequential looks need only the statistic)."""
    if spec.kind == "classification" and spec.name == "f1_score":
        ca, cb = _confusion(control), _confusion(treatment)
        rng = np.random.default_rng(seed)
        boot_a = _f1(rng.multinomial(ca.sum(), ca / ca.sum(), size=BOOTSTRAP))
        boot_b = _f1(rng.multinomial(cb.sum(), cb / cb.sum(), size=BOOTSTRAP))
        result = stats.bootstrap_test(boot_a, boot_b, float(_f1(ca)), float(_f1(cb)), alpha)
        prob = float(np.mean(boot_b > boot_a) + 0.5 * np.mean(boot_b == boot_a))
    elif spec.kind in ("proportion", "classification"):
        a = _subset(spec, control) if spec.kind == "classification" else control
        b = _subset(spec, treatment) if spec.kind == "classification" else treatment
        assert not isinstance(a, tuple)
        assert not isinstance(b, tuple)
        _check_binary(spec, a)
        _check_binary(spec, b)
        sa, sb = int(a.sum()), int(b.sum())
        result = stats.two_proportion_ztest(sa, a.size, sb, b.size, alpha)
        if not bayes:
            return result, float("nan")
        prob = prob_beat_proportions(sa, a.size, sb, b.size, seed=seed)
    else:
        assert not isinstance(control, tuple)
        assert not isinstance(treatment, tuple)
        test = stats.welch_ttest if spec.kind == "mean" else stats.mann_whitney
        result = test(control, treatment, alpha)
        se = (result.ci_high - result.ci_low) / (2 * st.norm.ppf(1 - alpha / 2))
        prob = prob_beat_means(result.difference, float(se))
    return result, (prob if spec.higher_is_better else 1 - prob)
