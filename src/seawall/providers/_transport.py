"""The transport seam: how an adapter's bytes reach a provider and come back.

An adapter builds one `UpstreamRequest` per attempt and hands it to its `Transport`, which answers
with an `UpstreamResponse` once the status line and headers have arrived; the body is then read
whole (`read()`) or piece by piece as it arrives (`iter_chunks()`), and the response is released.
That is the whole interface, so recording, replaying and mocking transports can stand in for the
network without the adapters knowing. The default is Seawall's own pooled HTTP/1.1 client
(`_h1.H1Client`, one per provider); `MockTransport` (`_mock`) answers from a function.

A transport moves bytes and nothing else: it never retries on its own account (apart from the H1
client's one resend of a request no byte of which was answered, see `_h1`), never parses bodies and
never maps errors. It reports failures with the small vocabulary below, and the adapters turn
those into Seawall's `UpstreamError` tree in exactly one place (`_http.transport_error`):

    TransportError           any transport failure
     ├── ConnectError        the connection could not be opened (`__cause__`: the OS error)
     ├── Disconnected        the server closed the connection before the answer was complete
     └── ProtocolError       the answer is not valid HTTP (or uses an unsupported encoding)
    TimeoutError             (the built-in) a connect, head or idle limit passed
    OSError                  (the built-in) a socket failure the transport did not wrap
    ValueError               (the built-in) before anything is sent: a header with a line break

This module does no I/O and reads no clock: it only defines shapes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from typing import Final, Protocol

import msgspec


class TransportError(Exception):
    """Base of the failures a `Transport` reports."""


class ConnectError(TransportError):
    """Raised when the connection could not be opened."""


class Disconnected(TransportError):
    """Raised when the server closed the connection before the answer was complete."""


class ProtocolError(TransportError):
    """Raised when the server's answer is not valid HTTP/1.1 (or uses an unsupported encoding)."""


class UseClientDefault(enum.Enum):
    """The type of `USE_CLIENT_DEFAULT`: one value, so it cannot be confused with a number or `None`."""

    USE_CLIENT_DEFAULT = "use the client's default"


USE_CLIENT_DEFAULT: Final = UseClientDefault.USE_CLIENT_DEFAULT
"""A timeout left to the transport's own setting (the H1 client's `connect_timeout_s`)."""


class UpstreamRequest(msgspec.Struct, frozen=True, gc=False):
    """One request to send upstream, as a frozen value.

    `connect_timeout` bounds opening a new connection (`None`: no limit; `USE_CLIENT_DEFAULT`: the
    transport's own setting); `head_timeout` bounds the wait for the status line and headers once
    the request is sent (`None`: no limit). A msgspec struct rather than a frozen dataclass because
    one is built per attempt on the hot path, and it costs a tenth as much to build.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    connect_timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT
    head_timeout: float | None = None


class UpstreamResponse(Protocol):
    """An answer whose status line and headers have arrived; its body follows.

    Read the body once, with `read()` or `iter_chunks()`, then call `release()`, also after a
    failure (releasing twice is harmless): an unfinished answer's connection is closed, a finished
    one may be reused. Header names are lower case.
    """

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes:
        """The whole body."""
        ...

    def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives, one item per read; `TimeoutError` when nothing arrives for
        `idle_timeout` seconds (`None`: no limit)."""
        ...

    def release(self) -> None:
        """Give the connection back (or close it). Never raises."""
        ...


class Transport(Protocol):
    """Sends upstream requests. One instance serves every attempt of a provider, concurrently."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send `request` and wait for the answer's head. Raises the errors in this module's docstring."""
        ...

    async def aclose(self) -> None:
        """Close every connection. Harmless to call twice; the transport may be used again after
        it (it reconnects)."""
        ...


__all__ = [
    "USE_CLIENT_DEFAULT",
    "ConnectError",
    "Disconnected",
    "ProtocolError",
    "Transport",
    "TransportError",
    "UpstreamRequest",
    "UpstreamResponse",
    "UseClientDefault",
]
