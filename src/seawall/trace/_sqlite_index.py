"""What the SQLite store keeps beside each trace row to find it, and how it adds and removes it.

One `Entry` per trace: the model it asked for (`trace_models`), the targets its attempts went to
(`trace_targets`), the classes of error it met (`trace_errors`), its request and answer
text (the contentless `trace_text` FTS5 index: removing a document needs its text again, given by
`entry_of` from the stored record exactly as `to_stored` gave it when it was written), the body
blobs it points to (`trace_blobs`) and the config it ran under (`trace_configs`, a rowid range per
config). All functions take an open connection inside the caller's transaction.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from seawall.trace._codec import from_stored
from seawall.trace._text import conversation_id, error_classes, search_text, targets

_BLOB_POINTER = re.compile(rb'"\$blob"\s*:\s*"([0-9a-f]{64})"')


class Entry(NamedTuple):
    rowid: int
    id: str
    targets: tuple[str, ...]
    error_classes: tuple[str, ...]
    request_text: str
    answer_text: str
    blobs: tuple[str, ...]
    config_hash: str | None
    conversation_id: str | None = None
    model: str | None = None
    readable: bool = True
    """False: the stored record could not be read back, so its targets and text are unknown."""


def blob_hashes(data: bytes) -> tuple[str, ...]:
    """The body blobs a stored record points to (`{"$blob": "<sha256>"}`), once each."""
    return tuple(dict.fromkeys(m.decode() for m in _BLOB_POINTER.findall(data)))


def entry_of(rowid: int, trace_id: str, data: bytes, blobs: Mapping[str, bytes]) -> Entry:
    """A stored row's entry, computed again from its record. A record that cannot be read has
    only its blob references (it was indexed, if at all, before it was stored this way)."""
    hashes = blob_hashes(data)
    try:
        record = from_stored(data, blobs.get)
    except ValueError:
        return Entry(rowid, trace_id, (), (), "", "", hashes, None, readable=False)
    request_text, answer_text = search_text(record)
    return Entry(
        rowid,
        trace_id,
        targets(record),
        error_classes(record),
        request_text,
        answer_text,
        hashes,
        record.config_hash,
        conversation_id(record),
        record.model,
    )


def fetch_blobs(db: sqlite3.Connection, rows: Iterable[tuple[int, str, bytes]]) -> dict[str, bytes]:
    """Every blob the records of `rows` (rowid, id, record) point to."""
    wanted = {digest for _rowid, _id, data in rows for digest in blob_hashes(data)}
    found: dict[str, bytes] = {}
    for digest in wanted:
        row = db.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is not None:
            found[digest] = bytes(row[0])
    return found


def add(db: sqlite3.Connection, entries: Sequence[Entry], *, text_index: bool) -> None:
    """Index `entries` wholly (older rows being indexed after a migration)."""
    add_found(db, entries, text_index=text_index)
    add_refs(db, entries)


def add_found(db: sqlite3.Connection, entries: Sequence[Entry], *, text_index: bool) -> None:
    """What finds `entries`: their models, targets, error classes and text."""
    models = [(e.model, e.id) for e in entries if e.model is not None]
    if models:
        db.executemany("INSERT OR IGNORE INTO trace_models VALUES (?, ?)", models)
    targets = [(t, e.id) for e in entries for t in e.targets]
    if targets:
        db.executemany("INSERT OR IGNORE INTO trace_targets VALUES (?, ?)", targets)
    errors = [(c, e.id) for e in entries for c in e.error_classes]
    if errors:
        db.executemany("INSERT OR IGNORE INTO trace_errors VALUES (?, ?)", errors)
    texts = [(e.rowid, e.request_text, e.answer_text) for e in entries if e.request_text or e.answer_text]
    if text_index and texts:
        db.executemany("INSERT INTO trace_text (rowid, request, answer) VALUES (?, ?, ?)", texts)


def add_refs(db: sqlite3.Connection, entries: Sequence[Entry]) -> None:
    """The blobs and configs `entries` point to (written with the rows: retention must see them)."""
    add_refs_of(db, [(e.rowid, e.config_hash, e.blobs) for e in entries])


Refs = tuple[int, "str | None", Iterable[str]]
"""A stored row's references: (rowid, the hash of its config, the hashes of its body blobs)."""


def add_refs_of(db: sqlite3.Connection, rows: Sequence[Refs]) -> None:
    """The blobs and configs stored rows point to (the writer calls this with the rows)."""
    blobs = [(h, rowid) for rowid, _config, hashes in rows for h in hashes]
    if blobs:
        db.executemany("INSERT OR IGNORE INTO trace_blobs VALUES (?, ?)", blobs)
    ranges: dict[str, list[int]] = {}  # config: [lowest rowid, highest]
    for rowid, config, _hashes in rows:
        if config:
            bounds = ranges.get(config)
            if bounds is None:
                ranges[config] = [rowid, rowid]
            elif rowid > bounds[1]:
                bounds[1] = rowid
            elif rowid < bounds[0]:
                bounds[0] = rowid
    if ranges:
        db.executemany(
            "INSERT INTO trace_configs VALUES (?, ?, ?) ON CONFLICT (hash) DO UPDATE SET "
            "first = min(first, excluded.first), last = max(last, excluded.last)",
            [(digest, low, high) for digest, (low, high) in ranges.items()],
        )


def remove(
    db: sqlite3.Connection, entries: Sequence[Entry], *, text_index: bool, indexed: tuple[int, int]
) -> None:
    """Take `entries` out of the index (their rows are being deleted). Only rows with a rowid in
    `indexed` (index_below, indexed_upto: both included) are in the text index; the others have not
    been indexed yet (and a contentless index must not be told to delete what it never had)."""
    low, high = indexed
    db.executemany(
        "DELETE FROM trace_models WHERE model = ? AND id = ?",
        [(e.model, e.id) for e in entries if e.model is not None],
    )
    db.executemany(
        "DELETE FROM trace_targets WHERE target = ? AND id = ?",
        [(t, e.id) for e in entries for t in e.targets],
    )
    db.executemany(
        "DELETE FROM trace_errors WHERE error_class = ? AND id = ?",
        [(c, e.id) for e in entries for c in e.error_classes],
    )
    # a record that cannot be read back (written by a newer Seawall, say): find its targets and
    # errors the slow way; its text stays in the index, where it matches no trace (rowids are not
    # reused)
    unreadable = [(e.id,) for e in entries if not e.readable]
    # (its model is in its row, still there: an indexed delete)
    db.executemany(
        "DELETE FROM trace_models WHERE model = (SELECT model FROM traces WHERE id = ?1) AND id = ?1",
        unreadable,
    )
    db.executemany("DELETE FROM trace_targets WHERE id = ?", unreadable)
    db.executemany("DELETE FROM trace_errors WHERE id = ?", unreadable)
    if text_index:
        db.executemany(
            "INSERT INTO trace_text (trace_text, rowid, request, answer) VALUES ('delete', ?, ?, ?)",
            [
                (e.rowid, e.request_text, e.answer_text)
                for e in entries
                if low <= e.rowid <= high and (e.request_text or e.answer_text)
            ],
        )
    db.executemany(
        "DELETE FROM trace_blobs WHERE hash = ? AND trace = ?",
        [(h, e.rowid) for e in entries for h in e.blobs],
    )


def drop_unreferenced(db: sqlite3.Connection, hashes: Iterable[str]) -> int:
    """Delete the body blobs among `hashes` that no trace points to any more."""
    deleted = 0
    for digest in set(hashes):
        deleted += db.execute(
            "DELETE FROM blobs WHERE hash = ?1 AND NOT EXISTS (SELECT 1 FROM trace_blobs WHERE hash = ?1) "
            "AND NOT EXISTS (SELECT 1 FROM trace_configs WHERE hash = ?1)",
            (digest,),
        ).rowcount
    return deleted


__all__ = [
    "Entry",
    "add",
    "add_found",
    "add_refs",
    "add_refs_of",
    "blob_hashes",
    "drop_unreferenced",
    "entry_of",
    "fetch_blobs",
    "remove",
]
