"""What applying definitions would change, shown before anything is written.

Each definition is new (create), identical (unchanged), compatibly changed (update in place),
or breaking. A breaking change is refused unless forced, and then becomes a new version: the old
version's training sets and online table stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlops.errors import BreakingChangeError, FeatureDefinitionNotFoundError
from mlops.features import specs
from mlops.features.entities import Definition, kind_of
from mlops.features.store import DefinitionStore

ORDER = {"entity": 0, "feature_view": 1, "on_demand_view": 2, "feature_service": 3}


@dataclass(frozen=True)
class Change:
    """One line of a plan."""

    kind: str
    name: str
    action: str  # create | update | new_version | unchanged | breaking
    version: int  # the version that is (or would be) current afterwards
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """The changes applying a set of definitions makes, in the order they are made."""

    changes: tuple[Change, ...]
    definitions: tuple[Definition, ...]

    @property
    def breaking(self) -> list[Change]:
        """Changes refused without ``force``."""
        return [c for c in self.changes if c.action == "breaking"]

    def __str__(self) -> str:
        if not self.changes:
            return "Nothing to apply."
        marks = {
            "create": "+",
            "update": "~",
            "new_version": "+",
            "unchanged": " ",
            "breaking": "!",
        }
        return "\n".join(
            f"{marks[c.action]} {c.kind} {c.name} v{c.version}: {c.action}"
            + (f" ({c.detail})" if c.detail else "")
            for c in self.changes
        )


def _describe(kind: str, old: dict[str, object], new: dict[str, object]) -> str:
    changed = [k for k in new if old.get(k) != new.get(k)]
    return "changes " + ", ".join(changed) if changed else ""


def make_plan(
    definitions: Sequence[Definition], store: DefinitionStore, force: bool = False
) -> Plan:
    """Compare definitions with the stored ones; nothing is written."""
    ordered = sorted(definitions, key=lambda d: ORDER[kind_of(d)])
    seen: set[tuple[str, str]] = set()
    changes = []
    for definition in ordered:
        kind = kind_of(definition)
        if (kind, definition.name) in seen:
            raise BreakingChangeError(f"{kind} {definition.name!r} is defined twice")
        seen.add((kind, definition.name))
        new = specs.to_spec(definition)
        try:
            current = store.get_definition(kind, definition.name)
        except FeatureDefinitionNotFoundError:
            changes.append(Change(kind, definition.name, "create", 1))
            continue
        if current.spec == new:
            changes.append(Change(kind, definition.name, "unchanged", current.version))
        elif specs.is_breaking(kind, current.spec, new):
            detail = _describe(kind, current.spec, new)
            if force:
                changes.append(
                    Change(kind, definition.name, "new_version", current.version + 1, detail)
                )
            else:
                changes.append(Change(kind, definition.name, "breaking", current.version, detail))
        else:
            detail = _describe(kind, current.spec, new)
            changes.append(Change(kind, definition.name, "update", current.version, detail))
    return Plan(tuple(changes), tuple(ordered))


def apply_plan(plan: Plan, store: DefinitionStore, user: str) -> list[int]:
    """Write a plan; returns the resulting version of each definition, in plan order.

    Raises:
        BreakingChangeError: The plan holds breaking changes (make it with ``force=True``).
    """
    if plan.breaking:
        names = ", ".join(f"{c.kind} {c.name!r} ({c.detail})" for c in plan.breaking)
        raise BreakingChangeError(
            f"breaking change to {names}: readers of the current version would break; apply "
            "with force=True (CLI: --force) to create a new version instead"
        )
    versions = []
    for change, definition in zip(plan.changes, plan.definitions, strict=True):
        spec = specs.to_spec(definition)
        digest = specs.schema_hash(change.kind, spec)
        if change.action in ("create", "new_version"):
            stored = store.create_version(change.kind, change.name, spec, digest, user)
            versions.append(stored.version)
        elif change.action == "update":
            store.update_version(change.kind, change.name, change.version, spec, digest)
            versions.append(change.version)
        else:
            versions.append(change.version)
    return versions
