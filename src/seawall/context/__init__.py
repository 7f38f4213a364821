"""Consistent context: content-addressed retrieval snapshots and conversation state bindings.

Pure logic and storage behind small interfaces; no HTTP (the gateway wires the endpoints, headers
and the `seawall` body object, see docs/context.md):

* `canonical_json`, `content_hash`, `parse_hash` (`_canonical.py`): the canonical JSON form and
  the `sha256:<hex>` hash over it.
* `Snapshot` (`_snapshot.py`): validating a snapshot (a JSON object with a `documents` list), its
  canonical bytes, hash and size limit.
* `SnapshotStore` with `MemorySnapshotStore` (`_store.py`) and `SQLiteSnapshotStore` (`_sqlite.py`,
  loaded on first use so `sqlite3` is imported only when wanted).
* `bind`, `BindingPolicy`, `BindResult` (`_binding.py`): (conversation, version) → one snapshot,
  atomically, on a `StateBackend`'s exact primitives; stale versions flagged.
* Errors (`_errors.py`): `InvalidSnapshot`, `UnknownSnapshot`, `SnapshotTooLarge`; conflicts are
  `seawall.errors.ContextConflict` (`conflict_error`).
"""

from typing import TYPE_CHECKING, Any

from seawall.context._binding import (
    MAX_CONVERSATION,
    MAX_VERSION,
    BindingPolicy,
    BindOutcome,
    BindResult,
    bind,
    conflict_error,
    parse_conversation,
    parse_version,
)
from seawall.context._canonical import (
    MAX_DEPTH,
    UnencodableJSON,
    canonical_json,
    content_hash,
    hash_bytes,
    parse_hash,
)
from seawall.context._errors import InvalidSnapshot, SnapshotTooLarge, UnknownSnapshot
from seawall.context._snapshot import DEFAULT_MAX_BYTES, Snapshot
from seawall.context._store import MemorySnapshotStore, SnapshotStats, SnapshotStore

if TYPE_CHECKING:
    from seawall.context._sqlite import SQLiteSnapshotStore


def __getattr__(name: str) -> Any:
    # the SQLite store imports sqlite3: only when it is asked for
    if name == "SQLiteSnapshotStore":
        from seawall.context._sqlite import SQLiteSnapshotStore

        return SQLiteSnapshotStore
    raise AttributeError(f"module 'seawall.context' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CONVERSATION",
    "MAX_DEPTH",
    "MAX_VERSION",
    "BindOutcome",
    "BindResult",
    "BindingPolicy",
    "InvalidSnapshot",
    "MemorySnapshotStore",
    "SQLiteSnapshotStore",
    "Snapshot",
    "SnapshotStats",
    "SnapshotStore",
    "SnapshotTooLarge",
    "UnencodableJSON",
    "UnknownSnapshot",
    "bind",
    "canonical_json",
    "conflict_error",
    "content_hash",
    "hash_bytes",
    "parse_conversation",
    "parse_hash",
    "parse_version",
]
