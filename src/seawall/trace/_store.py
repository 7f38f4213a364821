"""The trace store seam, and opening one from a URL.

A store is synchronous and used from the recorder's writer thread (writes) or a worker thread
(reads); it never runs on the event loop. It receives ready parts (`StoredTrace`, made by the codec:
summary, data, blobs) and hands back typed records and summaries, so every backend stores the same
thing and none needs to know the record's JSON. Backends are imported only when configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from seawall.errors import ConfigError
from seawall.trace._query import TraceQuery
from seawall.trace._schema import StoredTrace, TraceRecord, TraceSummary


class TraceStore(Protocol):
    """Where finished trace records end up."""

    def write_batch(self, items: Sequence[StoredTrace]) -> None:
        """Store the records and their blobs; idempotent by trace id (seen twice: stored once)."""
        ...

    def get(self, trace_id: str) -> TraceRecord | None:
        """The full record (read with `_codec.from_stored`), or None. A unique id prefix (≥ 6
        chars) also matches."""
        ...

    def list(
        self,
        query: TraceQuery | None = None,
        *,
        limit: int | None = None,
        model: str | None = None,
        errors_only: bool = False,
    ) -> list[TraceSummary]:
        """Summaries of the traces `query` selects (`seawall.trace._query`), newest (highest id)
        first, at most `query.limit`. The keywords are the older form of a query: at most `limit`
        (default 50), only `model`'s, only failed requests (status >= 400)."""
        ...

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store one content-addressed blob, e.g. the config a gateway runs under (idempotent)."""
        ...

    def blob(self, digest: str) -> bytes | None:
        """A blob by its SHA-256 (hex), or None."""
        ...

    # -- upkeep: called from one background thread (`seawall.trace._retention`) ---------------
    def delete_oldest(self, limit: int, before_ts: float | None = None) -> int:
        """Delete up to `limit` of the oldest traces by arrival time (only those that arrived before
        `before_ts`, when given), with whatever indexes them and the body blobs no remaining trace
        points to. Returns how many were deleted. One short transaction."""
        ...

    def size_bytes(self) -> int:
        """What the store holds, in bytes (what `traces.retention.max_bytes` bounds)."""
        ...

    def collect_garbage(self) -> int:
        """Delete stored configs no remaining trace ran under; returns how many."""
        ...

    def reclaim(self) -> int:
        """Give space freed by deletes back to the file system, where the store can; bytes given."""
        ...

    def maintain(self, max_rows: int = 128) -> bool:
        """Do a little of the store's pending upkeep (indexing rows stored before a migration);
        True while some remains."""
        ...

    def unindexed(self) -> int:
        """How many traces are not yet indexed for the target, conversation and text filters."""
        ...

    def close(self) -> None: ...


def open_store(url: str) -> TraceStore | None:
    """`sqlite:///path`, or `none` (no recording). PostgreSQL is planned and rejected clearly."""
    if url == "none":
        return None
    if url.startswith("sqlite://"):
        from seawall.trace._sqlite import SQLiteTraceStore

        return SQLiteTraceStore(url.removeprefix("sqlite://").removeprefix("/") or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"traces.store: PostgreSQL trace store is not available yet ({_redact(url)})")
    raise ConfigError(f"traces.store: unsupported store URL {_redact(url)!r}")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
