"""The storage interface of experiment tracking.

``SqlTrackingStore`` (SQLite, PostgreSQL) and ``RestTrackingStore`` (a client of an mlops server)
implement it, so everything above this interface works unchanged against a server.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from mlops.experiments.entities import (
    ArtifactRecord,
    Dataset,
    Experiment,
    MetricHistory,
    Page,
    Run,
    RunStatus,
)

# (run_id, key, value, step, timestamp_ms): the unit of bulk metric ingestion.
MetricRow = tuple[str, str, float, int, int]


class TrackingStore(abc.ABC):
    """Experiments, runs, params, metrics, tags, dataset inputs and artifact records."""

    # --- experiments ---------------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        """Create an experiment; raises ``ExperimentAlreadyExistsError`` if the name is taken."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises ``ExperimentNotFoundError``."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment:
        """The experiment with this name; raises ``ExperimentNotFoundError``."""

    @abc.abstractmethod
    def list_experiments(
        self, include_deleted: bool = False, limit: int = 1000, page_token: str | None = None
    ) -> Page[Experiment]:
        """Experiments, newest first."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and hide its runs; ``restore_experiment`` undoes it."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo ``delete_experiment``."""

    # --- runs ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        name: str | None,
        user: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> Run:
        """Start a RUNNING run owned by the process ``pid`` on ``host`` (default: this one).

        A server creates runs for its clients, so it passes the client's host and pid: that is
        the process whose death marks the run KILLED.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with params, newest metrics, tags and inputs; raises ``RunNotFoundError``."""

    @abc.abstractmethod
    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix`` (at least 6 characters)."""

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Several runs, in the given order (stores override this to fetch them in one go)."""
        return [self.get_run(run_id) for run_id in run_ids]

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        error: str | None = None,
    ) -> None:
        """Set a run's status (and end time / error text when it ends)."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run; ``restore_run`` undoes it."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo ``delete_run``."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page[Run]:
        """Runs matching the filter language, ordered and paged entirely in the database."""

    @abc.abstractmethod
    def list_child_runs(self, run_id: str) -> list[Run]:
        """Runs nested directly under ``run_id``.

        Raises:
            RunNotFoundError: There is no run ``run_id`` (not the same as having no children).
        """

    @abc.abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that the process owning these runs is alive."""

    @abc.abstractmethod
    def mark_dead_runs(self, stale_after_ms: int) -> list[str]:
        """Mark RUNNING runs whose process is gone as KILLED; return their ids."""

    # --- run data ------------------------------------------------------------------------------

    @abc.abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Record parameters; a parameter never changes its value once logged."""

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags."""

    @abc.abstractmethod
    def log_metric_rows(self, rows: Sequence[MetricRow]) -> None:
        """Write metric points in one transaction; re-sending the same points is a no-op."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric of one run, ordered by step then timestamp."""

    @abc.abstractmethod
    def log_input(self, run_id: str, dataset: Dataset, context: str) -> Dataset:
        """Record that the run consumed ``dataset``; returns the stored dataset."""

    @abc.abstractmethod
    def record_artifact(self, record: ArtifactRecord) -> None:
        """Remember an artifact's location, size and sha256."""

    @abc.abstractmethod
    def record_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        """Remember several artifacts in one transaction."""

    @abc.abstractmethod
    def get_artifact(self, uri: str) -> ArtifactRecord:
        """The record of one artifact; raises ``NotFoundError``."""

    @abc.abstractmethod
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The artifacts recorded for a run.

        Raises:
            RunNotFoundError: There is no run ``run_id``.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
