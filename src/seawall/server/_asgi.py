"""Raw ASGI helpers shared by every route: reading a bounded body, whole responses, SSE headers, and
racing work against the client's disconnect.

Must not: know about dialects, the engine or traces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from seawall.errors import InvalidRequest, PayloadTooLarge

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DRAIN_MAX = 64 * 1024 * 1024  # bodies up to this size are read and dropped before a 413


class ClientGone(Exception):
    """The client disconnected."""


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last one wins)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def query_of(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


STARTED = "seawall.response_started"
"""Scope key set once a response has started: after that an error cannot be answered any more."""


def start_message(scope: Scope, status: int, headers: Headers) -> dict[str, Any]:
    """The `http.response.start` message, noting in `scope` that the response has started."""
    scope[STARTED] = True
    return {"type": "http.response.start", "status": status, "headers": headers}


async def respond(scope: Scope, send: Send, status: int, body: bytes, headers: Headers) -> None:
    """A whole JSON response (noted in `scope` as started)."""
    scope[STARTED] = True
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(scope: Scope, receive: Receive, max_body: int) -> bytes:
    """The whole request body, at most `max_body` bytes (`PayloadTooLarge` past it, after reading
    and dropping what the client sends, so it can read the answer); `ClientGone` if it left."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidRequest("Invalid Content-Length header.") from None
            if declared > max_body:
                if declared <= DRAIN_MAX:
                    await drain(receive)  # so clients that write the whole body first can read the 413
                raise PayloadTooLarge(
                    f"Request body of {declared} bytes exceeds the limit of {max_body} bytes "
                    "(server.max_body_bytes)."
                )
            break
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            if message.get("more_body"):
                await drain(receive)
            raise PayloadTooLarge(
                f"Request body exceeds the limit of {max_body} bytes (server.max_body_bytes)."
            )
        parts.append(chunk)
    return b"".join(parts)


async def drain(receive: Receive) -> None:
    """Read and discard the rest of a request body, up to `DRAIN_MAX` bytes."""
    seen = 0
    while seen <= DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


class DisconnectWatcher:
    """Races work against the client's `http.disconnect`, so a gone client cancels upstream work.

    The watcher task starts only if the work is still running after `WATCH_AFTER_S`: answers
    faster than that never pay for a task, and a model call (seconds) is cancelled at most
    `WATCH_AFTER_S` later than it could have been. Several `run()` calls share one watcher."""

    WATCH_AFTER_S = 0.05

    __slots__ = ("_gone", "_owner", "_receive", "_task", "_timer")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._gone = False

    def _start(self) -> None:
        self._timer = None
        if self._task is None and self._owner is not None:
            self._task = asyncio.get_running_loop().create_task(self._watch(self._owner))

    async def _watch(self, owner: asyncio.Task[Any]) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone = True
                owner.cancel()
                return

    async def run(self, work: Awaitable[Any]) -> Any:
        """Await `work`; `ClientGone` if the client disconnected meanwhile (the work is cancelled)."""
        owner = asyncio.current_task()
        assert owner is not None
        self._owner = owner
        if self._task is None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.WATCH_AFTER_S, self._start)
        try:
            return await work
        except asyncio.CancelledError:
            if self._gone and owner.uncancel() == 0:
                raise ClientGone from None
            raise

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()


__all__ = [
    "JSON",
    "SSE_HEADERS",
    "STARTED",
    "ClientGone",
    "DisconnectWatcher",
    "Headers",
    "Receive",
    "Scope",
    "Send",
    "drain",
    "headers_of",
    "query_of",
    "read_body",
    "respond",
    "start_message",
]
