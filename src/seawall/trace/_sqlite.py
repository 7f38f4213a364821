"""SQLite trace store (the embedded default): one row per trace plus content-addressed bodies.

It stores what the codec hands it (`StoredTrace`: the summary columns, the record's data, its large
bodies by SHA-256 in `blobs`, so identical prompts cost one copy, and what finding it needs: targets,
text, config) and reads records back through the codec, which also reads rows written by version 1.
The store itself knows nothing of the record's JSON. Tables, layouts and migrations:
`_sqlite_schema`; the listing's SQL: `_sqlite_query`; the side tables: `_sqlite_index`; deleting,
indexing older rows and giving space back: `_sqlite_upkeep`.

Two connections to a database file: one writes (the recorder's writer thread, the maintenance
thread), one reads (`get`, `list`: admin API and CLI), so a slow listing never holds up a write
(WAL mode lets them run at once). Each has its own lock; an in-memory store has one connection.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seawall.trace import _sqlite_index as index
from seawall.trace import _sqlite_upkeep as upkeep
from seawall.trace._codec import from_stored
from seawall.trace._query import TraceQuery, as_query
from seawall.trace._schema import StoredTrace, TraceRecord, TraceSummary
from seawall.trace._sqlite_query import list_sql, needs_index, summaries
from seawall.trace._sqlite_schema import configure_new, has_text_index, prepare

_COLUMNS = (
    "id, ts, model, status, stream, duration_ms, attempts, answered_by, error_class, conversation_id, record"
)
WAL_LIMIT = 16 * 1024 * 1024
_ROWS_PER_INSERT = 256  # x 11 columns: far below SQLite's 32,766 bound variables (a power of two)


# sqlite3 binds str, int, float and bytearray directly, but looks for an adapter for bytes and
# None, formatting and dropping an AttributeError on the way (~2,000 instructions a value, more
# than the rest of the row). So the record is bound as a bytearray, and the optional columns a
# row lacks (`answered_by` on a failure, `error_class` on a success, `conversation_id` mostly)
# are written as NULL in the statement instead of bound: a batch's rows go in groups by which of
# them they lack (`absent`, a bit per column), each group by its own few statements.
_OPTIONAL = (7, 8, 9)  # positions of answered_by, error_class, conversation_id in `_COLUMNS`


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """The (start, end) of the INSERTs that store `n` rows: a power of two rows each, largest first
    (100 rows: 64, 32, 4). Preparing a multi-row INSERT costs half as much again as running it, so
    the few statements of these sizes are prepared once and then come from sqlite3's statement
    cache, whatever the size of a batch."""
    start, size = 0, _ROWS_PER_INSERT
    while start < n:
        while size > n - start:
            size //= 2
        yield start, start + size
        start += size


@functools.cache
def _insert_sql(rows: int, absent: int = 0) -> str:
    """The INSERT of `rows` rows, NULL in the optional columns of the bits of `absent` (answered_by
    1, error_class 2, conversation_id 4), bound parameters everywhere else."""
    marks = ["?"] * 11
    for bit, position in enumerate(_OPTIONAL):
        if absent & (1 << bit):
            marks[position] = "NULL"
    values = ",".join(["(" + ",".join(marks) + ")"] * rows)
    return f"INSERT OR IGNORE INTO traces ({_COLUMNS}) VALUES {values}"


class SQLiteTraceStore:
    """Thread-safe: a lock per connection; WAL mode so readers don't block the writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        in_memory = path == ":memory:" or path.startswith("file:")
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # `sqlite:///./data/t.db` with no ./data yet
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        configure_new(self._db)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The recorder's journal already makes a delivered request's trace survive a process crash;
        # SQLite adds no stronger guarantee by fsyncing, so it doesn't (10.6 vs 12.5 µs per record).
        self._db.execute("PRAGMA synchronous=OFF")
        # the WAL (normally up to ~4 MiB: a checkpoint every 1000 pages) is cut back to this after a
        # checkpoint, so a spike (a long read holding checkpoints off) does not keep its size for good
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        prepare(self._db, path)
        upkeep.start_indexed_upto(self._db)
        self.text_index = has_text_index(self._db)
        self._configs: dict[str, bytes] = {}  # configs given to put_blob: stored again if collected
        if in_memory:
            self._reader, self._read_lock = self._db, self._lock
        else:
            self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._reader.execute("PRAGMA query_only=1")
            self._read_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------
    def write_batch(self, items: Sequence[StoredTrace]) -> None:
        groups: dict[int, tuple[list[list[Any]], list[StoredTrace]]] = {}  # by `absent`: rows, items
        blob_rows: dict[str, bytes] = {}
        configs = self._configs
        for item in items:
            if item.blobs:
                blob_rows.update(item.blobs)
            config = item.config_hash
            if config is not None and config not in blob_rows and config in configs:
                blob_rows[config] = configs[config]  # kept while a trace names it
            s = item.summary
            row = [s.id, s.ts, s.model, s.status, int(s.stream), s.duration_ms, s.attempts]
            absent = 0
            if (answered := s.answered_by) is None:
                absent = 1
            else:
                row.append(answered)
            if (error := s.error_class) is None:
                absent |= 2
            else:
                row.append(error)
            if (conversation := s.conversation_id) is None:
                absent |= 4
            else:
                row.append(conversation)
            row.append(bytearray(item.data))
            group = groups.get(absent)
            if group is None:
                group = groups[absent] = ([], [])
            group[0].append(row)
            group[1].append(item)
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                if blob_rows:
                    db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", list(blob_rows.items()))
                refs: list[index.Refs] = []
                # One statement for many rows: SQLite runs it in one step, so the GIL is given up
                # once per chunk, not once per row (each hand-off can stall the event loop). Rowids
                # still only grow; within a batch they follow the groups, not arrival (listings
                # go by id).
                for absent, (rows, stored) in groups.items():
                    for start, end in _chunks(len(rows)):
                        chunk = rows[start:end]
                        sql = _insert_sql(len(chunk), absent)
                        cursor = db.execute(sql, [value for row in chunk for value in row])
                        refs.extend(self._refs(cursor, stored[start:end]))
                # what finds a trace (targets, errors, text) is indexed later, off this thread's
                # path (`maintain`); what retention must see to keep its blobs is written now
                index.add_refs_of(db, refs)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _refs(self, cursor: sqlite3.Cursor, items: Sequence[StoredTrace]) -> list[index.Refs]:
        """The references of the rows one INSERT stored. When it stored every row, their rowids are
        consecutive, ending at the last one inserted (no `RETURNING`: it cost a third of a write);
        else (some were stored before: a replayed journal) they are looked up."""
        n = len(items)
        last = cursor.lastrowid
        if cursor.rowcount == n and last is not None:
            first = last - n + 1
            return [(first + i, item.config_hash, item.blobs.keys()) for i, item in enumerate(items)]
        by_id = {item.summary.id: item for item in items}
        marks = ",".join("?" * len(by_id))
        found = self._db.execute(f"SELECT rowid, id FROM traces WHERE id IN ({marks})", list(by_id))
        return [(rowid, by_id[id_].config_hash, tuple(by_id[id_].blobs)) for rowid, id_ in found]

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store one content-addressed blob: the config a gateway runs under (idempotent). Kept while
        a trace names it; if every such trace is deleted, the next trace written stores it again."""
        self._configs[digest] = data
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data))

    # -- reading ---------------------------------------------------------------------------------
    def _blob(self, digest: str) -> bytes | None:
        row = self._reader.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    def get(self, trace_id: str) -> TraceRecord | None:
        with self._read_lock:
            db = self._reader
            row = db.execute("SELECT record FROM traces WHERE id = ?", (trace_id,)).fetchone()
            if row is None and len(trace_id) >= 6:
                rows = db.execute(
                    "SELECT record FROM traces WHERE id LIKE ? LIMIT 2", (trace_id + "%",)
                ).fetchall()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                return None
            return from_stored(bytes(row[0]), self._blob)

    def list(
        self,
        query: TraceQuery | None = None,
        *,
        limit: int | None = None,
        model: str | None = None,
        errors_only: bool = False,
    ) -> list[TraceSummary]:
        query = as_query(query, limit=limit, model=model, errors_only=errors_only)
        if needs_index(query):  # index what the maintenance thread has not yet, so none is missed
            while self.maintain(1024):
                pass
        sql, args = list_sql(query, text_index=self.text_index)
        with self._read_lock:
            rows = self._reader.execute(sql, args).fetchall()
        return summaries(rows)

    def blob(self, digest: str) -> bytes | None:
        """A blob by its SHA-256 (hex), or None."""
        with self._read_lock:
            return self._blob(digest)

    # -- upkeep (the maintenance thread) -------------------------------------------------------
    def maintain(self, max_rows: int = 128) -> bool:
        """Index up to `max_rows` rows in one short transaction: first those stored before the
        store was migrated (newest first), then those stored since the last call (oldest first).
        True while some remain."""
        if upkeep.index_older(self._db, self._lock, max_rows, text_index=self.text_index):
            return True
        return upkeep.index_newer(self._db, self._lock, max_rows, text_index=self.text_index)

    def unindexed(self) -> int:
        """How many rows `maintain` has yet to index."""
        return upkeep.unindexed(self._db, self._lock)

    def delete_oldest(self, limit: int, before_ts: float | None = None) -> int:
        """Delete up to `limit` of the oldest traces (only those older than `before_ts`, when
        given) with what indexes them, and body blobs no trace points to any more."""
        return upkeep.delete_oldest(self._db, self._lock, limit, before_ts, text_index=self.text_index)

    def collect_garbage(self) -> int:
        """Delete stored configs no trace names any more; returns how many blobs went."""
        return upkeep.collect_configs(self._db, self._lock)

    def size_bytes(self) -> int:
        """Bytes of the database's pages that hold data (free pages and the WAL not counted)."""
        return upkeep.size_bytes(self._db, self._lock)

    def reclaim(self) -> int:
        """Give free pages back to the file system (stores created at layout 1 or later); returns bytes."""
        return upkeep.reclaim(self._db, self._lock)

    def close(self) -> None:
        with self._lock:
            if self._reader is not self._db:
                with self._read_lock:
                    self._reader.close()
            self._db.close()


__all__ = ["SQLiteTraceStore"]
