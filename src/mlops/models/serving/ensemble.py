"""``ModelEnsemble``: named models combined by weighted routing, averaging or voting, plus
shadow models that see the same traffic but never answer.

Members are anything with ``predict``: a loaded model, a registered ``ModelVersion`` or a
``models:/...`` reference (loaded, integrity-checked, through the registry on first use), or a
plain estimator. Routing is sticky when a key is given (the same user always reaches the same
member, via a hash, so it survives restarts and matches across replicas) and weighted-random
otherwise. Shadows run on a background thread after the answer is computed; their outputs are
compared with what was returned and summarised by :meth:`ModelEnsemble.shadow_report`.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops.assignment import hash_point, pick
from mlops.errors import InvalidInputError
from mlops.models.entities import ModelVersion
from mlops.models.registry import ModelRegistry, default_registry

__all__ = ["EnsemblePrediction", "ModelEnsemble", "ShadowStats"]

log = logging.getLogger(__name__)

Strategy = Literal["route", "average", "vote"]


@dataclass(frozen=True)
class EnsemblePrediction:
    """What the ensemble answered and which member(s) answered it."""

    predictions: NDArray[Any]
    members: tuple[str, ...]


@dataclass(frozen=True)
class ShadowStats:
    """How a shadow's outputs compared with the ensemble's answers.

    ``agreement`` is the fraction of rows with the same output (for labels); ``mean_abs_diff``
    the mean absolute difference (for numbers); both are ``None`` before any comparison.
    """

    name: str
    calls: int
    rows: int
    errors: int
    agreement: float | None
    mean_abs_diff: float | None
    last_error: str | None


class ModelEnsemble:
    """Several models behind one ``predict``.

    Args:
        members: Name -> model (loaded model, ``ModelVersion``, ``models:/`` URI, estimator).
        weights: Name -> non-negative weight (default: equal). Used for routing and averaging,
            and as vote weights.
        strategy: ``"route"`` (one member answers each call), ``"average"`` (weighted mean of
            every member's output) or ``"vote"`` (weighted majority per row).
        shadows: Name -> model run on the same inputs; recorded and compared, never returned.
        registry: Loads ``ModelVersion`` and URI members (default: the process's registry).
        seed: Seeds the random routing of calls without a key.
    """

    def __init__(
        self,
        members: Mapping[str, Any],
        *,
        weights: Mapping[str, float] | None = None,
        strategy: Strategy = "route",
        shadows: Mapping[str, Any] | None = None,
        registry: ModelRegistry | None = None,
        seed: int | None = None,
    ) -> None:
        if not members:
            raise InvalidInputError("an ensemble needs at least one member")
        if strategy not in ("route", "average", "vote"):
            raise InvalidInputError(
                f"strategy {strategy!r} is not one of 'route', 'average', 'vote'"
            )
        shadows = dict(shadows or {})
        clash = sorted(set(members) & set(shadows))
        if clash:
            raise InvalidInputError(f"{clash} cannot be both a member and a shadow")
        weights = dict(weights) if weights is not None else dict.fromkeys(members, 1.0)
        unknown = sorted(set(weights) - set(members))
        if unknown:
            raise InvalidInputError(f"weights name unknown member(s) {unknown}")
        bad = {n: w for n, w in weights.items() if not (isinstance(w, int | float) and w >= 0)}
        if bad or sum(weights.values()) <= 0:
            raise InvalidInputError(
                f"weights must be non-negative numbers with a positive sum, got {weights}"
            )
        self.strategy: Strategy = strategy
        self.weights = {name: float(weights.get(name, 0.0)) for name in members}
        self._models: dict[str, Any] = {**dict(members), **shadows}
        self.sources: dict[str, Any] = dict(self._models)
        """Each member's and shadow's model as given (a ``ModelVersion``, a ``models:/`` reference
        or an object), kept after loading so callers can name the version behind a member."""
        self.member_names = tuple(members)
        self.shadow_names = tuple(shadows)
        self._registry = registry
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_futures: collections.deque[Future[None]] = collections.deque(maxlen=1024)
        self._stats = {name: _Tally() for name in self.shadow_names}

    # --- predicting ----------------------------------------------------------------------------

    def predict(self, data: Any, key: str | None = None) -> NDArray[Any]:
        """The ensemble's answer for ``data`` (shadows are run, but their output is not used)."""
        return self.predict_detailed(data, key).predictions

    def predict_detailed(self, data: Any, key: str | None = None) -> EnsemblePrediction:
        """The answer and which member(s) produced it; ``key`` makes routing sticky."""
        if self.strategy == "route":
            name = self.assign(key)
            answer = EnsemblePrediction(self.predict_member(name, data), (name,))
        else:
            used = tuple(n for n in self.member_names if self.weights[n] > 0)
            outputs = [self.predict_member(n, data) for n in used]
            weights = np.array([self.weights[n] for n in used])
            combined = (
                _average(outputs, weights) if self.strategy == "average"
                else _vote(outputs, weights)
            )  # fmt: skip
            answer = EnsemblePrediction(combined, used)
        if self.shadow_names:
            self._run_shadows(data, answer.predictions)
        return answer

    def member_model(self, name: str) -> Any:
        """A member's (or shadow's) loaded model (loaded now if it was given by reference)."""
        return self._model(name)

    def predict_member(self, name: str, data: Any) -> NDArray[Any]:
        """One member's (or shadow's) own prediction."""
        return np.asarray(self._model(name).predict(data))

    def predict_all(self, data: Any) -> dict[str, NDArray[Any]]:
        """Every member's prediction, by name (offline comparisons, A/B replays)."""
        return {name: self.predict_member(name, data) for name in self.member_names}

    def assign(self, key: str | None = None) -> str:
        """The member that answers a call: by weight, sticky for a given ``key``."""
        if key is None:
            with self._lock:
                point = self._random.random()
        else:
            point = hash_point(key)
        return pick(point, self.member_names, [self.weights[n] for n in self.member_names])

    # --- shadows -------------------------------------------------------------------------------

    def shadow_report(self, wait: bool = True) -> dict[str, ShadowStats]:
        """How each shadow compared with the answers so far (``wait``: finish queued runs)."""
        if wait:
            self.flush()
        with self._lock:
            return {name: tally.stats(name) for name, tally in self._stats.items()}

    def flush(self) -> None:
        """Wait for every shadow run queued so far."""
        while self._shadow_futures:
            self._shadow_futures.popleft().result()

    def close(self) -> None:
        """Finish shadow runs and stop their thread."""
        self.flush()
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
            self._shadow_pool = None

    def _run_shadows(self, data: Any, answer: NDArray[Any]) -> None:
        if self._shadow_pool is None:
            self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="mlops-shadow")
        for name in self.shadow_names:
            self._shadow_futures.append(self._shadow_pool.submit(self._shadow, name, data, answer))

    def _shadow(self, name: str, data: Any, answer: NDArray[Any]) -> None:
        try:
            output = self.predict_member(name, data)
        # A shadow must never affect serving: whatever it raises is counted and kept as text.
        except Exception as exc:
            with self._lock:
                self._stats[name].fail(f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._stats[name].compare(output, answer)

    def _model(self, name: str) -> Any:
        if name not in self._models:
            raise InvalidInputError(
                f"no member or shadow named {name!r}; members: {list(self.member_names)}, "
                f"shadows: {list(self.shadow_names)}"
            )
        model = self._models[name]
        if isinstance(model, ModelVersion | str):
            registry = self._registry or default_registry()
            model = registry.load_model(model.uri if isinstance(model, ModelVersion) else model)
            self._models[name] = model
        return model

    def __repr__(self) -> str:
        return (
            f"ModelEnsemble(members={list(self.member_names)}, strategy={self.strategy!r}, "
            f"shadows={list(self.shadow_names)})"
        )


class _Tally:
    def __init__(self) -> None:
        self.calls = self.rows = self.errors = self.same = self.compared = 0
        self.abs_diff = 0.0
        self.numeric = 0
        self.last_error: str | None = None

    def fail(self, message: str) -> None:
        self.calls += 1
        self.errors += 1
        self.last_error = message

    def compare(self, output: NDArray[Any], answer: NDArray[Any]) -> None:
        self.calls += 1
        if output.shape != answer.shape:
            self.errors += 1
            self.last_error = f"shape {list(output.shape)} differs from {list(answer.shape)}"
            return
        rows = len(output)
        self.rows += rows
        self.compared += rows
        self.same += int(np.sum(np.all((output == answer).reshape(rows, -1), axis=1)))
        if output.dtype.kind in "iuf" and answer.dtype.kind in "iuf":
            self.numeric += rows
            diff = np.abs(output.astype(float) - answer.astype(float)).reshape(rows, -1)
            self.abs_diff += float(diff.mean(axis=1).sum())

    def stats(self, name: str) -> ShadowStats:
        return ShadowStats(
            name=name,
            calls=self.calls,
            rows=self.rows,
            errors=self.errors,
            agreement=self.same / self.compared if self.compared else None,
            mean_abs_diff=self.abs_diff / self.numeric if self.numeric else None,
            last_error=self.last_error,
        )


def _average(outputs: list[NDArray[Any]], weights: NDArray[Any]) -> NDArray[Any]:
    if any(o.dtype.kind not in "biuf" for o in outputs):
        raise InvalidInputError("averaging needs numeric outputs; use strategy='vote' for labels")
    stacked = np.stack([o.astype(float) for o in outputs])
    return np.tensordot(weights / weights.sum(), stacked, axes=1)


def _vote(outputs: list[NDArray[Any]], weights: NDArray[Any]) -> NDArray[Any]:
    """Weighted majority per row; ties go to the label the earliest member gave."""
    result = []
    for row in zip(*outputs, strict=True):
        scores: dict[Any, float] = {}
        for label, weight in zip(row, weights, strict=True):
            hashable = label.item() if isinstance(label, np.generic) else label
            scores[hashable] = scores.get(hashable, 0.0) + float(weight)
        result.append(max(scores, key=lambda label: scores[label]))
    return np.asarray(result)
