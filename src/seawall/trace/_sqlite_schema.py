"""The SQLite trace store's tables, their layout version (`PRAGMA user_version`), and migrations.

Layout 0 (every store written before layouts were numbered, version 1 records included): `traces`
(summary columns, then `record`) and `blobs`. Layout 1 added what finding traces needs; layout 2
moved the model from an index on `traces` to a side table the maintenance thread fills (an index
on the table costs every write; see below). Layout 2:

- `traces.conversation_id`, and indexes on `status` and `conversation_id` each followed by `id`,
  so a listing filtered by one of them reads its rows in the order it returns them (a time window
  needs no index: ids start with the time in ms, so it is a range of ids). Both are partial: only
  failed requests (status >= 400, what a status filter usually looks for; most rows are
  successes, found by reading rows in id order), only rows with a conversation id;
- `trace_models (model, id)`: the model each trace asked for, `trace_targets (target, id)`: every
  target an attempt of a trace went to, and `trace_errors (error_class, id)`: every class of error
  its attempts and its answer had (by trace id, for the same reason);
- `trace_text`: an FTS5 index of each trace's request and answer text, *contentless* (it keeps the
  index, never a copy of the text: a delete gives the text again, recomputed from the record);
- `trace_blobs (hash, trace)`: which traces point to which body blob, and `trace_configs (hash,
  first, last)`: the range of traces (by rowid) that ran under each stored config, so retention
  deletes a blob only once nothing names it;
- `meta`: `text_version` (what `_text` produced the index), `index_below` (rows with a lower rowid,
  stored before the migration, are not indexed yet), `indexed_upto` (rows with a higher rowid, stored
  since, are not in `trace_models`, `trace_targets`, `trace_errors` and `trace_text` yet: the
  recorder's writer only stores a trace and its blob and config references; the maintenance thread
  indexes the rest when the writer is not busy, see `_sqlite_upkeep`) and `refs_complete` (every
  row's blob and config references are known).

Layout 1 had an index `traces_model (model, id)` instead of `trace_models`: written with each row,
it cost the writer thread 4% of a trace's write (`benchmarks/server_instructions.py`). Migrating
1 → 2 fills `trace_models` from the rows' `model` column and drops the index.

A trace's rowid is its key in the text index and `trace_blobs`. A store created at layout 1 or later
declares it (`n INTEGER PRIMARY KEY AUTOINCREMENT`), so it never changes and is never given to
another trace; a migrated store keeps its implicit rowid, which SQLite's own operations keep too
(Seawall never runs a full `VACUUM`, which keeps rowids in practice but does not promise to for a
table without an INTEGER PRIMARY KEY). A new store also puts the added column before `record` (read
without walking a large record's overflow pages) and is created with `auto_vacuum=INCREMENTAL`, so
retention can give freed pages back to the file system.

Migrating adds columns, tables and indexes in one transaction (indexing the existing rows' summary
columns: 1.4 s for 200,000 rows of an 830 MB store) and leaves the rows themselves as they are: their targets,
text, conversation id and blob references are filled in afterwards by `SQLiteTraceStore.maintain`
(a gateway's maintenance thread, newest first, in small transactions; `seawall traces list` does it
at once when a filter needs it).
"""

from __future__ import annotations

import logging
import sqlite3

from seawall.errors import ConfigError
from seawall.trace._text import TEXT_VERSION

log = logging.getLogger("seawall.trace")

LAYOUT = 2
"""The layout this code writes (`PRAGMA user_version`)."""

_TRACES_V1 = """
CREATE TABLE traces (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  ts REAL NOT NULL,
  model TEXT,
  status INTEGER,
  stream INTEGER,
  duration_ms REAL,
  attempts INTEGER,
  answered_by TEXT,
  error_class TEXT,
  conversation_id TEXT,
  record BLOB NOT NULL
);
CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

_ADDED = """
CREATE INDEX IF NOT EXISTS traces_failed ON traces (status, id) WHERE status >= 400;
CREATE INDEX IF NOT EXISTS traces_conversation ON traces (conversation_id, id)
  WHERE conversation_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS trace_models (
  model TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trace_targets (
  target TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (target, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trace_errors (
  error_class TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (error_class, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trace_blobs (
  hash TEXT NOT NULL, trace INTEGER NOT NULL, PRIMARY KEY (hash, trace)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trace_configs (
  hash TEXT PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

_TEXT_INDEX = (
    "CREATE VIRTUAL TABLE trace_text USING fts5("
    "request, answer, content='', columnsize=0, tokenize='unicode61 remove_diacritics 2')"
)


def configure_new(db: sqlite3.Connection) -> None:
    """Settings only a database without tables can take (call before choosing the journal mode)."""
    if db.execute("SELECT 1 FROM sqlite_master").fetchone() is None:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")


def prepare(db: sqlite3.Connection, source: str) -> None:
    """Create the tables of a new store, or bring an older store's up to `LAYOUT`."""
    if _layout(db) == LAYOUT and _text_version(db) == TEXT_VERSION:
        return  # the common case: nothing to change, no write lock taken
    db.execute("BEGIN IMMEDIATE")  # one process migrates; another waits, then finds it done
    try:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'traces'").fetchone()
        layout = _layout(db)
        if layout > LAYOUT:
            raise ConfigError(
                f"traces.store: {source} was written by a newer Seawall (layout {layout}); "
                f"this one reads layouts up to {LAYOUT}"
            )
        if not exists:
            _create(db)
        elif layout == 0:
            _migrate_0(db)
        elif layout == 1:
            _migrate_1(db)
        if _text_version(db) != TEXT_VERSION:
            _rebuild_text_index(db)
        db.execute(f"PRAGMA user_version = {LAYOUT}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _layout(db: sqlite3.Connection) -> int:
    layout: int = db.execute("PRAGMA user_version").fetchone()[0]
    return layout


def _text_version(db: sqlite3.Connection) -> int | None:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'text_version'").fetchone()
    return None if row is None else int(row[0])


def _create(db: sqlite3.Connection) -> None:
    for statement in (_TRACES_V1 + _ADDED).split(";"):
        if statement.strip():
            db.execute(statement)
    has_text = _create_text_index(db)
    _set(db, index_below=0, indexed_upto=0, refs_complete=1, text_version=TEXT_VERSION if has_text else 0)


def _migrate_0(db: sqlite3.Connection) -> None:
    """Layout 0 → 2: add a column and the side tables; the rows are indexed later (`maintain`)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(traces)")}
    if "conversation_id" not in columns:
        db.execute("ALTER TABLE traces ADD COLUMN conversation_id TEXT")
    for statement in _ADDED.split(";"):
        if statement.strip():
            db.execute(statement)
    has_text = _create_text_index(db)
    top: int = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM traces").fetchone()[0]
    _set(
        db,
        index_below=top + 1 if top else 0,
        indexed_upto=top,
        refs_complete=0 if top else 1,
        text_version=TEXT_VERSION if has_text else 0,
    )
    log.info("trace store: migrated to layout %d; %d existing traces will be indexed", LAYOUT, top)


def _migrate_1(db: sqlite3.Connection) -> None:
    """Layout 1 → 2: the model moves from an index on `traces` to `trace_models`, filled here for
    every row (rows not indexed yet are added again by `maintain`, which ignores what is there)."""
    for statement in _ADDED.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT OR IGNORE INTO trace_models SELECT model, id FROM traces WHERE model IS NOT NULL")
    db.execute("DROP INDEX IF EXISTS traces_model")
    log.info("trace store: migrated to layout %d", LAYOUT)


def _create_text_index(db: sqlite3.Connection) -> bool:
    try:
        db.execute(_TEXT_INDEX)
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
        log.warning("trace store: this SQLite has no FTS5; searching traces by text is not available")
        return False
    return True


def _rebuild_text_index(db: sqlite3.Connection) -> None:
    """A store indexed by another version of `_text`: start its text index again (every row is
    re-indexed by `maintain`; the text of one version cannot be deleted with another's)."""
    db.execute("DROP TABLE IF EXISTS trace_text")
    has_text = _create_text_index(db)
    top: int = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM traces").fetchone()[0]
    _set(
        db, index_below=top + 1 if top else 0, indexed_upto=top, text_version=TEXT_VERSION if has_text else 0
    )


def _set(db: sqlite3.Connection, **values: int) -> None:
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


def has_text_index(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'trace_text'").fetchone() is not None


__all__ = ["LAYOUT", "configure_new", "has_text_index", "prepare"]
