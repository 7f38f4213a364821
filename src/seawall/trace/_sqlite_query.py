"""A `TraceQuery` as SQLite SQL (the store's listing), and a search as an FTS5 query.

Rows come newest first by id (ids start with the time in ms), and `before` pages with an index range,
never an OFFSET. The indexes that serve equality filters (`status`, `conversation_id`, and
`trace_targets`, `trace_errors` and `trace_models` for a target, an error class and a model) are
ordered by id after the filtered column, so SQLite reads matching rows in the order it returns them
and stops at the limit; a target, error class or model filter reads its side table first for the
same reason. Only failed requests
are in the status index: a status filter of failures says so (`status >= 400`, the index's condition,
for SQLite to see it may use it); one that includes others (`ok`, `2xx`), most rows, is checked on
each row in id order.
A time window is a range of ids (ids start with the arrival time in ms), read in order. A text search
(the FTS5 index, by rowid) gives its matches in another order: SQLite sorts them, so its cost grows
with the number of matches.
"""

from __future__ import annotations

import math
from typing import Any

from seawall.trace._query import QueryError, StatusRange, TraceQuery, search_terms
from seawall.trace._schema import TraceSummary

SUMMARY_COLUMNS = (
    "id, ts, model, status, stream, duration_ms, attempts, answered_by, error_class, conversation_id"
)
_COLUMNS = ", ".join(f"t.{column}" for column in SUMMARY_COLUMNS.split(", "))


def list_sql(query: TraceQuery, *, text_index: bool) -> tuple[str, list[Any]]:
    """The SELECT of `SUMMARY_COLUMNS` for `query`, and its arguments."""
    where: list[str] = []
    args: list[Any] = []

    def add(condition: str, *values: Any) -> None:
        where.append(condition)
        args.extend(values)

    # a target or an error class: drive from its side table's rows, in id order
    if query.target:
        source, order = "trace_targets x JOIN traces t ON t.id = x.id", "x.id"
        add("x.target = ?", query.target)
        if query.error_class:
            add("t.id IN (SELECT id FROM trace_errors WHERE error_class = ?)", query.error_class)
    elif query.error_class:
        source, order = "trace_errors x JOIN traces t ON t.id = x.id", "x.id"
        add("x.error_class = ?", query.error_class)
    elif query.model:
        source, order = "trace_models x JOIN traces t ON t.id = x.id", "x.id"
        add("x.model = ?", query.model)
    else:
        source, order = "traces t", "t.id"
    # a time window is a range of ids (they start with the arrival time in ms), then exactly by ts
    if query.since is not None:
        add(f"{order} >= ? AND t.ts >= ?", id_bound(query.since), query.since)
    if query.until is not None:
        add(f"{order} < ? AND t.ts < ?", id_bound(query.until, after=True), query.until)
    if query.model and (query.target or query.error_class):  # else the side table's rows are read
        add("t.model = ?", query.model)
    if query.status:
        add(_status(query.status), *(bound for pair in query.status for bound in pair))
    if query.conversation_id:
        add("t.conversation_id = ?", query.conversation_id)
    if query.before:
        add(f"{order} < ?", query.before)
    if query.text:
        if not text_index:
            raise QueryError("q", "text search needs SQLite with FTS5, which this Python's sqlite3 lacks")
        add("t.rowid IN (SELECT rowid FROM trace_text WHERE trace_text MATCH ?)", fts_match(query.text))
    sql = f"SELECT {_COLUMNS} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} DESC LIMIT ?"
    args.append(query.limit)
    return sql, args


ID_SLACK_MS = 1000
"""How far apart a trace's id time and its `ts` may be: both are readings of the wall clock taken
microseconds apart at arrival (the id's first)."""


def id_bound(ts: float, *, after: bool = False) -> str:
    """An id below every id of a trace that arrived at wall-clock `ts` or later; with `after`, one
    above every id of a trace that arrived before `ts`. Ids are 12 hex digits of the arrival time in
    ms, then random bits, so they sort as their times do; the bound leaves `ID_SLACK_MS` of room
    (the caller checks `ts` exactly)."""
    ms = math.floor(ts * 1000.0) + (ID_SLACK_MS if after else -ID_SLACK_MS)
    return f"{max(0, ms):012x}"


def needs_index(query: TraceQuery) -> bool:
    """Whether `query` reads what the store indexes after writing (models, targets, error classes,
    text)."""
    return bool(query.model or query.target or query.error_class or query.text)


def _status(ranges: tuple[StatusRange, ...]) -> str:
    if all(low >= 400 for low, _high in ranges):  # failures: the partial index `traces_failed`
        return "t.status >= 400 AND (" + " OR ".join("t.status BETWEEN ? AND ?" for _ in ranges) + ")"
    return "(" + " OR ".join("+t.status BETWEEN ? AND ?" for _ in ranges) + ")"


def fts_match(text: str) -> str:
    """An FTS5 query for a search: every term a quoted string (so `ORD-1234` is the phrase `ord
    1234` and nothing in the text is FTS5 syntax), `*` kept for prefixes, all of them required."""
    return " ".join(
        '"' + phrase.replace('"', '""') + '"' + ("*" if prefix else "")
        for phrase, prefix in search_terms(text)
    )


def summaries(rows: list[Any]) -> list[TraceSummary]:
    """Rows of `SUMMARY_COLUMNS` as summaries."""
    return [
        TraceSummary(
            id=row[0],
            ts=row[1],
            model=row[2],
            status=row[3],
            stream=bool(row[4]),
            duration_ms=row[5],
            attempts=row[6] or 0,
            answered_by=row[7],
            error_class=row[8],
            conversation_id=row[9],
        )
        for row in rows
    ]


__all__ = ["SUMMARY_COLUMNS", "fts_match", "id_bound", "list_sql", "needs_index", "summaries"]
