"""The one request lifecycle: every ending records the trace exactly once, in the client's dialect,
before the last bytes are handed back (scripted providers, ManualClock, no sockets)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from seawall._clock import ManualClock
from seawall._exchange import Exchange, Relay, Reply
from seawall._types import ChatRequest, Target
from seawall.engine import Engine, ModelRoute
from seawall.errors import InvalidRequest, UpstreamStreamCut, UpstreamUnavailable
from seawall.ingress import ANTHROPIC, OPENAI, IngressDialect
from seawall.trace import Trace
from seawall.trace._schema import ClientDisconnected, TraceRecord
from tests.unit.engine.fakes import FailAfter, Hang, ScriptedProvider
from tests.unit.engine.test_engine import policies_with

A = Target("a", "ma")
OPENAI_BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


class Harness:
    def __init__(self, outcomes: list[Any]) -> None:
        self.clock = ManualClock()
        self.records: list[TraceRecord] = []
        provider = ScriptedProvider("a", outcomes, self.clock)
        route = ModelRoute("m", (A,), 60.0, None, 30.0, 30.0, (policies_with(max_attempts=1),))
        self.engine = Engine({"m": route}, {"a": provider}, clock=self.clock, rng=random.Random(1))
        self.ids = 0

    def exchange(self, dialect: IngressDialect, body: Any, headers: dict[str, str] | None = None) -> Exchange:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        self.ids += 1
        try:
            request: ChatRequest | None = dialect.parse(raw, headers or {})
            error = None
        except InvalidRequest as exc:
            request, error = None, exc
        trace = Trace(
            clock=self.clock,
            trace_id=f"t{self.ids}",
            model=request.model if request else "",
            ingress=dialect.name.value,
            stream=bool(request and request.stream),
            request_body=raw,
        )
        return Exchange(self.engine, self.records.append, dialect, trace, request, error=error)


def _header(reply_headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in reply_headers if k == name), None)


async def test_a_rejected_request_is_answered_in_its_dialect_and_traced() -> None:
    h = Harness(["unused"])
    for dialect, shape in ((OPENAI, "error"), (ANTHROPIC, "type")):
        exchange = h.exchange(dialect, b"{not json")
        assert exchange.error is not None
        reply = exchange.fail(exchange.error)
        assert reply.status == 400 and shape in orjson.loads(reply.body)
        assert _header(reply.headers, b"x-seawall-trace-id") == exchange.trace.id.encode()
    assert [(r.status, r.ingress, r.request.body) for r in h.records] == [
        (400, "openai", "{not json"),
        (400, "anthropic", "{not json"),
    ]
    assert h.records[1].response.body is not None and '"type":"error"' in h.records[1].response.body


async def test_an_answer_is_recorded_once_with_the_bytes_sent() -> None:
    h = Harness(["hello there"])
    exchange = h.exchange(OPENAI, OPENAI_BODY)
    reply = await exchange.complete()
    assert reply.status == 200 and _header(reply.headers, b"x-seawall-attempts") == b"1"
    (record,) = h.records
    assert record.response.body == reply.body.decode() and record.answered_by == A.key
    exchange.fail(InvalidRequest("late"))  # a second ending changes nothing recorded
    assert len(h.records) == 1


async def test_an_anthropic_client_gets_a_translated_answer() -> None:
    h = Harness(["hello"])
    reply = await h.exchange(ANTHROPIC, ANTHROPIC_BODY).complete()
    message = orjson.loads(reply.body)
    assert message["type"] == "message" and message["content"] == [{"type": "text", "text": "hello"}]


async def test_an_engine_error_is_a_dialect_error_reply() -> None:
    h = Harness([UpstreamUnavailable("upstream 503")])
    reply = await h.exchange(ANTHROPIC, ANTHROPIC_BODY).complete()
    body = orjson.loads(reply.body)
    assert reply.status >= 500 and body["type"] == "error"
    assert _header(reply.headers, b"x-should-retry") is not None
    assert h.records[0].status == reply.status and h.records[0].error is not None


async def test_a_client_that_leaves_is_recorded_as_499() -> None:
    h = Harness([Hang()])
    exchange = h.exchange(OPENAI, OPENAI_BODY)
    task = asyncio.ensure_future(exchange.complete())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = h.records
    assert record.status == 499 and any(isinstance(e, ClientDisconnected) for e in record.events)


async def _open(h: Harness, dialect: IngressDialect, body: dict[str, Any]) -> Relay:
    opened = await h.exchange(dialect, {**body, "stream": True}).open_stream()
    assert isinstance(opened, Relay)
    return opened


@pytest.mark.parametrize(
    ("dialect", "body", "end"),
    [(OPENAI, OPENAI_BODY, b"data: [DONE]\n\n"), (ANTHROPIC, ANTHROPIC_BODY, b"message_stop")],
)
async def test_a_stream_records_every_byte_before_its_last_write(
    dialect: IngressDialect, body: dict[str, Any], end: bytes
) -> None:
    h = Harness(["one two three"])
    relay = await _open(h, dialect, body)
    writes: list[bytes] = []

    async def write(data: bytes) -> None:
        writes.append(data)

    await relay.pump(write)
    assert h.records == []  # not over yet
    final = await relay.close()
    assert end in final
    (record,) = h.records  # recorded by the time the final bytes are handed back
    assert record.response.terminal == "done"
    assert record.response.body == b"".join([*writes, final]).decode()
    assert await relay.close() == b"" and len(h.records) == 1


async def test_a_stream_cut_after_commit_ends_with_the_dialects_error_event() -> None:
    h = Harness([FailAfter(2, UpstreamStreamCut("upstream closed the connection mid-stream"))])
    relay = await _open(h, OPENAI, OPENAI_BODY)

    async def write(data: bytes) -> None:
        return None

    await relay.pump(write)
    final = await relay.close()
    assert final.startswith(b'data: {"error"') and b"[DONE]" not in final
    (record,) = h.records
    assert (record.status, record.response.terminal) == (200, "error")
    assert record.attempts[0].error_class == "stream_cut" and record.attempts[0].committed


async def test_a_stream_whose_client_left_is_recorded_once() -> None:
    h = Harness(["one two three"])
    relay = await _open(h, OPENAI, OPENAI_BODY)
    await relay.abandon()
    await relay.abandon()
    assert await relay.close() == b""
    (record,) = h.records
    assert record.response.terminal == "client_disconnect" and record.attempts[0].committed


async def test_no_target_before_commit_is_a_real_error_status_not_a_stream() -> None:
    h = Harness([UpstreamUnavailable("upstream 503")])
    opened = await h.exchange(OPENAI, {**OPENAI_BODY, "stream": True}).open_stream()
    assert isinstance(opened, Reply) and opened.status >= 500
    assert h.records[0].status == opened.status
