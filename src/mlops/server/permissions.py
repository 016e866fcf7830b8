"""Who may call each ``/api/v1`` route, and the audit entry every write leaves.

Every API route is declared with ``@allow(action, role, locate)`` under its router decorator:

* ``action`` is the stable name the audit log records (``runs.create``, ``models.transition``).
* ``role`` is the least role needed (``None``: any authenticated user; the route itself then
  filters what it returns), or a function of the request's arguments (moving a version into
  production needs admin, into staging editor).
* ``locate`` finds what the request touches in its validated arguments: experiments, runs
  (checked on their experiment), models, approval requests (on their model) and artifact paths
  (``<experiment id>/...`` or ``models/<name>/...``). With no target, the global role counts.

A route without a rule is refused (403) when authentication is on, and ``create_app`` refuses to
build an app with one, so a new route cannot silently be open; ``tests/auth`` enumerates them.

With authentication off nobody is checked, but writes are still audited, as ``anonymous``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from mlops.auth.entities import ANONYMOUS_ADMIN, NewAuditEntry, Principal, Role, Scope
from mlops.errors import AuthenticationError, MLOpsError, PermissionDeniedError
from mlops.server.dependencies import ServerState, get_state
from mlops.server.scopes import Target

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READS_THAT_POST = frozenset(
    {
        "runs.search",
        "runs.get_many",
        "runs.keys",
        "runs.counts",
        "runs.count",
        "metrics.histories",
        "features.online",
    }
)
"""POST routes that only read (a body is their query): not audited."""
RULE_ATTRIBUTE = "__mlops_rule__"

Args = Mapping[str, Any]
RoleSpec = Role | None | Callable[[Args, ServerState], Role | None]


@dataclass(frozen=True)
class Rule:
    """A route's permission: the audit action, the role it needs, and where its targets are."""

    action: str
    role: RoleSpec
    locate: Callable[[Args], Sequence[Target]] | None = None

    def needed(self, args: Args, state: ServerState) -> Role | None:
        return self.role(args, state) if callable(self.role) else self.role


def allow(
    action: str, role: RoleSpec, locate: Callable[[Args], Sequence[Target]] | None = None
) -> Callable[[F], F]:
    """Declare a route's rule (see the module docstring); put it under the router decorator."""
    rule = Rule(action, role, locate)

    def decorate(endpoint: F) -> F:
        return _guarded(endpoint, rule)

    return decorate


# --- locators ----------------------------------------------------------------------------------


def param(kind: str, name: str) -> Callable[[Args], Sequence[Target]]:
    """The target named by argument ``name`` (a path or query parameter)."""
    return lambda args: [(kind, str(args[name]))]


def in_body(kind: str, pick: Callable[[Any], Any]) -> Callable[[Args], Sequence[Target]]:
    """Targets in the request body: ``pick(body)`` is one id, a list of ids, or None."""

    def locate(args: Args) -> Sequence[Target]:
        found = pick(args["body"])
        if found is None:
            return []
        ids = found if isinstance(found, list | tuple | set) else [found]
        return [(kind, str(i)) for i in dict.fromkeys(ids)]

    return locate


def admin_only(args: Args, state: ServerState) -> Role:
    return Role.ADMIN


# --- who is calling ----------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def get_principal(request: Request) -> Principal:
    """The authenticated caller (401 if there is none); everyone is an admin with auth off."""
    cached = getattr(request.state, "mlops_principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    state = get_state(request)
    if not state.config.server.auth:
        request.state.mlops_principal = ANONYMOUS_ADMIN
        return ANONYMOUS_ADMIN
    try:
        principal = await anyio.to_thread.run_sync(state.access.authenticate, _bearer(request))
    except AuthenticationError as exc:
        if request.method in WRITES:
            rule = rule_of(request.scope.get("route"))
            action = rule.action if rule else "unknown"
            # No one is authenticated: the actor is "-" (not "anonymous", the auth-off caller).
            entry = NewAuditEntry(
                "-", action, "", "", 401, {"path": request.url.path, "reason": str(exc)}
            )
            await anyio.to_thread.run_sync(_record, state, entry)
        raise
    request.state.mlops_principal = principal
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def acting_user(caller: Principal, claimed: str) -> str:
    """Who a registry change is recorded as: with auth on, the caller, whatever the body says."""
    return caller.username if caller.auth_enabled else claimed


# --- checking and auditing ---------------------------------------------------------------------


@dataclass
class Guard:
    """One request's check against its route's rule, and its audit entry afterwards."""

    state: ServerState
    request: Request
    principal: Principal
    rule: Rule
    targets: Sequence[Target] = field(default_factory=list)

    @property
    def audited(self) -> bool:
        return self.request.method in WRITES and self.rule.action not in READS_THAT_POST

    def check(self, args: Args) -> None:
        """Find the targets; with auth on, refuse (403) a caller without the needed role."""
        self.targets = self.rule.locate(args) if self.rule.locate else []
        if not self.principal.auth_enabled:
            return
        needed = self.rule.needed(args, self.state)
        if needed is None:
            return
        for scope, resource in self.state.scopes.resolve(self.targets) or [(Scope.GLOBAL, "")]:
            if not self.principal.can(needed, scope, resource):
                where = "globally" if scope is Scope.GLOBAL else f"on {scope.value} {resource!r}"
                option = "" if scope is Scope.GLOBAL else f" --{scope.value} {resource}"
                held = self.principal.role_on(scope, resource)
                raise PermissionDeniedError(
                    f"user {self.principal.username!r} needs the {needed.value} role {where} "
                    f"to {self.rule.action} (holds {held.value if held else 'no role'}); ask an "
                    f"admin: mlops grant {self.principal.username} {needed.value}{option}"
                )

    def entry(self, status: int, error: BaseException | None = None) -> NewAuditEntry:
        """This request's audit entry: its targets and outcome."""
        kind, ident = self.targets[0] if self.targets else ("", "")
        details: dict[str, Any] = {"path": self.request.url.path}
        if len(self.targets) > 1:
            details["targets"] = [f"{k}:{i}" for k, i in self.targets[:20]]
            details["target_count"] = len(self.targets)
        if isinstance(error, PermissionDeniedError):
            details["reason"] = str(error)
        return NewAuditEntry(
            self.principal.username, self.rule.action, kind, ident, status, details
        )

    @contextmanager
    def riding(self) -> Iterator[Callable[[int], bool]]:
        """Run the endpoint in this block: its first write transaction carries the audit entry.

        Yields ``written(status)``: whether the entry, with that outcome, is already stored.
        """
        if not self.audited:
            yield lambda status: True
            return
        planned = _planned_status(self.request)
        with self.state.access.audit.alongside_next_write([self.entry(planned)]) as written:
            yield lambda status: status == planned and written()

    def done(self, status: int, error: BaseException | None = None) -> None:
        """Append this request's audit entry, if it is a write."""
        if self.audited:
            _record(self.state, self.entry(status, error))


def _record(state: ServerState, entry: NewAuditEntry) -> None:
    state.access.audit.append([entry])


def rule_of(route: object) -> Rule | None:
    """The rule a route was declared with (None if it has none)."""
    return getattr(getattr(route, "endpoint", None), RULE_ATTRIBUTE, None)


async def get_guard(request: Request, principal: Caller) -> Guard:
    rule = rule_of(request.scope.get("route"))
    assert rule is not None  # only guarded endpoints depend on this
    return Guard(get_state(request), request, principal, rule)


def _planned_status(request: Request) -> int:
    route = request.scope.get("route")
    return getattr(route, "status_code", None) or 200


def _status_of(result: Any, request: Request) -> int:
    return result.status_code if isinstance(result, Response) else _planned_status(request)


def status_of_error(exc: BaseException) -> int:
    """The status the error handlers will answer ``exc`` with."""
    if isinstance(exc, MLOpsError):
        return exc.status_code
    if isinstance(exc, IntegrityError):
        return 404 if "foreign key" in str(exc.orig).lower() else 409
    return 500


def _guarded(endpoint: F, rule: Rule) -> F:
    """``endpoint`` checked against ``rule`` before it runs and audited after."""
    signature = inspect.signature(endpoint, eval_str=True)
    guard_param = inspect.Parameter(
        "mlops_guard",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[Guard, Depends(get_guard)],
    )
    if inspect.iscoroutinefunction(endpoint):

        async def wrapper(**kwargs: Any) -> Any:
            guard: Guard = kwargs.pop("mlops_guard")
            try:
                if guard.principal.auth_enabled:  # role lookups may read the database
                    await anyio.to_thread.run_sync(guard.check, kwargs)
                else:
                    guard.check(kwargs)
                with guard.riding() as written:
                    result = await endpoint(**kwargs)
            except BaseException as exc:
                await anyio.to_thread.run_sync(guard.done, status_of_error(exc), exc)
                raise
            status = _status_of(result, guard.request)
            if not written(status):
                await anyio.to_thread.run_sync(guard.done, status)
            return result

    else:

        def wrapper(**kwargs: Any) -> Any:  # type: ignore[misc]
            guard: Guard = kwargs.pop("mlops_guard")
            try:
                guard.check(kwargs)
                with guard.riding() as written:
                    result = endpoint(**kwargs)
            except BaseException as exc:
                guard.done(status_of_error(exc), exc)
                raise
            status = _status_of(result, guard.request)
            if not written(status):
                guard.done(status)
            return result

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), guard_param]
    )
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(wrapper, attribute, getattr(endpoint, attribute))
    setattr(wrapper, RULE_ATTRIBUTE, rule)
    return wrapper  # type: ignore[return-value]


def api_routes(routes: Sequence[Any]) -> list[Any]:
    """Every route under ``/api/`` (with ``path``, ``methods``, ``endpoint``), nested or not.

    FastAPI 0.16x keeps included routers lazily (``iter_route_contexts`` flattens them); older
    versions list the routes themselves.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI < 0.16x: app.routes is already flat
        flat: Iterable[Any] = routes
    else:
        flat = iter_route_contexts(routes)
    return [
        r
        for r in flat
        if (getattr(r, "path", None) or "").startswith("/api/") and getattr(r, "methods", None)
    ]


def unruled_routes(routes: Sequence[Any]) -> list[str]:
    """``METHOD path`` of every ``/api/v1`` route that has no rule."""
    return [
        f"{','.join(sorted(r.methods))} {r.path}" for r in api_routes(routes) if rule_of(r) is None
    ]
