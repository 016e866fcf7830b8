"""The feature domain's storage interfaces: definitions (metadata store) and online values.

``OnlineStore`` keeps the latest value per entity of each view table, as an event time (epoch
microseconds) plus a JSON payload the domain encodes (``codec.py``), so every implementation
stores and returns exactly the same thing. Implementations register under the
``mlops.online_stores`` entry point group, built-ins like third-party ones.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

OnlineRow = tuple[str, int, str]  # (entity key, event time in microseconds, payload JSON)


@dataclass(frozen=True)
class StoredDefinition:
    """One version of a definition as the metadata store keeps it."""

    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    schema_hash: str
    created_by: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Materialization:
    """A window of a view version written to an online store."""

    view: str
    version: int
    online_store: str
    start_us: int | None
    end_us: int
    rows: int
    created_at: int


class DefinitionStore(abc.ABC):
    """Versions of feature definitions, and the materialization history."""

    @abc.abstractmethod
    def create_version(
        self, kind: str, name: str, spec: dict[str, Any], schema_hash: str, user: str
    ) -> StoredDefinition:
        """Add the next version of ``name`` (version 1 for a new one)."""

    @abc.abstractmethod
    def update_version(
        self, kind: str, name: str, version: int, spec: dict[str, Any], schema_hash: str
    ) -> StoredDefinition:
        """Replace the spec of an existing version (a compatible change)."""

    @abc.abstractmethod
    def get_definition(self, kind: str, name: str, version: int | None = None) -> StoredDefinition:
        """The given version, or the newest; raises ``FeatureDefinitionNotFoundError``."""

    @abc.abstractmethod
    def list_definitions(self, kind: str | None = None) -> list[StoredDefinition]:
        """The newest version of every live definition, by kind and name."""

    @abc.abstractmethod
    def list_versions(self, kind: str, name: str) -> list[StoredDefinition]:
        """Every version of one definition, oldest first."""

    @abc.abstractmethod
    def delete_definition(self, kind: str, name: str) -> None:
        """Soft-delete every version of a definition."""

    @abc.abstractmethod
    def create_materialization(self, record: Materialization) -> None:
        """Remember a finished materialization."""

    @abc.abstractmethod
    def get_last_materialization(
        self, view: str, version: int, online_store: str
    ) -> Materialization | None:
        """The materialization with the latest end, or None if there was none."""

    @abc.abstractmethod
    def create_lineage(self, edges: Sequence[tuple[str, str, str, str, str]]) -> None:
        """Add (src_type, src_id, relation, dst_type, dst_id) edges to the lineage graph."""


class OnlineWriter(abc.ABC):
    """One atomic replacement of rows of a table: readers see none of it until ``commit``."""

    @abc.abstractmethod
    def write(self, rows: Sequence[OnlineRow]) -> None:
        """Stage a batch (a row replaces the stored one unless that one has a later event)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Publish every staged batch at once."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop what was staged."""


class OnlineStore(abc.ABC):
    """Latest feature values per entity, one table per feature view version."""

    uri: str

    @abc.abstractmethod
    def begin(self, table: str) -> OnlineWriter:
        """Start an atomic batch write of ``table`` (materialization)."""

    @abc.abstractmethod
    def write(self, table: str, rows: Iterable[OnlineRow]) -> None:
        """Write rows now (push): a row replaces the stored one unless that one is newer."""

    @abc.abstractmethod
    def read(self, table: str, keys: Sequence[str]) -> list[tuple[int, str] | None]:
        """(event microseconds, payload) per key, None where the key has no row."""

    @abc.abstractmethod
    def delete_table(self, table: str) -> None:
        """Remove a table and its rows (a no-op when it does not exist)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


@contextmanager
def writing(writer: OnlineWriter) -> Iterator[OnlineWriter]:
    """``with writing(store.begin(t)) as w``: commit on success, abort on any error."""
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.commit()
