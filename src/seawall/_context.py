"""Context consistency wired into the request lifecycle (docs/context.md).

`ContextService` owns the snapshot store and the conversation bindings of one gateway. For a
request that names a context (`ChatRequest.context`), `check()` runs before the cache and the
engine: a named snapshot must exist (else 400 `unknown_snapshot`); a (conversation, version) is
bound to exactly one snapshot, atomically (`seawall.context.bind` on the state backend's exact
primitives); a request naming another snapshot for a bound state is refused with 409 under the
model's `context.consistency: strict`, or served and flagged (trace, metric, log) under `warn`; a
version older than one already seen for the conversation is flagged (monotonic reads). Requests
that name no context cost one attribute test.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from seawall._clock import Clock
from seawall._types import ChatRequest
from seawall.config import GatewayConfig
from seawall.context import (
    BindingPolicy,
    BindOutcome,
    MemorySnapshotStore,
    Snapshot,
    SnapshotStore,
    UnknownSnapshot,
    bind,
)
from seawall.state import MemoryBackend, StateBackend
from seawall.trace import Trace
from seawall.trace._schema import ContextNote

log = logging.getLogger("seawall.context")


class ContextService:
    def __init__(self, config: GatewayConfig, *, clock: Clock, backend: StateBackend | None = None) -> None:
        c = config.context
        self.config = c
        self.clock = clock
        self.backend: StateBackend = backend or MemoryBackend(clock)
        self.store: SnapshotStore = _open_store(c.store, c.max_store_bytes, c.retention, clock)
        self._sqlite = c.store != "memory"
        self.policies = {m.name: BindingPolicy(m.context.consistency) for m in config.models}
        self.counts: dict[tuple[str, str], int] = {}
        """(model, outcome) → requests: bound, same, read, unbound, conflict, stale, unknown_snapshot."""

    # -- snapshots ---------------------------------------------------------------------------------
    async def put(self, raw: bytes) -> tuple[str, bool]:
        """Validate and store a snapshot body; (its hash, whether it was new). Raises the 4xx errors
        of `seawall.context` (invalid, too large)."""
        snapshot = Snapshot.from_json(raw, max_bytes=self.config.max_snapshot_bytes)
        created = await self._io(self.store.put, snapshot.canonical, snapshot.hash)
        return snapshot.hash, bool(created)

    async def get(self, digest: str) -> bytes | None:
        found: bytes | None = await self._io(self.store.get, digest)
        return found

    async def _io(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args) if self._sqlite else fn(*args)

    def close(self) -> None:
        self.store.close()

    # -- requests -------------------------------------------------------------------------------------
    async def check(self, request: ChatRequest, trace: Trace) -> None:
        """Validate and bind the request's context; raises 400 (unknown snapshot) or 409 (strict
        conflict). The verdict goes into the trace."""
        ref = request.context
        if ref is None:
            return
        model = request.model
        if ref.snapshot is not None and await self.get(ref.snapshot) is None:
            self._count(model, "unknown_snapshot")
            raise UnknownSnapshot(
                f"Unknown context snapshot {ref.snapshot}: store it first (POST /v1/context/snapshots).",
                param="x-seawall-context-snapshot",
            )
        if ref.conversation is None or ref.version is None:
            return
        result = await bind(
            self.backend, ref.conversation, ref.version, ref.snapshot, ttl_s=self.config.binding_ttl
        )
        note = trace.context or ContextNote(ref.conversation, ref.version, ref.snapshot)
        trace.context = msgspec.structs.replace(
            note,
            binding=result.outcome.value,
            bound_snapshot=result.bound if result.outcome is BindOutcome.CONFLICT else None,
            newest_version=result.newest if result.stale else None,
        )
        self._count(model, result.outcome.value)
        if result.stale:
            self._count(model, "stale")
            log.warning(
                "context: stale read of conversation %r: version %d after version %d was seen (trace %s)",
                ref.conversation,
                ref.version,
                result.newest,
                trace.id,
            )
        if result.conflict:
            log.warning(
                "context conflict: conversation %r version %d is bound to %s, request names %s "
                "(trace %s, %s)",
                ref.conversation,
                ref.version,
                result.bound,
                result.requested,
                trace.id,
                "refused" if self.policies[model].refuses(result) else "served: consistency warn",
            )
        policy = self.policies.get(model)
        if policy is not None:
            policy.check(result)

    def _count(self, model: str, outcome: str) -> None:
        key = (model, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def metrics(self) -> dict[str, Any]:
        stats = self.store.stats()
        return {"requests": dict(self.counts), "snapshots": stats.entries, "snapshot_bytes": stats.bytes}


def _open_store(url: str, max_bytes: int, retention_s: float, clock: Clock) -> SnapshotStore:
    if url == "memory":
        return MemorySnapshotStore(max_bytes=max_bytes, retention_s=retention_s, clock=clock)
    from seawall.context import SQLiteSnapshotStore

    path = url.removeprefix("sqlite://").removeprefix("/")
    return SQLiteSnapshotStore(path, max_bytes=max_bytes, retention_s=retention_s, clock=clock)


__all__ = ["ContextService"]
