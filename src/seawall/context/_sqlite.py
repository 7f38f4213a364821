"""The SQLite snapshot store: a `snapshots` table in an SQLite file (or in memory).

One connection behind a lock (`check_same_thread=False`, autocommit, WAL), synchronous: the gateway
calls it through `asyncio.to_thread`. Several processes may share the file: every put is one
`BEGIN IMMEDIATE` transaction (`INSERT OR IGNORE`, then retention), so they never lose each
other's writes. `last_used` is wall-clock seconds (`Clock.wall`), since it outlives the process;
a read refreshes it only when it is older than `touch_s`, so a hot snapshot is not one write per
request. Retention: rows unused for `retention_s` are dropped, and while the rows hold more than
`max_bytes` the least recently used go first.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from seawall._clock import Clock, MonotonicClock
from seawall.context._store import SnapshotStats

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    hash      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    created   REAL NOT NULL,
    last_used REAL NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_last_used ON snapshots (last_used);
"""

_INSERT = "INSERT OR IGNORE INTO snapshots (hash, size, created, last_used, data) VALUES (?, ?, ?, ?, ?)"

# The least recently used rows beyond the first `max_bytes` (newest use first).
_OVER_CAP = """
DELETE FROM snapshots WHERE hash IN (
    SELECT hash FROM (
        SELECT hash, sum(size) OVER (ORDER BY last_used DESC, hash ROWS UNBOUNDED PRECEDING) AS running
        FROM snapshots
    ) WHERE running > ?
)
"""


class SQLiteSnapshotStore:
    """`SnapshotStore` in an SQLite file; `path` `":memory:"` for a private in-memory database."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int | None = None,
        retention_s: float | None = None,
        touch_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1 or None, got {max_bytes!r}")
        if retention_s is not None and not retention_s > 0:
            raise ValueError(f"retention_s must be > 0 or None, got {retention_s!r}")
        if not touch_s >= 0:
            raise ValueError(f"touch_s must be >= 0, got {touch_s!r}")
        self.path = path
        self.max_bytes = max_bytes
        self.retention_s = retention_s
        self.touch_s = touch_s
        self._clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self._evicted = 0
        self._expired = 0
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # an acknowledged snapshot survives a process crash (WAL); a power cut may lose the last ones
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")  # another process's put holds the write lock briefly
        self._db.executescript(_SCHEMA)

    def put(self, canonical: bytes, hash: str) -> bool:
        if self.max_bytes is not None and len(canonical) > self.max_bytes:
            raise ValueError(
                f"a snapshot of {len(canonical):,} bytes cannot fit a store of {self.max_bytes:,}"
            )
        with self._lock:
            db = self._conn()
            now = self._clock.wall()
            db.execute("BEGIN IMMEDIATE")
            try:
                self._expire(db, now)
                created = db.execute(_INSERT, (hash, len(canonical), now, now, canonical)).rowcount == 1
                if created:
                    if self.max_bytes is not None:
                        self._evicted += db.execute(_OVER_CAP, (self.max_bytes,)).rowcount
                else:
                    db.execute("UPDATE snapshots SET last_used = ? WHERE hash = ?", (now, hash))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return created

    def get(self, hash: str) -> bytes | None:
        with self._lock:
            db = self._conn()
            now = self._clock.wall()
            row = db.execute("SELECT data, last_used FROM snapshots WHERE hash = ?", (hash,)).fetchone()
            if row is None:
                return None
            data, last_used = row
            if self.retention_s is not None and last_used <= now - self.retention_s:
                self._expired += db.execute(
                    "DELETE FROM snapshots WHERE hash = ? AND last_used <= ?", (hash, now - self.retention_s)
                ).rowcount
                return None
            if last_used < now - self.touch_s:
                db.execute("UPDATE snapshots SET last_used = max(last_used, ?) WHERE hash = ?", (now, hash))
            return bytes(data)

    def stats(self) -> SnapshotStats:
        with self._lock:
            entries, size = self._conn().execute("SELECT count(*), total(size) FROM snapshots").fetchone()
            return SnapshotStats(entries, int(size), self._evicted, self._expired)

    def prune(self) -> int:
        with self._lock:
            before = self._expired
            self._expire(self._conn(), self._clock.wall())
            return self._expired - before

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the snapshot store is closed")
        return self._db

    def _expire(self, db: sqlite3.Connection, now: float) -> None:
        if self.retention_s is not None:
            cutoff = now - self.retention_s
            self._expired += db.execute("DELETE FROM snapshots WHERE last_used <= ?", (cutoff,)).rowcount
