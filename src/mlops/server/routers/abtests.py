"""``/api/v1/abtests``: create A/B tests, log outcomes in batches, analyze, stop.

The rules are the domain's: plans and outcomes are checked by ``ABTestFramework`` (the same
checks a local caller gets), and analysis runs here on the served database. Reads need the
viewer role, everything that writes the editor role (tests are not scoped to one model).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from mlops.auth.entities import Role
from mlops.experiments.abtest import ABTestFramework, ABTestStore
from mlops.experiments.abtest.errors import InvalidABTestError
from mlops.server import schemas
from mlops.server.dependencies import ServerState, State
from mlops.server.permissions import Caller, acting_user, allow
from mlops.server.routers import API_PREFIX
from mlops.store.sql.abtests import SqlABTestStore

router = APIRouter(prefix=f"{API_PREFIX}/abtests", tags=["abtests"])
MAX_OUTCOMES = 10_000
"""Units per outcome batch: bounds one request's work."""
Share = Annotated[float, Field(ge=0, le=1)]
Spec = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=10_000)]


class CreateABTest(schemas.Request):
    name: schemas.Name
    variants: Annotated[dict[schemas.Name, Share], Field(min_length=2, max_length=100)]
    metrics: Annotated[list[Spec], Field(min_length=1, max_length=100)]
    duration_days: Annotated[float, Field(gt=0, le=3650)] = 14.0
    models: Annotated[
        dict[schemas.Name, Annotated[str, Field(max_length=600)]], Field(max_length=100)
    ] = Field(default_factory=dict)
    control: schemas.Name | None = None
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0, lt=1)] = 0.8
    correction: Literal["holm", "bonferroni", "none"] = "holm"
    sequential: Literal["obrien_fleming", "pocock"] | None = "obrien_fleming"
    allocation: Literal["fixed", "thompson"] = "fixed"
    salt: Annotated[str, Field(max_length=256)] | None = None
    description: Text | None = None
    user: schemas.Name | None = None


class UpdateABTest(schemas.Request):
    status: Literal["running", "stopped"] | None = None
    result: dict[str, Any] | None = None
    models: Annotated[dict[schemas.Name, Annotated[str, Field(max_length=600)]],
                      Field(max_length=100)] | None = None  # fmt: skip
    config: dict[str, Any] | None = None


class ABTestOut(schemas.Response):
    id: str
    name: str
    variants: dict[str, float]
    metrics: list[str]
    duration_days: float
    status: str
    created_by: str
    created_at: int
    updated_at: int
    models: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    stopped_at: int | None = None
    result: dict[str, Any] | None = None
    description: str | None = None


class ABTestList(schemas.Response):
    items: list[ABTestOut]


class UnitCounts(schemas.Response):
    units: dict[str, int]


class OutcomeIn(schemas.Request):
    unit_id: Annotated[str, Field(min_length=1, max_length=256)]
    values: Annotated[dict[Spec, float], Field(min_length=1, max_length=100)]
    variant: schemas.Name | None = None
    at: Annotated[int, Field(ge=0, le=2**62)] | None = None


class LogOutcomes(schemas.Request):
    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=MAX_OUTCOMES)]


class Written(schemas.Response):
    written: int


class OutcomePage(schemas.Response):
    """Outcomes as columns (a page in (unit, metric) order)."""

    variant: list[str]
    unit_id: list[str]
    metric: list[str]
    value: list[float]
    at: list[int]
    next_offset: int | None = None


class Promotion(schemas.Request):
    model: schemas.Name
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]


def store_of(state: ServerState) -> ABTestStore:
    """The served database's A/B test store (a thin object: the database is shared)."""
    return SqlABTestStore(state.stores.db)


def _test(state: ServerState, name: str) -> ABTestFramework:
    return ABTestFramework.load(name, config=state.config, store=store_of(state))


@router.post("", status_code=201, response_model=ABTestOut)
@allow("abtests.create", Role.EDITOR)
def create_abtest(body: CreateABTest, state: State, caller: Caller) -> Any:
    """Create a running test: the plan is checked as ``ABTestFramework`` checks it (splits
    summing to 1, known metrics, a control that is a variant)."""
    unknown = sorted(set(body.models) - set(body.variants))
    if unknown:
        raise InvalidABTestError(f"models name unknown variant(s) {unknown}")
    test = ABTestFramework(
        body.name,
        body.variants,
        body.metrics,
        body.duration_days,
        control=body.control,
        alpha=body.alpha,
        power=body.power,
        correction=body.correction,
        sequential=body.sequential,
        allocation=body.allocation,
        salt=body.salt,
        description=body.description,
        config=state.config,
        store=store_of(state),
        user=acting_user(caller, body.user or caller.username),
    )
    return test.create(models=body.models)


@router.get("", response_model=ABTestList)
@allow("abtests.list", Role.VIEWER)
def list_abtests(
    state: State,
    status: Literal["running", "stopped"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Tests, newest first."""
    return {"items": store_of(state).list_tests(status=status, limit=limit)}


@router.get("/{name}", response_model=ABTestOut)
@allow("abtests.get", Role.VIEWER)
def get_abtest(name: str, state: State) -> Any:
    """A test by name or id, with its last analysis."""
    return store_of(state).get_test(name)


@router.patch("/{name}", response_model=ABTestOut)
@allow("abtests.update", Role.EDITOR)
def update_abtest(name: str, body: UpdateABTest, state: State) -> Any:
    """Set a test's status, stored result, models or settings (what the client's
    ``ABTestFramework`` records after its own analysis)."""
    store = store_of(state)
    record = store.get_test(name)
    if body.config is not None or body.models is not None:
        # Settings are checked as a new test's are, so a stored test always loads.
        changed = replace(record, config=body.config or record.config)
        ABTestFramework.from_record(changed, config=state.config, store=store)
        unknown = sorted(set(body.models or {}) - set(record.variants))
        if unknown:
            raise InvalidABTestError(f"models name unknown variant(s) {unknown}")
    return store.update_test(record.id, **body.model_dump(exclude_none=True))


@router.get("/{name}/units", response_model=UnitCounts)
@allow("abtests.units", Role.VIEWER)
def count_units(name: str, state: State) -> Any:
    """Units with an outcome, per variant."""
    store = store_of(state)
    return {"units": store.count_units(store.get_test(name).id)}


@router.post("/{name}/outcomes", response_model=Written)
@allow("abtests.log", Role.EDITOR)
def log_outcomes(name: str, body: LogOutcomes, state: State) -> Any:
    """Log a batch of units' outcomes (``variant`` defaults to the unit's sticky assignment,
    ``at`` to now). A (unit, metric) logged again replaces the earlier value."""
    rows = [o.model_dump() for o in body.outcomes]
    return {"written": _test(state, name).log_outcomes(rows)}


@router.get("/{name}/outcomes", response_model=OutcomePage)
@allow("abtests.outcomes", Role.VIEWER)
def list_outcomes(
    name: str,
    state: State,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
    offset: Annotated[int, Query(ge=0, le=2**40)] = 0,
) -> Any:
    """A page of a test's outcomes, as columns."""
    store = store_of(state)
    frame = store.list_outcomes(store.get_test(name).id, limit=limit + 1, offset=offset)
    more = len(frame) > limit
    frame = frame.iloc[:limit]
    page: dict[str, Any] = {c: frame[c].tolist() for c in frame.columns}
    page["next_offset"] = offset + limit if more else None
    return page


@router.post("/{name}/analyze")
@allow("abtests.analyze", Role.EDITOR)
def analyze_abtest(name: str, state: State) -> dict[str, Any]:
    """Analyze every outcome so far and store the result: per-variant values, each metric's
    test with its interval and corrected p-value, the sample-ratio check, the sequential test
    and the verdict."""
    return _test(state, name).analyze().to_dict()


@router.post("/{name}/stop", response_model=ABTestOut)
@allow("abtests.stop", Role.EDITOR)
def stop_abtest(name: str, state: State) -> Any:
    """Stop taking outcomes (analyses still run)."""
    return _test(state, name).stop()


@router.post("/{name}/promotions", status_code=204)
@allow("abtests.promotion", Role.EDITOR)
def record_promotion(name: str, body: Promotion, state: State) -> None:
    """Record that the test promoted a model version (lineage: abtest -promoted-> version)."""
    store = store_of(state)
    store.record_promotion(store.get_test(name).id, body.model, body.version)
