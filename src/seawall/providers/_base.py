"""The provider seam: one adapter per wire dialect.

An adapter turns a canonical `ChatRequest` into its wire request for one `Target`, sends it over
its own pooled HTTP client, and turns the answer back into canonical `Completion` / `Chunk`s.
Every wire error is mapped into Seawall's `UpstreamError` tree inside the adapter, exactly once.
Adapters never retry: the engine owns the one retry layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target


class Provider(Protocol):
    """A configured upstream provider."""

    name: str
    dialect: Dialect

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        """Send one non-streamed attempt. Raises `UpstreamError` on failure."""
        ...

    def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        """Send one streamed attempt, yielding canonical chunks. Raises `UpstreamError`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
