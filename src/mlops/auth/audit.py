"""The audit log's hash chain: how an entry's hash is computed, and how the chain is checked.

Each entry stores ``prev_hash`` (the hash of the entry before it; 64 zeros for the first) and
``hash = sha256(prev_hash + canonical JSON of the entry)``, where the canonical JSON has sorted
keys and no spaces and covers every column but the hashes (id included, so entries cannot be
reordered). Editing or deleting any entry breaks the chain at that entry or the one after it;
``verify`` walks the chain and reports the first entry whose hashes do not add up. (Cutting
entries off the end leaves a valid, shorter chain: compare ``checked`` with a count kept
elsewhere to catch that.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mlops.auth.entities import AuditEntry, ChainReport
from mlops.auth.store import AuditStore

GENESIS = "0" * 64
_VERIFY_PAGE = 1000


def canonical(row: Mapping[str, Any]) -> str:
    """The JSON an entry's hash covers: its columns but the two hashes, keys sorted."""
    content = {k: v for k, v in row.items() if k not in ("hash", "prev_hash")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical(row))`` as hex."""
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


def entry_row(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the column values its hash was computed from (details as stored JSON)."""
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "status_code": entry.status_code,
        "details": encode_details(entry.details),
    }


def encode_details(details: Mapping[str, Any] | None) -> str | None:
    """Details as the JSON text stored (and hashed): sorted keys, so it reads back the same."""
    if details is None:
        return None
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


def verify(store: AuditStore) -> ChainReport:
    """Walk the whole chain, oldest first; report the first entry that does not add up."""
    prev_hash, after, checked = GENESIS, 0, 0
    while True:
        entries = store.list_chain(after, _VERIFY_PAGE)
        if not entries:
            return ChainReport(checked)
        for entry in entries:
            if entry.prev_hash != prev_hash:
                return ChainReport(
                    checked,
                    entry.id,
                    f"entry {entry.id} does not follow the entry before it (an entry was "
                    "deleted, inserted or edited before it)",
                )
            if chain_hash(prev_hash, entry_row(entry)) != entry.hash:
                return ChainReport(
                    checked, entry.id, f"entry {entry.id}'s content does not match its hash"
                )
            prev_hash, after, checked = entry.hash, entry.id, checked + 1
