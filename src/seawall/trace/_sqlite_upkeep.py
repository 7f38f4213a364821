"""SQLite store upkeep, run off the event loop by the maintenance thread (`_retention`): indexing
rows stored before a migration, deleting the oldest traces, collecting blobs nothing points to any
more, and giving free pages back to the file system.

Each step reads under the write connection's lock, does its Python work (decoding records) without
it, then changes the database in one short `BEGIN IMMEDIATE` transaction that first checks the rows
it read are still there (another process may share the file), so a write batch never waits for
more than one such step. `meta.index_below` says which rows are indexed: those at or above it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from seawall.trace import _sqlite_index as index
from seawall.trace._sqlite_query import id_bound

log = logging.getLogger("seawall.trace")

_SWEEP_CHUNK = 512


def _meta(db: sqlite3.Connection) -> tuple[int, bool]:
    values = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('index_below', 'refs_complete')"))
    return int(values.get("index_below", 0)), bool(values.get("refs_complete", 0))


def indexed_upto(db: sqlite3.Connection) -> int:
    """Rows with a higher rowid are stored but not indexed yet (`index_newer`)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'indexed_upto'").fetchone()
    return int(row[0]) if row is not None else 0


def start_indexed_upto(db: sqlite3.Connection) -> None:
    """A store from before deferred indexing indexed every row as it wrote it: mark them all."""
    db.execute(
        "INSERT OR IGNORE INTO meta VALUES ('indexed_upto', (SELECT COALESCE(MAX(rowid), 0) FROM traces))"
    )


def unindexed(db: sqlite3.Connection, lock: threading.Lock) -> int:
    """Rows `index_older` and `index_newer` have yet to index."""
    with lock:
        below, _complete = _meta(db)
        count: int = db.execute(
            "SELECT COUNT(*) FROM traces WHERE rowid > ?", (indexed_upto(db),)
        ).fetchone()[0]
        if below > 0:
            count += db.execute("SELECT COUNT(*) FROM traces WHERE rowid < ?", (below,)).fetchone()[0]
        return count


def index_newer(db: sqlite3.Connection, lock: threading.Lock, max_rows: int, *, text_index: bool) -> bool:
    """Index the oldest `max_rows` rows stored since `indexed_upto` (their targets, error classes
    and text); True while more remain. The writer stored them with their blob and config
    references already (`index.add_refs`), so retention never collects what they point to."""
    with lock:
        upto = indexed_upto(db)
        rows = [
            (rowid, id_, bytes(data))
            for rowid, id_, data in db.execute(
                "SELECT rowid, id, record FROM traces WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (upto, max_rows),
            )
        ]
        if not rows:
            return False
        blobs = index.fetch_blobs(db, rows)
    entries = [index.entry_of(rowid, id_, data, blobs) for rowid, id_, data in rows]
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            if indexed_upto(db) != upto:  # another process (or a listing) indexed these meanwhile
                db.execute("ROLLBACK")
                return True
            # rows deleted meanwhile (retention) are skipped: their entries would point nowhere
            alive = _alive(db, [e.rowid for e in entries])
            index.add_found(db, [e for e in entries if e.rowid in alive], text_index=text_index)
            db.execute("UPDATE meta SET value = ? WHERE key = 'indexed_upto'", (rows[-1][0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(rows) == max_rows


def index_older(db: sqlite3.Connection, lock: threading.Lock, max_rows: int, *, text_index: bool) -> bool:
    """Index the newest `max_rows` rows below `index_below`; at the end, once, delete the blobs that
    no trace points to (references were unknown until every row was read)."""
    with lock:
        below, complete = _meta(db)
        if below <= 0:
            if not complete:
                _sweep(db)
            return False
        rows = [
            (rowid, id_, bytes(data))
            for rowid, id_, data in db.execute(
                "SELECT rowid, id, record FROM traces WHERE rowid < ? ORDER BY rowid DESC LIMIT ?",
                (below, max_rows),
            )
        ]
        blobs = index.fetch_blobs(db, rows)
    entries = [index.entry_of(rowid, id_, data, blobs) for rowid, id_, data in rows]
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _meta(db)[0] != below:  # another process indexed these meanwhile
                db.execute("ROLLBACK")
                return True
            alive = _alive(db, [e.rowid for e in entries])
            entries = [e for e in entries if e.rowid in alive]
            index.add(db, entries, text_index=text_index)
            db.executemany(
                "UPDATE traces SET conversation_id = ? WHERE rowid = ?",
                [(e.conversation_id, e.rowid) for e in entries if e.conversation_id],
            )
            next_below = rows[-1][0] if len(rows) == max_rows else 0
            db.execute("UPDATE meta SET value = ? WHERE key = 'index_below'", (next_below,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return True


def _sweep(db: sqlite3.Connection) -> None:
    """Delete every blob no trace points to and no trace's config is (done once, after a migrated
    store's rows are all indexed), in chunks; then mark references complete."""
    after = ""
    while True:
        hashes = [
            h
            for (h,) in db.execute(
                "SELECT hash FROM blobs WHERE hash > ? ORDER BY hash LIMIT ?", (after, _SWEEP_CHUNK)
            )
        ]
        if not hashes:
            break
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted = index.drop_unreferenced(db, hashes)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if deleted:
            log.info("trace store: deleted %d blobs no trace points to", deleted)
        after = hashes[-1]
    db.execute("UPDATE meta SET value = 1 WHERE key = 'refs_complete'")


def _alive(db: sqlite3.Connection, rowids: list[int]) -> set[int]:
    if not rowids:
        return set()
    marks = ",".join("?" * len(rowids))
    return {rowid for (rowid,) in db.execute(f"SELECT rowid FROM traces WHERE rowid IN ({marks})", rowids)}


def delete_oldest(
    db: sqlite3.Connection, lock: threading.Lock, limit: int, before_ts: float | None, *, text_index: bool
) -> int:
    with lock:
        # ids start with the arrival time in ms: the oldest traces are the lowest ids (an index)
        if before_ts is None:
            cursor = db.execute("SELECT rowid, id, record FROM traces ORDER BY id LIMIT ?", (limit,))
        else:
            cursor = db.execute(
                "SELECT rowid, id, record FROM traces WHERE id < ? AND ts < ? ORDER BY id LIMIT ?",
                (id_bound(before_ts, after=True), before_ts, limit),
            )
        rows = [(rowid, id_, bytes(data)) for rowid, id_, data in cursor]
        if not rows:
            return 0
        blobs = index.fetch_blobs(db, rows)
    entries = [index.entry_of(rowid, id_, data, blobs) for rowid, id_, data in rows]
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            below, complete = _meta(db)
            alive = _alive(db, [e.rowid for e in entries])
            entries = [e for e in entries if e.rowid in alive]
            index.remove(db, entries, text_index=text_index, indexed=(below, indexed_upto(db)))
            db.executemany("DELETE FROM traces WHERE rowid = ?", [(e.rowid,) for e in entries])
            if complete:  # else a row not indexed yet may point to a blob: the sweep deletes it later
                index.drop_unreferenced(db, [h for e in entries for h in e.blobs])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(entries)


def collect_configs(db: sqlite3.Connection, lock: threading.Lock) -> int:
    """Delete each stored config whose range of traces is empty (none that ran under it is left)."""
    with lock:
        if not _meta(db)[1]:
            return 0
        db.execute("BEGIN IMMEDIATE")
        try:
            gone = [
                digest
                for digest, first, last in db.execute(
                    "SELECT hash, first, last FROM trace_configs"
                ).fetchall()
                if db.execute(
                    "SELECT 1 FROM traces WHERE rowid BETWEEN ? AND ? LIMIT 1", (first, last)
                ).fetchone()
                is None
            ]
            deleted = 0
            for digest in gone:
                db.execute("DELETE FROM trace_configs WHERE hash = ?", (digest,))
                deleted += db.execute("DELETE FROM blobs WHERE hash = ?", (digest,)).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return deleted


def size_bytes(db: sqlite3.Connection, lock: threading.Lock) -> int:
    with lock:
        pages: int = db.execute("PRAGMA page_count").fetchone()[0]
        free: int = db.execute("PRAGMA freelist_count").fetchone()[0]
        page_size: int = db.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * page_size


def reclaim(db: sqlite3.Connection, lock: threading.Lock, pages_per_step: int = 256) -> int:
    """Move free pages to the end of the file and cut them off, `pages_per_step` at a time (only a
    store created with `auto_vacuum=INCREMENTAL`; in any other, new rows reuse free pages)."""
    with lock:
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        page_size: int = db.execute("PRAGMA page_size").fetchone()[0]
    freed = 0
    while True:
        with lock:
            free: int = db.execute("PRAGMA freelist_count").fetchone()[0]
            if free:
                # executescript steps the pragma to its end (one step of `execute` frees one page)
                db.executescript(f"PRAGMA incremental_vacuum({min(free, pages_per_step)});")
                left: int = db.execute("PRAGMA freelist_count").fetchone()[0]
                freed += free - left
            if not free or left >= free:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                return freed * page_size


__all__ = [
    "collect_configs",
    "delete_oldest",
    "index_newer",
    "index_older",
    "indexed_upto",
    "reclaim",
    "size_bytes",
    "start_indexed_upto",
    "unindexed",
]
