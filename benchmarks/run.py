"""Run every benchmark module in this folder and print one table (``./dev bench``).

A benchmark module is any ``benchmarks/*.py`` not starting with ``_`` that defines
``measure(options)``. Exits 1 when a target is missed, unless ``--no-fail``.

    python benchmarks/run.py [--quick] [--no-fail] [--only KEYS] [--json results.json]
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import Options, Result, exit_code, run_cli

HERE = Path(__file__).resolve().parent


def modules() -> list[Callable[[Options], list[Result]]]:
    """The ``measure`` function of every benchmark module, by module name."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("_") or path.stem == "run":
            continue
        module = importlib.import_module(f"benchmarks.{path.stem}")
        measure = getattr(module, "measure", None)
        if callable(measure):
            found.append(measure)
    return found


def main(argv: Sequence[str] | None = None) -> list[Result]:
    """Run every benchmark, print the table, and return the results."""
    return run_cli(modules(), argv, __doc__)[0]


if __name__ == "__main__":
    sys.exit(exit_code(*run_cli(modules(), None, __doc__)))
