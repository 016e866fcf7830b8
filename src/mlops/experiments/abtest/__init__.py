"""A/B tests: sticky assignment, outcomes per variant, and their statistics.

``ABTestFramework`` is the entry point; the statistics are usable on their own:
``stats`` (z-test, Welch, Mann-Whitney, Holm), ``power`` (sample size and power),
``sequential`` (alpha spending), ``bayes`` (probability to beat), ``srm`` (sample-ratio check),
``bandit`` (Thompson weights). ``docs/abtests.md`` explains each choice.
"""

from mlops.experiments.abtest.entities import (
    ABTestRecord,
    ABTestResults,
    Comparison,
    Outcome,
    SRMCheck,
    TestResult,
    VariantResult,
    Verdict,
)
from mlops.experiments.abtest.errors import (
    ABTestError,
    ABTestExistsError,
    ABTestNotFoundError,
    ABTestStateError,
    InvalidABTestError,
)
from mlops.experiments.abtest.framework import ABTestFramework, ABTestStatus
from mlops.experiments.abtest.metrics import MetricSpec
from mlops.experiments.abtest.store import ABTestStore, abtest_store

__all__ = [
    "ABTestError",
    "ABTestExistsError",
    "ABTestFramework",
    "ABTestNotFoundError",
    "ABTestRecord",
    "ABTestResults",
    "ABTestStateError",
    "ABTestStatus",
    "ABTestStore",
    "Comparison",
    "InvalidABTestError",
    "MetricSpec",
    "Outcome",
    "SRMCheck",
    "TestResult",
    "VariantResult",
    "Verdict",
    "abtest_store",
]
