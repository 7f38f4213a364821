"""Context consistency and the response cache (docs/context.md, docs/cache.md).

cache: {max_entries: 10000, max_bytes: 256MB}          # the in-memory cache's bounds
context: {store: memory, max_snapshot_bytes: 1MB, retention: 7d}
models:
  - name: chat
    cache: {mode: exact, ttl_s: 600}                   # opt-in, per model
    context: {consistency: strict}                     # strict | warn
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from seawall._units import parse_duration, parse_size
from seawall.config._base import Strict


class ModelCacheConfig(Strict):
    """Exact-match response caching for one model (off unless the model has this key)."""

    mode: Literal["exact"] = "exact"
    ttl_s: float = Field(default=600.0, gt=0, le=30 * 86_400)


class ModelContextConfig(Strict):
    """What a conflicting context snapshot for an already bound conversation state does: `strict`
    answers 409, `warn` serves it and marks the trace, counts it and logs it."""

    consistency: Literal["strict", "warn"] = "strict"


class CacheConfig(Strict):
    """Bounds of the in-memory response cache, shared by every cached model."""

    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    max_bytes: int = 256 * 1024 * 1024

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("max_bytes")
    @classmethod
    def _least(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("must be at least 1KB")
        return value


class ContextConfig(Strict):
    """Where retrieval snapshots are kept and how big they may be; how long bindings last."""

    store: str = "memory"
    max_snapshot_bytes: int = 1024 * 1024
    max_store_bytes: int = 512 * 1024 * 1024
    retention: float = 7 * 86_400.0
    binding_ttl: float = 7 * 86_400.0

    @field_validator("max_snapshot_bytes", "max_store_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("retention", "binding_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value == "memory" or value.startswith("sqlite://"):
            return value
        raise ValueError("expected memory or sqlite:///PATH")
