"""SQLite trace store (the embedded default): one row per trace plus content-addressed bodies.

It stores what the codec hands it (`StoredTrace`: the summary columns, the record's data, and its
large bodies by SHA-256 in `blobs`, so identical prompts cost one copy) and reads records back
through the codec, which also reads rows written by version 1 (same tables, v1 JSON in `record`).
The store itself knows nothing of the record's JSON.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seawall.trace._codec import from_stored
from seawall.trace._schema import StoredTrace, TraceRecord, TraceSummary

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
  id TEXT PRIMARY KEY,
  ts REAL NOT NULL,
  model TEXT,
  status INTEGER,
  stream INTEGER,
  duration_ms REAL,
  attempts INTEGER,
  answered_by TEXT,
  error_class TEXT,
  record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

_SUMMARY_COLUMNS = "id, ts, model, status, stream, duration_ms, attempts, answered_by, error_class"

_ROWS_PER_INSERT = 256  # x 10 columns: far below SQLite's 32,766 bound variables


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT OR IGNORE INTO traces VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)


class SQLiteTraceStore:
    """Thread-safe (one connection, one lock); WAL mode so readers don't block the writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # `sqlite:///./data/t.db` with no ./data yet
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The recorder's journal already makes a delivered request's trace survive a process crash;
        # SQLite adds no stronger guarantee by fsyncing, so it doesn't (10.6 vs 12.5 µs per record).
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def write_batch(self, items: Sequence[StoredTrace]) -> None:
        rows = []
        blob_rows: dict[str, bytes] = {}
        for item in items:
            blob_rows.update(item.blobs)
            s = item.summary
            rows.append(
                (
                    s.id,
                    s.ts,
                    s.model,
                    s.status,
                    int(s.stream),
                    s.duration_ms,
                    s.attempts,
                    s.answered_by,
                    s.error_class,
                    item.data,
                )
            )
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", list(blob_rows.items()))
                # One statement for many rows: SQLite runs it in one step, so the GIL is given up
                # once per chunk, not once per row (each hand-off can stall the event loop).
                for start in range(0, len(rows), _ROWS_PER_INSERT):
                    chunk = rows[start : start + _ROWS_PER_INSERT]
                    self._db.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _blob(self, digest: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    def get(self, trace_id: str) -> TraceRecord | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM traces WHERE id = ?", (trace_id,)).fetchone()
            if row is None and len(trace_id) >= 6:
                rows = self._db.execute(
                    "SELECT record FROM traces WHERE id LIKE ? LIMIT 2", (trace_id + "%",)
                ).fetchall()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                return None
            return from_stored(bytes(row[0]), self._blob)

    def list(
        self, *, limit: int = 50, model: str | None = None, errors_only: bool = False
    ) -> list[TraceSummary]:
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM traces"
        where: list[str] = []
        args: list[Any] = []
        if model:
            where.append("model = ?")
            args.append(model)
        if errors_only:
            where.append("status >= 400")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"  # ids start with the time in ms: id order is time order
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            TraceSummary(
                id=id_,
                ts=ts,
                model=model_,
                status=status,
                stream=bool(stream),
                duration_ms=duration_ms,
                attempts=attempts or 0,
                answered_by=answered_by,
                error_class=error_class,
            )
            for id_, ts, model_, status, stream, duration_ms, attempts, answered_by, error_class in rows
        ]

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store one content-addressed blob (idempotent: a digest seen before is kept as it is)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data))

    def blob(self, digest: str) -> bytes | None:
        """A blob by its SHA-256 (hex), or None."""
        with self._lock:
            return self._blob(digest)

    def close(self) -> None:
        with self._lock:
            self._db.close()
