"""``mlops abtest create|status|analyze|log|stop|promote|sample-size``: A/B tests from the shell.

Each command parses its options, calls ``ABTestFramework`` and prints; the rules and the
statistics are the Python API's, so the CLI and a script always agree.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console, print_json, when
from mlops.errors import InvalidInputError

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.experiments.abtest import ABTestFramework, ABTestResults

app = typer.Typer(
    help="A/B tests: create, log outcomes, status, analyze, stop, promote the winner.",
    no_args_is_help=True,
)
BATCH = 5000


def parse_variant(text: str, config: MLOpsConfig) -> tuple[str, float, str | None]:
    """``NAME=SHARE`` or ``NAME=models:/MODEL/VERSION:SHARE`` (also ``@ALIAS`` or ``/STAGE``,
    resolved to the version it names now)."""
    name, sep, rest = text.partition("=")
    ref, _, share_text = rest.rpartition(":")
    try:
        share = float(share_text)
    except ValueError:
        share = math.nan
    if not sep or not name or not math.isfinite(share):
        raise InvalidInputError(
            f"--variant {text!r} is not NAME=SHARE or NAME=models:/MODEL/VERSION:SHARE "
            "(e.g. b=models:/churn/3:0.5)"
        )
    if not ref:
        return name, share, None
    if not ref.startswith("models:/"):
        raise InvalidInputError(f"--variant {text!r}: the model must be a models:/ URI")
    from mlops.models.registry import ModelRegistry

    return name, share, ModelRegistry(config=config).get_model(ref).id


def _load(name: str, tracking_uri: str | None) -> ABTestFramework:
    from mlops.experiments.abtest import ABTestFramework

    return ABTestFramework.load(name, config=config_from(tracking_uri))


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The test's name."),
    variant: list[str] = typer.Option(
        ..., "--variant", "-v", help="NAME=SHARE or NAME=models:/MODEL/VERSION:SHARE; repeat."
    ),
    metric: list[str] = typer.Option(
        ...,
        "--metric",
        "-m",
        help="Success metric (first = primary): conversion, "
        "precision, revenue:mean, latency:rank:lower, ...; repeat.",
    ),
    duration_days: float = typer.Option(14.0, "--duration-days", help="Planned length."),
    control: str | None = typer.Option(None, help="The baseline variant (default: the first)."),
    alpha: float = typer.Option(0.05, help="Family-wise false-positive rate."),
    correction: str = typer.Option("holm", help="holm, bonferroni or none."),
    sequential: str = typer.Option(
        "obrien_fleming", help="obrien_fleming, pocock or none (one test at the end)."
    ),
    allocation: str = typer.Option("fixed", help="fixed or thompson (bandit)."),
    salt: str | None = typer.Option(None, help="Hashed with unit ids (independent tests)."),
    description: str | None = typer.Option(None, help="What the test is for."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Create a running A/B test."""
    from mlops.experiments.abtest import ABTestFramework

    config = config_from(tracking_uri)
    parsed = [parse_variant(v, config) for v in variant]
    test = ABTestFramework(
        name,
        {n: share for n, share, _ in parsed},
        metric,
        duration_days,
        control=control,
        alpha=alpha,
        correction=correction,
        sequential=None if sequential == "none" else sequential,
        allocation=allocation,
        salt=salt,
        description=description,
        config=config,
    )
    record = test.create(models={n: m for n, _, m in parsed if m is not None})
    console.print(f"A/B test [bold]{record.name}[/] ({record.id}) is running: " + ", ".join(
        f"{v} {s:.0%}" + (f" ({record.models[v]})" if v in record.models else "")
        for v, s in record.variants.items()
    ))  # fmt: skip


@app.command("status")
def status(
    name: str | None = typer.Argument(None, help="A test (default: list every test)."),
    format: str = typer.Option("table", "--format", help="table or json."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """One test's progress and units per variant, or every test."""
    if name is None:
        from mlops.experiments.abtest import abtest_store

        records = abtest_store(config_from(tracking_uri)).list_tests()
        if format == "json":
            print_json(records)
            return
        table = Table(title="A/B tests")
        for column in ("name", "status", "variants", "metrics", "days", "created", "verdict"):
            table.add_column(column)
        for r in records:
            verdict = (r.result or {}).get("verdict", {}).get("status", "-")
            table.add_row(r.name, r.status, ", ".join(r.variants), ", ".join(r.metrics),
                          f"{r.duration_days:g}", when(r.created_at), verdict)  # fmt: skip
        console.print(table)
        return
    found = _load(name, tracking_uri).status()
    if format == "json":
        print_json(found)
        return
    r = found.record
    console.print(
        f"A/B test [bold]{r.name}[/] ({r.status}): day {found.days_elapsed:.1f} of "
        f"{r.duration_days:g} ({found.progress:.0%}); metrics: {', '.join(r.metrics)}"
    )
    table = Table()
    for column in ("variant", "share", "model", "units"):
        table.add_column(column)
    for v, share in r.variants.items():
        table.add_row(v, f"{share:.0%}", r.models.get(v, "-"), str(found.units.get(v, 0)))
    console.print(table)


def results_table(results: ABTestResults) -> Table:
    """Per-metric comparisons: values, difference with its interval, p-values, P(beat)."""
    table = Table(title=f"A/B test {results.test_name}: {results.mode} analysis, "
                  f"alpha {results.alpha} ({results.correction})")  # fmt: skip
    for column in ("metric", "treatment", "test", "control", "treatment value", "difference",
                   f"{1 - results.alpha:.0%} CI", "p", "adjusted p", "P(better)", ""):  # fmt: skip
        table.add_column(column, justify="left" if column in ("metric", "test") else "right")
    for c in results.comparisons:
        mark = "[green]better[/]" if c.better else "[red]worse[/]" if c.worse else ""
        table.add_row(
            c.metric + ("" if c.higher_is_better else " (lower)"),
            c.treatment,
            c.test,
            f"{c.control_value:.4g}",
            f"{c.treatment_value:.4g}",
            f"{c.difference:+.4g}",
            f"[{c.ci_low:+.4g}, {c.ci_high:+.4g}]",
            f"{c.p_value:.3g}",
            f"{c.adjusted_p_value:.3g}",
            f"{c.prob_beat:.1%}",
            mark,
        )
    return table


@app.command("analyze")
def analyze(
    name: str = typer.Argument(..., help="The test."),
    format: str = typer.Option("table", "--format", help="table or json."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Analyze the outcomes so far: tests per metric, intervals, SRM check, sequential test,
    verdict."""
    if format not in ("table", "json"):
        raise typer.BadParameter("--format is table or json")
    with console.status(f"analyzing A/B test {name}..."):
        results = _load(name, tracking_uri).analyze()
    if format == "json":
        print_json(results.to_dict())
        return
    console.print(results_table(results))
    if results.srm is not None:
        srm = results.srm
        console.print(
            f"Sample ratio: {srm.observed} vs expected "
            f"{ {k: round(v) for k, v in srm.expected.items()} }, p = {srm.p_value:.3g} "
            + ("[red]MISMATCH[/]" if srm.mismatch else "[green]ok[/]")
        )
    for s in results.sequential:
        state = (f"crossed at look {s.crossed_at + 1}" if s.crossed_at is not None
                 else "not crossed")  # fmt: skip
        last = (f"z = {s.z_values[-1]:+.2f} vs boundary {s.bounds[-1]:.2f}" if s.z_values
                else "no completed day yet")  # fmt: skip
        console.print(f"Sequential ({s.method}), {s.treatment}: {len(s.z_values)} daily looks, "
                      f"{last}, {state}")  # fmt: skip
    style = {"winner": "green", "srm_mismatch": "red", "conflicting": "yellow"}.get(
        results.verdict.status, "cyan"
    )
    console.print(f"Verdict: [{style}]{results.verdict.status}[/] - {results.verdict.reason}",
                  highlight=False)  # fmt: skip


@app.command("log")
def log(
    name: str = typer.Argument(..., help="The test."),
    file: Path = typer.Option(..., "--file", "-f", help="CSV: unit_id[,variant][,at], metrics."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Log outcomes from a CSV file (one row per unit; a column per metric), with progress."""
    test = _load(name, tracking_uri)
    if not file.is_file():
        raise InvalidInputError(f"--file {file} does not exist")
    with file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "unit_id" not in rows[0]:
        raise InvalidInputError(f"{file} needs a header with unit_id and metric columns")
    outcomes = [_row(r, i) for i, r in enumerate(rows, start=2)]
    written = 0
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), console=console, transient=True) as progress:  # fmt: skip
        task = progress.add_task(f"logging to {name}", total=len(outcomes))
        for start in range(0, len(outcomes), BATCH):
            written += test.log_outcomes(outcomes[start : start + BATCH])
            progress.advance(task, len(outcomes[start : start + BATCH]))
    console.print(f"Logged {written} values for {len(outcomes)} units to {name}.")


def _row(row: dict[str, Any], line: int) -> dict[str, Any]:
    fixed = {"unit_id", "variant", "at"}
    values: dict[str, float] = {}
    for key, text in row.items():
        if key in fixed or text in (None, ""):
            continue
        try:
            values[key] = float(text)
        except ValueError:
            raise InvalidInputError(f"line {line}: {key}={text!r} is not a number") from None
    at = row.get("at")
    return {"unit_id": row["unit_id"], "variant": row.get("variant") or None,
            "at": int(at) if at else None, "values": values}  # fmt: skip


@app.command("stop")
def stop(
    name: str = typer.Argument(..., help="The test."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Stop taking outcomes (analyses still run)."""
    record = _load(name, tracking_uri).stop()
    console.print(f"A/B test {record.name} stopped at {when(record.stopped_at)}.")


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="The test."),
    stage: str = typer.Option("production", help="The stage to move the winner's version to."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Promote the winner's model version through the registry, with the test as its reason."""
    from mlops.models.entities import ModelVersion
    from mlops.models.registry import ModelRegistry

    test = _load(name, tracking_uri)
    with console.status(f"analyzing A/B test {name}..."):
        results = test.analyze()
    registry = ModelRegistry(config=config_from(tracking_uri))
    done = test.promote_winner(results, stage=stage, registry=registry)
    if isinstance(done, ModelVersion):
        console.print(f"Promoted {done.id} to {done.stage.value}: {results.verdict.reason}")
    else:
        console.print(f"Approval request {done.id} opened for {done.name}/{done.version}.")


@app.command("sample-size")
def sample_size(
    name: str = typer.Argument(..., help="The test."),
    baseline: float = typer.Option(..., help="The control's current value of the primary metric."),
    mde: float = typer.Option(..., help="Smallest absolute change worth detecting."),
    sd: float | None = typer.Option(None, help="Standard deviation (mean and rank metrics)."),
    tracking_uri: str | None = TrackingUri,
) -> None:
    """Units each variant needs, at the test's alpha and power."""
    sizes = _load(name, tracking_uri).sample_size(baseline, mde, sd)
    for variant, n in sizes.items():
        console.print(f"{variant}: {n:,} units")
