"""A registered python-flavor model that fails on a known, deterministic share of inputs.

It lives in its own importable module (not in a test file) so that an ``mlops serve`` replica
process can unpickle it: the tests put this folder on the replica's PYTHONPATH.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class FlakyDoubler:
    """Predicts ``2 * x``; raises on every input whose ``int(x) % 10 < fail_below``.

    With ``fail_below=3`` that is exactly 30% of the integers (those ending in 0, 1 or 2);
    with ``fail_below=0`` it never fails.
    """

    def __init__(self, fail_below: int) -> None:
        self.fail_below = fail_below

    def fails_on(self, x: float) -> bool:
        return int(x) % 10 < self.fail_below

    def predict(self, frame: Any) -> np.ndarray[Any, Any]:
        values = np.asarray(frame["x"] if hasattr(frame, "columns") else frame, dtype=float)
        values = values.reshape(-1)
        bad = [v for v in values if self.fails_on(v)]
        if bad:
            raise ValueError(f"FlakyDoubler cannot handle x={bad[0]:g}")
        return values * 2
