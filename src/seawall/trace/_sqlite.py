"""SQLite trace store (the embedded default): one row per trace plus content-addressed bodies.

Large bodies (client request, upstream requests, responses) are stored once in `blobs`, keyed by
their SHA-256, and referenced from the record; identical prompts therefore cost one copy.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson

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

BLOB_MIN = 1024  # smaller bodies stay inline: a blob row costs more than it saves


def _blob_ref(text: Any, blobs: dict[str, bytes]) -> Any:
    if not isinstance(text, str) or len(text) < BLOB_MIN:
        return text
    data = text.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"$blob": digest}


def split_blobs(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """Move large bodies (client request, upstream requests/answers, response) into content-addressed
    blobs. Returns (record with references, blobs), or (None, {}) when nothing is large enough, so the
    caller can store the record's existing JSON bytes unchanged."""
    attempts = record.get("attempts") or ()
    sizes = [len(part.get("body") or "") for part in (record.get("request"), record.get("response")) if part]
    sizes += [len(a.get("request_body") or "") for a in attempts]
    sizes += [len(a.get("response_body") or "") for a in attempts]
    if max(sizes, default=0) < BLOB_MIN:
        return None, {}  # the common case: nothing to move, store the journal's bytes as they are
    blobs: dict[str, bytes] = {}
    out = dict(record)
    for key in ("request", "response"):
        part = record.get(key)
        if isinstance(part, dict) and "body" in part:
            out[key] = {**part, "body": _blob_ref(part["body"], blobs)}
    if attempts:
        out["attempts"] = [
            {
                **a,
                "request_body": _blob_ref(a.get("request_body"), blobs),
                "response_body": _blob_ref(a.get("response_body"), blobs),
            }
            for a in attempts
        ]
    return (out, blobs) if blobs else (None, {})


def join_blobs(record: Any, fetch: Any) -> Any:
    if isinstance(record, dict):
        if set(record) == {"$blob"}:
            data = fetch(record["$blob"])
            return data.decode("utf-8", "surrogatepass") if data is not None else None
        return {k: join_blobs(v, fetch) for k, v in record.items()}
    if isinstance(record, list):
        return [join_blobs(v, fetch) for v in record]
    return record


_SAME_AS_REQUEST = {"$ref": "request.body"}


def expand_refs(record: dict[str, Any]) -> dict[str, Any]:
    """The record with in-record `$ref` bodies replaced by the text they point to (in place)."""
    request = record.get("request")
    request_body = request.get("body") if isinstance(request, dict) else None
    attempts = record.get("attempts")
    if isinstance(attempts, list):
        for attempt in attempts:
            if isinstance(attempt, dict) and attempt.get("request_body") == _SAME_AS_REQUEST:
                attempt["request_body"] = request_body
    response = record.get("response")
    if isinstance(response, dict) and isinstance(ref := response.get("body"), dict) and "$ref" in ref:
        _, index, field = ([*str(ref["$ref"]).split("."), "", ""])[:3]
        try:
            response["body"] = attempts[int(index)][field]  # type: ignore[index]
        except (TypeError, ValueError, IndexError, KeyError):
            response["body"] = None
    return record


_ROWS_PER_INSERT = 256  # x 10 columns: far below SQLite's 32,766 bound variables


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT OR IGNORE INTO traces VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)


class SQLiteTraceStore:
    """Thread-safe (one connection, one lock); WAL mode so readers don't block the writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The recorder's journal already makes a delivered request's trace survive a process crash;
        # SQLite adds no stronger guarantee by fsyncing, so it doesn't (10.6 vs 12.5 µs per record).
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def write_batch(self, records: Sequence[tuple[dict[str, Any], bytes]]) -> None:
        rows = []
        blob_rows: dict[str, bytes] = {}
        for rec, line in records:
            stored, blobs = split_blobs(rec)
            blob_rows.update(blobs)
            error = rec.get("error") or {}
            rows.append(
                (
                    rec["id"],
                    rec["ts"],
                    rec.get("model"),
                    rec.get("status"),
                    int(bool(rec.get("stream"))),
                    rec.get("duration_ms"),
                    len(rec.get("attempts") or ()),
                    rec.get("answered_by"),
                    error.get("class") if isinstance(error, dict) else None,
                    line if stored is None else orjson.dumps(stored),
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

    def get(self, trace_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM traces WHERE id = ?", (trace_id,)).fetchone()
            if row is None and len(trace_id) >= 6:
                rows = self._db.execute(
                    "SELECT record FROM traces WHERE id LIKE ? LIMIT 2", (trace_id + "%",)
                ).fetchall()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                return None
            record: dict[str, Any] = expand_refs(join_blobs(orjson.loads(row[0]), self._blob))
            return record

    def list(
        self, *, limit: int = 50, model: str | None = None, errors_only: bool = False
    ) -> list[dict[str, Any]]:
        keys = (
            "id",
            "ts",
            "model",
            "status",
            "stream",
            "duration_ms",
            "attempts",
            "answered_by",
            "error_class",
        )
        sql = f"SELECT {', '.join(keys)} FROM traces"
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
            return [dict(zip(keys, row, strict=True)) for row in self._db.execute(sql, args).fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()
