"""Benchmarks: scripts that time mlops against its peer (MLflow), never timed unit tests.

Run them all with ``./dev bench`` (or ``python benchmarks/run.py``); each module also runs on
its own (``python benchmarks/tracking.py --quick``). Results are recorded in docs/benchmarks.md.
"""
