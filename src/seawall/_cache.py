"""The response cache wired into the request lifecycle (docs/cache.md).

`CacheService.lookup()` runs before the engine for a model with `cache` configured: it decides
`bypass` (the client's `cache-control`), `uncacheable` (and why), `hit` or `miss`, with the key
made of the normalised request, the target the request would try first, that target's model
identity as last seen, the context snapshot and the tenant. `store()` keeps a complete, successful
answer under the target and identity that actually produced it, so a fallback's answer is only
ever served when that fallback is the first choice, and a changed identity makes older entries
unreachable. Every decision goes into the trace (`ContextNote`: the key's digest and parts, never
a body) and the metrics. Must not: encode for a dialect or send anything (the Exchange does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from seawall._clock import Clock
from seawall._types import ChatRequest, Chunk, JSONDict
from seawall.cache import (
    ANONYMOUS_TENANT,
    CacheKey,
    Entry,
    MemoryCache,
    cache_key,
    chunks_from_completion,
    normalized_request,
    request_cacheable,
)
from seawall.config import GatewayConfig
from seawall.engine import Engine
from seawall.trace import Trace
from seawall.trace._schema import ContextNote

IdentityOf = Callable[[str, str], "tuple[str | None, str | None] | None"]


@dataclass(slots=True)
class Lookup:
    """One request's cache decision: `hit` (with its entry), `miss`, `bypass` or `uncacheable`."""

    result: str
    key: CacheKey | None = None
    entry: Entry | None = None
    ttl_s: float = 0.0
    store: bool = False
    """Whether a complete, successful answer may be stored (a miss, or a `no-cache` bypass)."""
    reason: str | None = None


class CacheService:
    def __init__(
        self, config: GatewayConfig, engine: Engine, identity_of: IdentityOf, *, clock: Clock
    ) -> None:
        self.engine = engine
        self.identity_of = identity_of
        self.clock = clock
        self.ttl = {m.name: m.cache.ttl_s for m in config.models if m.cache is not None}
        self.backend = MemoryCache(
            max_entries=config.cache.max_entries, max_bytes=config.cache.max_bytes, clock=clock
        )
        self.counts: dict[tuple[str, str], int] = {}
        """(model, result) → requests: result hit, miss, bypass, uncacheable."""
        self.stored = 0

    def applies(self, request: ChatRequest) -> bool:
        """Whether the request's model is cached (probes never are)."""
        return request.model in self.ttl and request.probe_target is None

    async def lookup(self, request: ChatRequest, trace: Trace) -> Lookup:
        ttl = self.ttl[request.model]
        reason = request_cacheable(request)
        if reason is not None:
            found = Lookup("uncacheable", reason=reason)
        else:
            target = self.engine.first_choice(request.model)
            if target is None:
                found = Lookup("uncacheable", reason="no eligible target")
            else:
                ref = request.context
                key = cache_key(
                    normalized=normalized_request(request.body),
                    target=target.provider + "/" + target.model,
                    identity=self.identity_of(target.provider, target.model),
                    snapshot=ref.snapshot if ref is not None else None,
                    tenant=ANONYMOUS_TENANT,
                )
                if request.no_cache:
                    found = Lookup(
                        "bypass", key, ttl_s=ttl, store=not request.no_store, reason="cache-control"
                    )
                else:
                    entry = await self.backend.get(key)
                    if entry is not None:
                        found = Lookup("hit", key, entry, ttl)
                    else:
                        found = Lookup("miss", key, ttl_s=ttl, store=not request.no_store)
        counts = self.counts
        counted = (request.model, found.result)
        counts[counted] = counts.get(counted, 0) + 1
        self._note(trace, found)
        return found

    def _note(self, trace: Trace, found: Lookup) -> None:
        key = found.key
        note = trace.context or ContextNote()
        parts: dict[str, str | None] | None = None
        if key is not None:
            identity = key.identity
            parts = {
                "version": str(key.version),
                "request": key.request,
                "target": key.target,
                "identity": None if identity is None else f"{identity[0]} {identity[1]}",
                "snapshot": key.snapshot,
                "tenant": key.tenant,
            }
            entry = found.entry
            if entry is not None:
                parts["stored_by"] = entry.target
                parts["age_s"] = f"{max(0.0, self.clock.wall() - entry.created):.1f}"
        trace.context = msgspec.structs.replace(
            note,
            cache=found.result,
            cache_reason=found.reason,
            cache_key=key.digest if key is not None else None,
            cache_parts=parts,
        )

    async def store(self, found: Lookup, trace: Trace, completion: JSONDict, raw: bytes | None) -> bool:
        """Keep a complete, successful answer under the target and identity that produced it."""
        key = found.key
        if not found.store or key is None or trace.answered_by is None:
            return False
        answered = trace.answered_by
        for attempt in reversed(trace.attempts):  # the answering attempt: the last one, almost always
            if answered == attempt.provider + "/" + attempt.model:
                break
        else:
            return False
        identity = (attempt.response_model, attempt.system_fingerprint)
        under = key.under(trace.answered_by, identity)
        entry = Entry(
            body=raw if raw is not None else orjson.dumps(completion),
            content_type="application/json",
            target=trace.answered_by,
            identity=identity,
            created=self.clock.wall(),
            ttl_s=found.ttl_s,
            model=completion.get("model") if isinstance(completion.get("model"), str) else None,
            usage=completion.get("usage") if isinstance(completion.get("usage"), dict) else None,
        )
        stored = await self.backend.put(under, entry)
        if stored:
            self.stored += 1
            if trace.context is not None:
                trace.context = msgspec.structs.replace(trace.context, cache_stored=True)
        return stored

    @staticmethod
    def completion_of(entry: Entry) -> JSONDict:
        data: JSONDict = orjson.loads(entry.body)
        return data

    @staticmethod
    def stream_of(entry: Entry, include_usage: bool) -> CachedStream:
        chunks = chunks_from_completion(orjson.loads(entry.body), include_usage=include_usage)
        return CachedStream([Chunk(data, orjson.dumps(data)) for data in chunks])

    def metrics(self) -> dict[str, Any]:
        return {"requests": dict(self.counts), "stored": self.stored, "backend": self.backend.stats()}


class CachedStream:
    """A stream handle (what `Relay` reads) that replays a cached answer's chunks."""

    __slots__ = ("_chunks", "error", "target")

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks
        self.error = None
        self.target = None

    def __aiter__(self) -> Any:
        return self._iter()

    async def _iter(self) -> Any:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        return None


__all__ = ["CacheService", "CachedStream", "Lookup"]
