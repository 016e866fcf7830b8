"""The process-wide instance behind module functions (``mlops.log_metrics``, ``register_model``).

Built from the environment on first use, never at import, and replaceable (tests, notebooks
that switch stores).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ProcessDefault(Generic[T]):
    """A lazily built, lock-guarded shared instance."""

    def __init__(self, build: Callable[[], T], retire: Callable[[T], None] | None = None):
        self._build = build
        self._retire = retire
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def set(self, value: T | None) -> None:
        """Replace (or, with None, forget) the instance; the one replaced is retired."""
        with self._lock:
            old, self._value = self._value, value
        if old is not None and old is not value and self._retire is not None:
            self._retire(old)
