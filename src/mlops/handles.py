"""Results that can be awaited or waited on, so seed code that says ``await x.op()`` runs.

A call that has already finished returns ``Completed(value)``: ``await`` it inside a coroutine,
or call ``.wait()`` (or just use ``.value``) in a plain script. No event loop is ever required.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A", bound="Awaitable")


class Completed(Generic[T]):
    """The result of an operation that finished before it returned."""

    __slots__ = ("value",)

    def __init__(self, value: T):
        self.value = value

    def wait(self, timeout: float | None = None) -> T:
        """The result (already there; ``timeout`` is accepted for symmetry with running work)."""
        return self.value

    def __await__(self) -> Generator[Any, None, T]:
        return self.value
        yield  # makes this a generator, as __await__ must be

    def __repr__(self) -> str:
        return f"Completed({self.value!r})"


class Awaitable:
    """Mixin for a finished result that the seed awaits: ``await x`` is ``x`` itself.

    Lets a synchronous call's return value (a promoted ``ModelVersion``, an A/B test's results)
    be awaited as the seed writes it, while plain callers use it directly.
    """

    __slots__ = ()

    def __await__(self: A) -> Generator[Any, None, A]:
        return self
        yield  # makes this a generator, as __await__ must be
