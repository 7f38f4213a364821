"""The ingress seam: what a client dialect must do so the gateway can serve it.

A dialect parses a client's request into the canonical `ChatRequest` (control headers included),
encodes the canonical answer back into its own shapes, and says how errors look: as a whole
response before anything was sent, and as the terminal event of a stream after its commit point.
The gateway's request lifecycle (`seawall._exchange`) is written once against this interface; the
HTTP server and the library are its two callers. Must not: route, retry, or do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from seawall._types import ChatRequest, Chunk, Completion, Dialect, JSONDict
from seawall.errors import SeawallError


class StreamEncoder(Protocol):
    """Encodes one committed stream for the client, chunk by chunk."""

    usage: JSONDict | None
    """The usage the stream reported, once it has (for the trace)."""

    def encode(self, chunk: Chunk) -> bytes:
        """The bytes this chunk adds to the client's stream (`b""`: nothing to send)."""
        ...

    def end(self) -> bytes:
        """The bytes that close a stream that ended cleanly (`data: [DONE]`, `message_stop`...)."""
        ...


class IngressDialect(Protocol):
    """A wire format clients speak to Seawall (OpenAI Chat Completions, Anthropic Messages)."""

    name: Dialect

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> ChatRequest:
        """Validate a request body and the client's control headers. Raises `RequestError`."""
        ...

    def encode_answer(self, request: ChatRequest, completion: Completion) -> bytes:
        """The response body of a whole (non-streamed) answer."""
        ...

    def stream_encoder(self, request: ChatRequest) -> StreamEncoder:
        """A new encoder for one committed stream."""
        ...

    def error_response(self, exc: SeawallError) -> tuple[int, bytes]:
        """Status and body of an error answered before any response byte was sent."""
        ...

    def error_event(self, exc: SeawallError) -> bytes:
        """The terminal event of a stream that failed after its commit point."""
        ...


__all__ = ["IngressDialect", "StreamEncoder"]
