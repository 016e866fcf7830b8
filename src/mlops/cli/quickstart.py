"""``mlops quickstart``: the main demo."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlops.cli.experiments import TrackingUri
from mlops.cli.render import config_from, console
from mlops.models.entities import ApprovalRequest
from mlops.quickstart import FOLDS, MODEL_NAME, detectors, run_quickstart


def quickstart(tracking_uri: str | None = TrackingUri) -> None:
    """Train three anomaly detectors on bundled data, track them, and put the best in production."""
    config = config_from(tracking_uri)
    console.print(f"[bold]mlops quickstart[/bold]  store: {config.resolved_tracking_uri}")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("training", total=len(detectors()) * FOLDS)
        result = run_quickstart(
            config, lambda desc: progress.update(task, advance=1, description=desc)
        )
    means = ["precision", "recall", "f1", "f1_std", "roc_auc"]
    title = "Anomaly detectors (mean of 5-fold cross-validation)"
    console.print(result.comparison.to_rich(title=title, metrics=means))
    v = result.model_version
    console.print(
        f"Best: [bold]{result.best_algorithm}[/bold] -> registered {MODEL_NAME} v{v.version} "
        f"(sha256 {v.sha256[:12]})"
    )
    if isinstance(result.promotion, ApprovalRequest):
        console.print(
            "Promotion to production waits for approval: "
            f"`mlops models approve {result.promotion.id}`"
        )
    else:
        console.print(f"{MODEL_NAME} v{result.promotion.version} is in [green]production[/green]")
    console.print("Next: `mlops runs list`, `mlops models show " + MODEL_NAME + "`")
