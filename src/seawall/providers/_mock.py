"""`MockTransport`: a `Transport` that answers from a function instead of the network.

Like httpx's `MockTransport`: build it from a handler, sync or async, that receives each
`UpstreamRequest` and returns a `MockResponse`, then pass it to an adapter or to `build_provider`
as `transport=`. Everything above the transport (wire translation, error mapping, the record of
the upstream's bytes in `AttemptInfo`) runs as it does against a real provider:

    def handler(request: UpstreamRequest) -> MockResponse:
        return MockResponse(200, {"content-type": "text/event-stream"}, [b"data: {...}\\n\\n", Disconnected])

    provider = OpenAIProvider("up", "http://up/v1", transport=MockTransport(handler))

Failures are raised with the transport vocabulary (`_transport`), as the H1 client raises them:
before the answer, by the handler itself (`raise ConnectError(...)`, `raise TimeoutError`); in
the middle of a body, by an exception (class or instance) placed among the body's pieces. A body
given as a generator runs lazily, one piece per read, so it can advance a `ManualClock` between
reads (and, like any generator, only once: build such a `MockResponse` inside the handler). Time
never passes by itself here: an idle timeout is a `TimeoutError` piece.

This module does no I/O and reads no clock.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from seawall.providers._transport import UpstreamRequest

if TYPE_CHECKING:
    from seawall.providers._transport import Transport

Piece = bytes | BaseException | type[BaseException]
"""One item of a body given in pieces: the bytes of one read, or a failure raised at that point."""

Body = bytes | Iterable[Piece] | AsyncIterable[bytes]


@dataclass(frozen=True)
class MockResponse:
    """What a `MockTransport` handler answers: a status, headers (names are lower-cased when sent
    on) and a body, whole (`bytes`: one read) or in pieces (an iterable of `Piece`s, or an async
    iterable of bytes: one read each; empty pieces are skipped, as a real read is never empty)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = b""

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> MockResponse:
        """A JSON answer (`content-type: application/json`)."""
        return cls(status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(data))


Handler = Callable[[UpstreamRequest], MockResponse | Awaitable[MockResponse]]
"""Answers one request; may raise a transport failure instead (the request then gets no answer)."""


class _Answer:
    """The live response to one request: the `UpstreamResponse` a `MockTransport` returns."""

    __slots__ = ("_body", "_read", "_transport", "headers", "released", "status")

    def __init__(self, transport: MockTransport, spec: MockResponse) -> None:
        self._transport = transport
        self._body = spec.body
        self._read = False
        self.status = spec.status
        self.headers = {name.lower(): value for name, value in spec.headers.items()}
        self.released = False

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self._pieces()])

    async def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        async for piece in self._pieces():
            yield piece

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._transport.open -= 1

    async def _pieces(self) -> AsyncIterator[bytes]:
        if self._read:
            raise RuntimeError("a response body can be read only once")
        self._read = True
        body = self._body
        if isinstance(body, bytes):
            if body:
                yield body
            return
        if isinstance(body, AsyncIterable):
            async for data in body:
                if data:
                    yield data
            return
        for piece in body:
            if not isinstance(piece, bytes):
                raise piece
            if piece:
                yield piece


class MockTransport:
    """A `Transport` whose answers come from `handler` (sync or async); see the module docstring.

    `requests` lists every request sent, in order; `open` counts responses not yet released (an
    adapter that releases every response leaves it at 0); `closed` tells whether `aclose()` ran.
    Like the H1 client, it keeps working after `aclose()`.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[UpstreamRequest] = []
        self.open = 0
        self.closed = False

    async def send(self, request: UpstreamRequest) -> _Answer:
        self.requests.append(request)
        spec = self._handler(request)
        if inspect.isawaitable(spec):
            spec = await spec
        if not isinstance(spec, MockResponse):
            raise TypeError(f"a MockTransport handler must return a MockResponse, not {type(spec).__name__}")
        self.open += 1
        return _Answer(self, spec)

    async def aclose(self) -> None:
        self.closed = True


if TYPE_CHECKING:

    def _is_a_transport(transport: MockTransport) -> Transport:
        return transport  # mypy checks that MockTransport satisfies the protocol


__all__ = ["MockResponse", "MockTransport"]
