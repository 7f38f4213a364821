"""What every HTTP adapter shares: one pooled aiohttp session per provider, an SSE parser, and the
single place where transport exceptions become `UpstreamError`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from seawall.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStreamCut,
    UpstreamTimeout,
)


def make_session(*, max_connections: int, connect_timeout_s: float) -> aiohttp.ClientSession:
    """One pooled client per provider; never one per request. aiohttp never retries by itself."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=max_connections, ttl_dns_cache=300, keepalive_timeout=30
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s),
        auto_decompress=True,
        raise_for_status=False,
        skip_auto_headers=("User-Agent",),
    )


def transport_error(exc: BaseException, *, streaming: bool = False) -> UpstreamError:
    """Map an aiohttp/OS exception to Seawall's tree (the one boundary for transport errors)."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"upstream timed out: {exc or type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        if streaming:
            return UpstreamStreamCut(f"upstream stream broke: {exc}")
        return UpstreamConnectionError(f"upstream response broke: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectionError(f"cannot connect to upstream: {exc.os_error or exc}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if streaming:
            return UpstreamStreamCut("upstream closed the connection mid-stream")
        return UpstreamConnectionError("upstream closed the connection without an answer")
    if isinstance(exc, aiohttp.ClientError | OSError):
        if streaming:
            return UpstreamStreamCut(f"upstream connection failed mid-stream: {exc}")
        return UpstreamConnectionError(f"upstream connection failed: {exc or type(exc).__name__}")
    return UpstreamConnectionError(f"upstream call failed: {type(exc).__name__}: {exc}")


class SSEParser:
    """Incremental Server-Sent Events parser over raw bytes: yields (event, data) per event."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[str | None, bytes]]:
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self._buf + data if self._buf else data
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        *blocks, self._buf = buf.split(b"\n\n")
        events: list[tuple[str | None, bytes]] = []
        for block in blocks:
            if not block:
                continue
            if block.startswith(b"data: ") and b"\n" not in block:  # the common case, fast
                events.append((None, block[6:]))
                continue
            event, payload = _fields(block)
            if payload is not None or event is not None:
                events.append((event, payload or b""))
        return events

    def feed_raw(self, data: bytes) -> list[tuple[str | None, bytes, bytes]]:
        """Like `feed`, plus each event's own bytes (LF line ends, ending in a blank line) as the
        third item: what a pass-through relays unchanged."""
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
                events.append((None, block[6:], block + b"\n\n"))
                continue
            event, payload = _fields(block)
            if payload is not None or event is not None:
                events.append((event, payload or b"", block + b"\n\n"))
        return events

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
