"""``ABTestFramework``: plan an A/B test, assign units, log outcomes, analyze, promote.

Two ways to feed it. *Offline*: ``await ab_test.run(ensemble=..., evaluation_dataset=...)``
replays a labelled dataset: each row is a unit, assigned to a variant by the sticky hash, and
scored by that variant's model. *Live*: the serving side routes each user with the same hash
(``ModelEnsemble.assign(key)`` agrees with ``ab_test.assign(key)``) and outcomes are logged,
here or through the server (``POST /api/v1/abtests/{name}/outcomes``); ``analyze()`` reads them
back. Either way the test, its outcomes and its last result live in the metadata store, so the
CLI, the server and any process see the same test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.errors import AlreadyExistsError, NotFoundError
from mlops.experiments.abtest import power as pw
from mlops.experiments.abtest.analysis import CORRECTIONS, DAY_MS, Plan, analyze_frame
from mlops.experiments.abtest.assignment import assign, check_split
from mlops.experiments.abtest.bandit import thompson_weights
from mlops.experiments.abtest.entities import ABTestRecord, ABTestResults, Outcome
from mlops.experiments.abtest.errors import (
    ABTestExistsError,
    ABTestStateError,
    InvalidABTestError,
)
from mlops.experiments.abtest.metrics import RESERVED, MetricSpec
from mlops.experiments.abtest.replay import replay_outcomes
from mlops.experiments.abtest.sequential import SPENDING
from mlops.experiments.abtest.store import ABTestStore, abtest_store
from mlops.experiments.entities import now_ms

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ApprovalRequest, ModelVersion
    from mlops.models.registry import ModelRegistry

__all__ = ["ABTestFramework", "ABTestStatus"]

_NAME = re.compile(r"^[A-Za-z0-9][\w\-. ]{0,255}$")
ALLOCATIONS = ("fixed", "thompson")
SETTINGS = ("control", "alpha", "power", "correction", "sequential", "allocation", "salt")
"""What a stored test's ``config`` holds (plus ``mode``: live or offline)."""
MAX_BATCH = 10_000


@dataclass(frozen=True)
class ABTestStatus:
    """Where a test stands: its record, units per variant and days run of the plan."""

    record: ABTestRecord
    units: dict[str, int]
    days_elapsed: float

    @property
    def progress(self) -> float:
        """Fraction of the planned duration behind us (0..1)."""
        return min(1.0, self.days_elapsed / self.record.duration_days)


class ABTestFramework:
    """An A/B test of ``traffic_split``'s variants on ``success_metrics``.

    Args:
        name: The test's name (unique in the store).
        traffic_split: Variant -> share of units, summing to 1; the first variant is the control
            unless ``control`` says otherwise.
        success_metrics: Metric specs (see ``metrics.py``); the first is the primary metric that
            decides, the others guard against harm.
        duration_days: The planned length: the sequential test spends all of alpha by its end.
        control: The baseline variant.
        alpha: The family-wise false-positive rate.
        power: The power ``sample_size`` plans for.
        correction: ``holm`` (default), ``bonferroni`` or ``none`` across metrics and arms.
        sequential: Alpha spending of the live test (``obrien_fleming``, ``pocock``) or None
            for one fixed-horizon test at the end.
        allocation: ``fixed`` (the split) or ``thompson`` (bandit weights from outcomes).
        salt: Hashed with each unit id, to decorrelate tests on the same users.
        config: The store's configuration (default: the environment's).
        store: An ``ABTestStore`` to use instead of the configuration's.
        user: Who creates the test (default: the configured user).
    """

    def __init__(
        self,
        name: str,
        traffic_split: Mapping[str, float],
        success_metrics: Sequence[str | MetricSpec],
        duration_days: float = 14,
        *,
        control: str | None = None,
        alpha: float = 0.05,
        power: float = 0.8,
        correction: str = "holm",
        sequential: str | None = "obrien_fleming",
        allocation: str = "fixed",
        salt: str | None = None,
        description: str | None = None,
        config: MLOpsConfig | None = None,
        store: ABTestStore | None = None,
        user: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidABTestError(
                f"A/B test name {name!r} is invalid: start with a letter or digit, then up to "
                "255 letters, digits, '_', '-', '.' or spaces"
            )
        self.name = name
        self.traffic_split = check_split(traffic_split)
        if not success_metrics or isinstance(success_metrics, str):
            raise InvalidABTestError(
                "success_metrics must be a non-empty list, e.g. ['conversion']"
            )
        self.metrics = [MetricSpec.parse(m) for m in success_metrics]
        if len({m.name for m in self.metrics}) != len(self.metrics):
            raise InvalidABTestError(f"success_metrics repeat a name: {success_metrics}")
        if not (isinstance(duration_days, int | float) and 0 < duration_days <= 3650):
            raise InvalidABTestError(f"duration_days must be in (0, 3650], got {duration_days!r}")
        self.duration_days = float(duration_days)
        self.control = control if control is not None else next(iter(self.traffic_split))
        if self.control not in self.traffic_split:
            raise InvalidABTestError(
                f"control {self.control!r} is not a variant; variants: {list(self.traffic_split)}"
            )
        for label, value in (("alpha", alpha), ("power", power)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidABTestError(f"{label} must be a number, got {value!r}")
        if salt is not None and not isinstance(salt, str):
            raise InvalidABTestError(f"salt must be a string, got {salt!r}")
        if control is not None and not isinstance(control, str):
            raise InvalidABTestError(f"control must be a variant's name, got {control!r}")
        if not 0 < alpha < 0.5:
            raise InvalidABTestError(f"alpha must be in (0, 0.5), got {alpha}")
        if not alpha < power < 1:
            raise InvalidABTestError(f"power must be in (alpha, 1), got {power}")
        if correction not in CORRECTIONS:
            raise InvalidABTestError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
        if sequential is not None and sequential not in SPENDING:
            raise InvalidABTestError(
                f"sequential must be one of {SPENDING} or None, got {sequential!r}"
            )
        if allocation not in ALLOCATIONS:
            raise InvalidABTestError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
        self.alpha, self.power, self.correction = alpha, power, correction
        self.sequential, self.allocation, self.salt = sequential, allocation, salt
        self.description = description
        self._config = config
        self._store = store
        self._user = user
        self._record: ABTestRecord | None = None
        self._weights: dict[str, float] | None = None

    # --- the stored test -----------------------------------------------------------------------

    @classmethod
    def load(
        cls, name: str, *, config: MLOpsConfig | None = None, store: ABTestStore | None = None
    ) -> ABTestFramework:
        """The stored test ``name`` (or id), ready to log outcomes to and analyze."""
        store = store or abtest_store(config)
        return cls.from_record(store.get_test(name), config=config, store=store)

    @classmethod
    def from_record(
        cls,
        record: ABTestRecord,
        *,
        config: MLOpsConfig | None = None,
        store: ABTestStore | None = None,
    ) -> ABTestFramework:
        """The test a stored record describes (its settings checked like new ones).

        Raises:
            InvalidABTestError: The record's settings name unknown keys or bad values.
        """
        settings = record.config
        unknown = sorted(set(settings) - {*SETTINGS, "mode"})
        if unknown or settings.get("mode", "live") not in ("live", "offline"):
            raise InvalidABTestError(
                f"A/B test settings {unknown or settings.get('mode')!r} are not known; settings "
                f"are {', '.join(SETTINGS)} and mode (live or offline)"
            )
        test = cls(
            record.name,
            record.variants,
            record.metrics,
            record.duration_days,
            control=settings.get("control"),
            alpha=settings.get("alpha", 0.05),
            power=settings.get("power", 0.8),
            correction=settings.get("correction", "holm"),
            sequential=settings.get("sequential", "obrien_fleming"),
            allocation=settings.get("allocation", "fixed"),
            salt=settings.get("salt"),
            description=record.description,
            config=config,
            store=store,
        )
        test._record = record
        return test

    @property
    def store(self) -> ABTestStore:
        if self._store is None:
            self._store = abtest_store(self._config)
        return self._store

    def _settings(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "alpha": self.alpha,
            "power": self.power,
            "correction": self.correction,
            "sequential": self.sequential,
            "allocation": self.allocation,
            "salt": self.salt,
        }

    def create(self, models: Mapping[str, str] | None = None) -> ABTestRecord:
        """Store the test (running), or return the stored one if its plan is the same.

        Raises:
            ABTestExistsError: A test of this name exists with another plan.
        """
        # Caught by kind: over HTTP the client rebuilds NotFoundError / AlreadyExistsError.
        try:
            record = self.store.get_test(self.name)
        except NotFoundError:
            user = self._user
            if user is None:
                from mlops.config import load_config

                user = (self._config or load_config()).user
            try:
                record = self.store.create_test(
                    self.name,
                    variants=self.traffic_split,
                    metrics=[str(m) for m in self.metrics],
                    duration_days=self.duration_days,
                    user=user,
                    models=models,
                    config=self._settings(),
                    description=self.description,
                )
            except AlreadyExistsError:
                record = self.store.get_test(self.name)  # created meanwhile by another process
        stored = {k: v for k, v in record.config.items() if k != "mode"}
        plan = (record.variants, record.metrics, record.duration_days, stored)
        mine = (self.traffic_split, [str(m) for m in self.metrics], self.duration_days,
                self._settings())  # fmt: skip
        if plan != mine:
            raise ABTestExistsError(
                f"an A/B test named {self.name!r} exists with another plan (split "
                f"{record.variants}, metrics {record.metrics}, {record.duration_days:g} days, "
                f"settings {stored}); load it with ABTestFramework.load({self.name!r}) or pick "
                "another name"
            )
        if models and dict(models) != record.models:
            record = self.store.update_test(record.id, models={**record.models, **models})
        self._record = record
        return record

    @property
    def record(self) -> ABTestRecord:
        """The stored test (created on first use)."""
        return self._record if self._record is not None else self.create()

    @property
    def id(self) -> str:
        return self.record.id

    def status(self) -> ABTestStatus:
        """The stored record, units per variant, and how far into the plan the test is."""
        record = self.store.get_test(self.name)
        self._record = record
        end = record.stopped_at or now_ms()
        return ABTestStatus(
            record, self.store.count_units(record.id), (end - record.created_at) / DAY_MS
        )

    def stop(self) -> ABTestRecord:
        """Stop the test: no further outcomes are accepted; analyses still run."""
        self._record = self.store.update_test(self.record.id, status="stopped")
        return self._record

    # --- assignment and outcomes ---------------------------------------------------------------

    def assign(self, unit_id: str) -> str:
        """The variant of ``unit_id``: sticky by hash under a fixed split; under Thompson
        allocation, by the current bandit weights (``refresh_allocation`` updates them)."""
        weights = self.traffic_split
        if self.allocation == "thompson":
            weights = self._weights or self.traffic_split
        return assign(str(unit_id), weights, self.salt)

    def bandit_weights(self) -> dict[str, float]:
        """Thompson-sampling weights from the primary metric's successes per variant."""
        spec = self.metrics[0]
        if spec.kind not in ("proportion",):
            raise InvalidABTestError(
                f"Thompson allocation needs a proportion primary metric; {spec.name!r} is "
                f"{spec.kind}"
            )
        frame = self.store.list_outcomes(self.id)
        frame = frame[frame["metric"] == spec.name]
        grouped = frame.groupby("variant")["value"]
        sums, sizes = grouped.sum(), grouped.size()
        return thompson_weights(
            {v: int(sums.get(v, 0)) for v in self.traffic_split},
            {v: int(sizes.get(v, 0)) for v in self.traffic_split},
        )

    def refresh_allocation(self) -> dict[str, float]:
        """Recompute the bandit weights ``assign`` uses (Thompson allocation only)."""
        if self.allocation != "thompson":
            raise ABTestStateError(f"A/B test {self.name!r} has a fixed split, not a bandit")
        self._weights = self.bandit_weights()
        return self._weights

    def _outcomes(self, rows: Iterable[Mapping[str, Any]], default_at: int) -> list[Outcome]:
        names = {m.name for m in self.metrics if m.kind != "classification"}
        binary = {m.name for m in self.metrics if m.kind == "proportion"}
        if any(m.kind == "classification" for m in self.metrics):
            names |= set(RESERVED)
            binary |= set(RESERVED)
        out = []
        for row in rows:
            unit = row.get("unit_id")
            if unit is None or str(unit) == "":
                raise InvalidABTestError(f"outcome {dict(row)!r} has no unit_id")
            unit = str(unit)
            variant = row.get("variant") or self.assign(unit)
            if variant not in self.traffic_split:
                raise InvalidABTestError(
                    f"unknown variant {variant!r}; variants: {list(self.traffic_split)}"
                )
            values = row.get("values") or {}
            if not values:
                raise InvalidABTestError(f"outcome of unit {unit!r} has no values")
            at = int(row.get("at") or default_at)
            for metric, value in values.items():
                if metric not in names:
                    raise InvalidABTestError(
                        f"unknown metric {metric!r} for A/B test {self.name!r}; it logs "
                        f"{sorted(names)}"
                    )
                if isinstance(value, bool):
                    value = float(value)
                if not isinstance(value, int | float) or not math.isfinite(value):
                    raise InvalidABTestError(
                        f"metric {metric!r} of unit {unit!r} must be a finite number, got {value!r}"
                    )
                if metric in binary and value not in (0, 1):
                    raise InvalidABTestError(
                        f"{metric!r} is a 0/1 outcome (1 = converted / positive); unit {unit!r} "
                        f"logged {value!r}"
                    )
                out.append(Outcome(variant, unit, metric, float(value), at))
        return out

    def log_outcome(
        self,
        unit_id: str,
        values: Mapping[str, float],
        variant: str | None = None,
        at: int | None = None,
    ) -> int:
        """Log one unit's metric values (``variant`` defaults to its assignment; ``at`` to
        now, in ms)."""
        return self.log_outcomes([{"unit_id": unit_id, "values": values, "variant": variant,
                                   "at": at}])  # fmt: skip

    def log_outcomes(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Log many units' values: each row ``{"unit_id", "values": {metric: value},
        "variant"?, "at"?}``. Returns how many (unit, metric) values were written.

        Raises:
            ABTestStateError: The test is stopped.
            InvalidABTestError: A row names an unknown variant or metric, or a bad value.
        """
        # Read afresh: another process (the CLI, the server) may have stopped the test.
        record = self._record = self.store.get_test(self.record.id)
        if record.status != "running":
            raise ABTestStateError(
                f"A/B test {self.name!r} is {record.status}; it takes no more outcomes"
            )
        outcomes = self._outcomes(rows, now_ms())
        written = 0
        for start in range(0, len(outcomes), MAX_BATCH):
            written += self.store.create_outcomes(record.id, outcomes[start : start + MAX_BATCH])
        return written

    # --- analysis ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        record = self.record
        return Plan(
            test_id=record.id,
            name=record.name,
            split=self.traffic_split,
            control=self.control,
            metrics=self.metrics,
            alpha=self.alpha,
            correction=self.correction,
            sequential=self.sequential,
            allocation=self.allocation,
            start_ms=record.created_at,
            duration_days=self.duration_days,
        )

    def analyze(self, at: int | None = None) -> ABTestResults:
        """Analyze every outcome so far (``at``: as of that time, ms) and store the result.

        Raises:
            ABTestStateError: No outcomes yet.
        """
        record = self.record
        live = record.config.get("mode") != "offline"
        now = at if at is not None else (record.stopped_at or now_ms())
        frame = self.store.list_outcomes(record.id)
        if at is not None:
            frame = frame[frame["at"] < at]
        results = analyze_frame(frame, self.plan(), live=live, now_ms=now)
        self._record = self.store.update_test(record.id, result=results.to_dict())
        return results

    def sample_size(
        self, baseline: float, minimum_detectable_effect: float, sd: float | None = None
    ) -> dict[str, int]:
        """Units each variant needs to detect ``minimum_detectable_effect`` (absolute) on the
        primary metric from ``baseline`` at this test's alpha and power (each treatment tested
        at alpha / number of treatments). Mean metrics need ``sd``; rank metrics use the t-test
        size times pi/3 (Mann-Whitney's asymptotic relative efficiency)."""
        spec = self.metrics[0]
        treatments = [v for v in self.traffic_split if v != self.control]
        alpha = self.alpha / len(treatments)
        share_c = self.traffic_split[self.control]
        if share_c <= 0:
            raise InvalidABTestError("the control has no traffic; give it a share above 0")
        sizes = {self.control: 0}
        for t in treatments:
            ratio = self.traffic_split[t] / share_c
            if ratio <= 0:
                sizes[t] = 0
                continue
            if spec.kind in ("proportion", "classification"):
                n_c = pw.sample_size_proportions(
                    baseline, baseline + minimum_detectable_effect, alpha, self.power, ratio
                )
            else:
                if sd is None:
                    raise InvalidABTestError(
                        f"the primary metric {spec.name!r} is a {spec.kind} metric: give its "
                        "standard deviation, sd=..."
                    )
                n_c = pw.sample_size_means(minimum_detectable_effect, sd, alpha, self.power, ratio)
                if spec.kind == "rank":
                    n_c = math.ceil(n_c * math.pi / 3)
            sizes[self.control] = max(sizes[self.control], n_c)
            sizes[t] = math.ceil(n_c * ratio)
        return sizes

    # --- offline replay and promotion ----------------------------------------------------------

    def run(
        self,
        ensemble: Any,
        evaluation_dataset: Any,
        *,
        label_column: str | None = None,
        unit_column: str | None = None,
    ) -> ABTestResults:
        """Replay a labelled dataset: each row is a unit, assigned to a variant by the sticky
        hash of its id (``unit_column``, else the row's index) and scored by that variant's
        member of ``ensemble``. Returns the analysis (awaitable, as the seed writes it).

        ``evaluation_dataset`` is a DataFrame with a label column (``label_column``, else the
        first of label, is_anomaly, anomaly, target, y) or a tuple ``(X, y)``.
        """
        if any(m.kind != "classification" for m in self.metrics):
            raise InvalidABTestError(
                "run() replays a labelled dataset, so it measures classification metrics "
                "(precision, recall, accuracy, f1_score); log other metrics with log_outcomes()"
            )
        now = now_ms()
        outcomes, models = replay_outcomes(
            ensemble,
            evaluation_dataset,
            self.traffic_split,
            self.salt,
            now,
            label_column=label_column,
            unit_column=unit_column,
        )
        record = self.create(models=models)
        if record.config.get("mode") != "offline":
            record = self.store.update_test(record.id, config={**record.config, "mode": "offline"})
        self._record = record
        for start in range(0, len(outcomes), MAX_BATCH):
            self.store.create_outcomes(record.id, outcomes[start : start + MAX_BATCH])
        frame = pd.DataFrame(
            [(x.variant, x.unit_id, x.metric, x.value, x.at) for x in outcomes],
            columns=["variant", "unit_id", "metric", "value", "at"],
        )
        results = analyze_frame(frame, self.plan(), live=False, now_ms=now)
        self._record = self.store.update_test(record.id, result=results.to_dict())
        return results

    def promote_winner(
        self,
        results: ABTestResults | None = None,
        *,
        stage: str = "production",
        registry: ModelRegistry | None = None,
    ) -> ModelVersion | ApprovalRequest:
        """Promote the winning variant's model version through the registry, recording the
        test (name, id, verdict) in the promotion's comment and a lineage edge
        ``abtest -promoted-> model_version``.

        Raises:
            ABTestStateError: No winner, or the winner has no registered model version.
        """
        results = results or self.analyze()
        winner = results.verdict.winner
        if winner is None:
            raise ABTestStateError(
                f"A/B test {self.name!r} has no winner to promote: {results.verdict.status} "
                f"({results.verdict.reason})"
            )
        model = self.record.models.get(winner)
        if model is None:
            raise ABTestStateError(
                f"variant {winner!r} of A/B test {self.name!r} has no registered model version; "
                "create the test with models (CLI: --variant NAME=models:/MODEL/VERSION:SHARE)"
            )
        from mlops.models.registry import default_registry

        registry = registry or default_registry()
        name, _, version = model.rpartition("/")
        comment = (
            f"A/B test {self.name!r} (id {self.id}): {results.verdict.status}, "
            f"{results.verdict.reason}"
        )
        promoted = registry.promote_model(name, version=int(version), stage=stage,
                                          comment=comment[:2000])  # fmt: skip
        self.store.record_promotion(self.id, name, int(version))
        return promoted
