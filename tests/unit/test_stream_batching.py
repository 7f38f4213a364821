"""Events that arrive in one upstream read go to the client in one write, and nothing waits.

Adapters mark every chunk of a read but the last with `more`; relays hold chunks only while
`more` is set. So a read of N events costs one ASGI send instead of N, and the last event of a
read is always sent before the next read is awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from seawall._clock import ManualClock
from seawall._exchange import Exchange, Relay
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Target
from seawall.errors import UpstreamUnavailable
from seawall.ingress import OPENAI
from seawall.providers._http import batched
from seawall.providers.openai import OpenAIProvider
from seawall.trace._record import Trace
from seawall.trace._schema import TraceRecord


def _event(text: str) -> bytes:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def test_batched_marks_all_but_the_last() -> None:
    chunks = batched([Chunk({"n": i}) for i in range(3)])
    assert [c.more for c in chunks] == [True, True, False]
    assert batched([]) == []


async def test_adapter_marks_reads_and_never_holds_the_last_event_of_a_read() -> None:
    go_on = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        first = _event("a") + _event("b") + _event("c")
        writer.write(head + b"%x\r\n%s\r\n" % (len(first), first))
        await writer.drain()
        await go_on.wait()  # the client must have "c" before anything else is sent
        rest = _event("d") + b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAIProvider("up", f"http://127.0.0.1:{port}/v1")
    request = ChatRequest(body={"model": "m", "messages": [], "stream": True}, model="m", stream=True)
    seen: list[tuple[str, bool]] = []
    try:
        stream = provider.stream(request, Target("up", "m"), AttemptTimeouts(idle=5.0), AttemptInfo())
        async for chunk in stream:
            seen.append((chunk.data["choices"][0]["delta"]["content"], chunk.more))
            if seen[-1][0] == "c":
                go_on.set()
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()
    assert [text for text, _ in seen] == ["a", "b", "c", "d"]
    assert dict(seen)["c"] is False  # the read's last event is handed on without waiting
    assert dict(seen)["d"] is False


class _Handle:
    """A committed stream that notes, each time the relay asks for the next chunk, how many
    writes the relay had made by then."""

    def __init__(self, chunks: list[Chunk], writes: list[bytes], fail: bool = False) -> None:
        self._chunks = chunks
        self._writes = writes
        self._fail = fail
        self.writes_when_asked: list[int] = []

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._run()

    async def _run(self) -> AsyncIterator[Chunk]:
        for chunk in self._chunks:
            self.writes_when_asked.append(len(self._writes))
            yield chunk
        self.writes_when_asked.append(len(self._writes))
        if self._fail:
            raise UpstreamUnavailable("cut")


def _chunk(text: str, more: bool = False) -> Chunk:
    data: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": text}}]}
    return Chunk(data, orjson.dumps(data), True, more=more)


def _role(more: bool = True) -> Chunk:
    data: dict[str, Any] = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    return Chunk(data, orjson.dumps(data), False, more=more)


def _relay(handle: _Handle) -> tuple[Relay, Trace]:
    clock = ManualClock()
    request = ChatRequest(
        body={"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}},
        model="m",
        stream=True,
    )
    trace = Trace(clock=clock, trace_id="t1", model="m", ingress="openai", stream=True, request_body=None)
    records: list[TraceRecord] = []
    exchange = Exchange(None, records.append, OPENAI, trace, request)
    return Relay(exchange, handle, OPENAI.stream_encoder(request)), trace  # type: ignore[arg-type]


async def test_relay_writes_once_per_read_and_flushes_before_awaiting_more() -> None:
    writes: list[bytes] = []

    async def write(body: bytes) -> None:
        writes.append(body)

    # one read: role, a, b, c; a second read: d
    chunks = [_role(), _chunk("a", more=True), _chunk("b", more=True), _chunk("c"), _chunk("d")]
    handle = _Handle(chunks, writes)
    relay, trace = _relay(handle)
    await relay.pump(write)
    # the first content goes at once with the role (time to first token), the rest of the read together
    assert len(writes) == 3
    assert writes[0].count(b"data: ") == 2 and b'"role"' in writes[0] and b'"a"' in writes[0]
    assert writes[1].count(b"data: ") == 2 and b'"b"' in writes[1] and b'"c"' in writes[1]
    assert b'"d"' in writes[2]
    # "a" was written before "b" was asked for; "c" ended a read: written before "d" was asked for
    assert handle.writes_when_asked == [0, 0, 1, 1, 2, 3]
    # the trace holds exactly what was written, write by write
    assert [body for _t, body in trace.writes] == writes and relay.error is None


async def test_events_held_when_the_stream_fails_go_out_before_the_error() -> None:
    writes: list[bytes] = []

    async def write(body: bytes) -> None:
        writes.append(body)

    handle = _Handle([_chunk("a"), _chunk("b", more=True)], writes, fail=True)
    relay, trace = _relay(handle)
    await relay.pump(write)
    assert len(writes) == 1 and b'"a"' in writes[0] and relay.error is not None
    final = await relay.close()  # the held "b" goes out with the terminal error event
    assert final.index(b'"b"') < final.index(b'"error"') and final.endswith(b"\n\n")
    record = trace.finish(status=200)
    assert record.response.body is not None and record.response.body.endswith(final.decode())
