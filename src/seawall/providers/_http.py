"""What every HTTP adapter shares: the transport it sends through (by default one pooled HTTP/1.1
client per provider, `_h1`), an SSE parser, the record of the upstream's bytes in `AttemptInfo`, and
the single place where transport exceptions become `UpstreamError`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson

from seawall._clock import Clock, MonotonicClock
from seawall._types import AttemptInfo, AttemptTimeouts, Chunk, Dialect
from seawall.errors import (
    InvalidRequest,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStreamCut,
    UpstreamTimeout,
)
from seawall.providers._h1 import H1Client
from seawall.providers._transport import (
    USE_CLIENT_DEFAULT,
    ConnectError,
    Disconnected,
    ProtocolError,
    Transport,
    TransportError,
    UpstreamRequest,
    UpstreamResponse,
    UseClientDefault,
)
from seawall.resilience import parse_retry_after


def default_transport(*, max_connections: int, connect_timeout_s: float) -> H1Client:
    """One pooled client per provider; never one per request. It never retries by itself (except
    resending once on a fresh connection when a kept-alive one was found closed: see `_h1`)."""
    return H1Client(max_connections=max_connections, connect_timeout_s=connect_timeout_s, keepalive_s=30.0)


def provider_headers(
    fixed: Mapping[str, str], configured: Mapping[str, str] | None, credential: tuple[str, str] | None
) -> dict[str, str]:
    """The headers a provider sends on every request: its own (`content-type`, a version header),
    then the configured ones, which may replace them, then the credential, which nothing replaces.
    Names are lower-cased, so a configured `Content-Type` replaces the default instead of going up
    beside it, and a client header can be merged by name (`anthropic.py`)."""
    headers = {name.lower(): value for name, value in fixed.items()}
    if configured:
        headers.update({name.lower(): value for name, value in configured.items()})
    if credential is not None:
        headers[credential[0].lower()] = credential[1]
    return headers


def transport_error(exc: BaseException, *, streaming: bool = False) -> UpstreamError:
    """Map a transport's failure (see `_transport`) to Seawall's tree: the one boundary for them."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"upstream timed out: {exc or type(exc).__name__}")
    if isinstance(exc, ProtocolError):
        if streaming:
            return UpstreamStreamCut(f"upstream stream broke: {exc}")
        return UpstreamBadResponse(f"upstream answer broke: {exc}")
    if isinstance(exc, ConnectError):
        return UpstreamConnectionError(str(exc))
    if isinstance(exc, Disconnected):
        if streaming:
            return UpstreamStreamCut("upstream closed the connection mid-stream")
        return UpstreamConnectionError("upstream closed the connection without an answer")
    if isinstance(exc, TransportError | OSError):
        if streaming:
            return UpstreamStreamCut(f"upstream connection failed mid-stream: {exc}")
        return UpstreamConnectionError(f"upstream connection failed: {exc or type(exc).__name__}")
    return UpstreamConnectionError(f"upstream call failed: {type(exc).__name__}: {exc}")


def failure_name(exc: BaseException) -> str:
    """How a transport failure is recorded (`Attempt.body_end`): its type and message, which is
    what a replaying transport needs to raise the same failure again."""
    return f"{type(exc).__name__}: {exc}"


def batched(chunks: list[Chunk]) -> list[Chunk]:
    """Mark every chunk but the last as followed at once by another (`Chunk.more`)."""
    for chunk in chunks[:-1]:
        chunk.more = True
    return chunks


def decode_read(chunks: Iterator[Chunk]) -> tuple[list[Chunk], UpstreamError | None]:
    """Decode one upstream read completely before any chunk is handed on (no await in between):
    its chunks, all but the last marked `more`, and the error that stopped decoding, if any.
    Chunks decoded before a failing event still reach the client first."""
    batch: list[Chunk] = []
    try:
        batch.extend(chunks)  # keeps what was decoded before an error
    except UpstreamError as exc:
        return batched(batch), exc
    return batched(batch), None


class SSEParser:
    """Incremental Server-Sent Events parser over raw bytes.

    `events()` is the parser; `feed()` and `feed_raw()` are views of its result for callers that
    want less or more of each event. Line ends are normalised to LF; comments and fields other than
    `event` and `data` are ignored; an event is held until its blank line arrives.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def events(self, data: bytes) -> list[tuple[str | None, bytes, bytes]]:
        """Feed one read; return the events it completed as (event name or `None`, data, block),
        where `block` is the event's own bytes (LF line ends) without the blank line that closed it:
        what a pass-through relays, once the blank line is put back."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self._buf + data if self._buf else data
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        *blocks, self._buf = buf.split(b"\n\n")
        events: list[tuple[str | None, bytes, bytes]] = []
        for block in blocks:
            if not block:
                continue
            if block.startswith(b"data: ") and b"\n" not in block:  # the common case, fast
                events.append((None, block[6:], block))
                continue
            event, payload = _fields(block)
            if payload is not None or event is not None:
                events.append((event, payload or b"", block))
        return events

    def feed(self, data: bytes) -> list[tuple[str | None, bytes]]:
        """Like `events()`, without the blocks: (event, data) per event."""
        return [(event, payload) for event, payload, _ in self.events(data)]

    def feed_raw(self, data: bytes) -> list[tuple[str | None, bytes, bytes]]:
        """Like `events()`, each block ending in its blank line (LF line ends): the event's bytes
        exactly as a pass-through relays them."""
        return [(event, payload, block + b"\n\n") for event, payload, block in self.events(data)]

    @property
    def pending(self) -> bytes:
        return self._buf


def _fields(block: bytes) -> tuple[str | None, bytes | None]:
    """The `event` name and joined `data` lines of one SSE block (`None` when absent)."""
    event: str | None = None
    lines: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            lines.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        # comments (":") and other fields (id, retry) are ignored
    return event, b"\n".join(lines) if lines else None


def ratelimit_headers(headers: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """Keep rate-limit headers (for traces and pacing), drop everything else."""
    out = {}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(prefixes) or low in ("retry-after", "retry-after-ms"):
            out[low] = value
    return out


class HTTPProvider:
    """What the HTTP adapters share: the transport, one POST with every failure mapped, and the
    opening of a streamed answer, both recording what the upstream sent in `AttemptInfo`.
    Subclasses set `dialect`, `label`, and implement `classify()` (wire errors → `UpstreamError`)
    and `ratelimit()` (headers worth recording).

    `transport` defaults to this provider's own pooled H1 client, created on first use (one per
    provider, never one per request) and closed by `aclose()`; a given transport is closed by
    `aclose()` too, as httpx's client closes its transport. `clock` (default `MonotonicClock`)
    stamps the upstream's bytes and resolves `Retry-After` dates: providers never read `time`.
    """

    dialect: Dialect
    label = "upstream"

    def __init__(
        self,
        name: str,
        headers: dict[str, str],
        *,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._headers = headers
        self._max_connections = max_connections
        self._connect_timeout_s = connect_timeout_s
        self._transport = transport
        self._given_transport = transport is not None
        self._clock: Clock = clock if clock is not None else MonotonicClock()

    @property
    def transport(self) -> Transport:
        transport = self._transport
        if transport is None:
            transport = self._transport = default_transport(
                max_connections=self._max_connections, connect_timeout_s=self._connect_timeout_s
            )
        return transport

    async def aclose(self) -> None:
        transport = self._transport
        if transport is not None:
            if not self._given_transport:
                self._transport = None  # a later request opens a new pool, as before
            await transport.aclose()

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        raise NotImplementedError

    def ratelimit(self, headers: Mapping[str, str]) -> dict[str, str]:
        raise NotImplementedError

    def _error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        error = self.classify(status, body, headers)
        if error.retry_after_s is None:  # `retry-after-ms`, or `retry-after` as an HTTP date
            error.retry_after_s = parse_retry_after(headers, now_epoch=self._clock.wall())
        return error

    async def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        data: bytes,
        *,
        connect_s: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        head_s: float | None = None,
    ) -> UpstreamResponse:
        try:
            return await self.transport.send(UpstreamRequest("POST", url, headers, data, connect_s, head_s))
        except ValueError as exc:  # a header with a line break (e.g. a client's anthropic-beta)
            raise InvalidRequest(f"cannot send this request to {self.name}: {exc}") from None

    async def post(
        self, url: str, data: bytes, headers: Mapping[str, str], info: AttemptInfo
    ) -> tuple[Any, bytes]:
        """One non-streamed call: (parsed JSON, raw bytes) of a 2xx answer; else the mapped error.
        Records the head's arrival (`info.head_at`) and the whole body (`info.response_body`)."""
        info.url, info.request_body = url, data
        try:
            resp = await self._send(url, headers, data)
            try:
                info.head_at = self._clock.now()
                info.status = resp.status
                info.ratelimit = self.ratelimit(resp.headers)
                raw = await resp.read()
            finally:
                resp.release()
        except (TimeoutError, TransportError, OSError) as exc:
            info.body_end = failure_name(exc)
            raise transport_error(exc) from exc
        info.response_body = raw
        info.body_end = "eof"
        if resp.status >= 300:
            raise self._error(resp.status, raw, resp.headers)
        try:
            return orjson.loads(raw), raw
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"{self.label} sent invalid JSON: {exc}", upstream_status=resp.status
            ) from None

    async def pieces(
        self, url: str, data: bytes, headers: Mapping[str, str], timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[bytes]:
        """The body of a streamed answer as it arrives. The idle timeout applies between reads;
        a failure before the answer starts is a connect error, after it a cut stream.

        Records the head's arrival (`info.head_at`) and every read as it arrives, before anything
        decodes it (`info.reads`: one `(clock.now(), bytes)` per read), so a stream that fails or
        is abandoned keeps what the upstream sent. A non-2xx answer is read whole instead, into
        `info.response_body`."""
        info.url, info.request_body = url, data
        answered = False
        try:
            connect_s = USE_CLIENT_DEFAULT if timeouts.connect is None else timeouts.connect
            resp = await self._send(url, headers, data, connect_s=connect_s, head_s=timeouts.idle)
            try:
                now = self._clock.now
                info.head_at = now()
                answered = True
                info.status = resp.status
                info.ratelimit = self.ratelimit(resp.headers)
                if resp.status >= 300:
                    raw = await resp.read()
                    info.response_body = raw
                    info.body_end = "eof"
                    raise self._error(resp.status, raw, resp.headers)
                reads = info.reads
                async for piece in resp.iter_chunks(timeouts.idle):
                    reads.append((now(), piece))
                    yield piece
                info.body_end = "eof"
            finally:
                resp.release()
        except (TimeoutError, TransportError, OSError) as exc:
            info.body_end = failure_name(exc)
            raise transport_error(exc, streaming=answered) from exc

    def event_json(self, payload: bytes) -> dict[str, Any]:
        """One streamed event's JSON object, or `UpstreamBadResponse`."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse(
                f"{self.label} sent a malformed stream event: {payload[:120]!r}"
            ) from None
        if not isinstance(data, dict):
            raise UpstreamBadResponse(f"{self.label} stream event is not a JSON object")
        return data
