"""OpenTelemetry export against real collectors on loopback sockets (`_otlp.py` decodes what arrives):
library mode on injected transports and a manual clock (exact spans), the embedded simulator, a real
`seawall serve` with the openai SDK (traceparent, conversation id), gRPC, and collectors that are
down or hang (requests never wait for them)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from seawall import Gateway
from seawall._clock import ManualClock
from seawall.config import ProviderConfig
from seawall.providers import MockResponse, MockTransport, UpstreamRequest
from tests.integration._otlp import OtlpGrpcReceiver, OtlpHttpReceiver, Span
from tests.integration._procs import GatewayProc, Sim, free_port
from tests.integration.conftest import gateway_config

SECRET = "tok-SECRET-otlp-7"
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
MESSAGES = [{"role": "user", "content": "What is 6*7?"}]
MS = 1_000_000


def _simulated(collector: str, **otlp: Any) -> dict[str, Any]:
    return {
        "providers": [{"name": "sim", "kind": "simulated", "simulate": {"ttft_ms": 30}}],
        "models": [{"name": "demo", "targets": [{"provider": "sim", "model": "sim-1"}]}],
        "traces": {"store": "none", "otlp": {"endpoint": collector, **otlp}},
    }


def _by_name(spans: list[Span]) -> dict[str, Span]:
    return {s.name: s for s in spans}


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def collector() -> Any:
    receiver = OtlpHttpReceiver()
    yield receiver
    receiver.close()


# -- library mode, exact ---------------------------------------------------------------------------------
async def test_a_fallback_is_a_request_span_with_one_child_per_attempt(
    tmp_path: Path, collector: OtlpHttpReceiver
) -> None:
    clock = ManualClock()

    def primary(request: UpstreamRequest) -> MockResponse:
        clock.advance(0.02)
        return MockResponse.json({"error": {"message": "busy", "type": "server_error"}}, status=503)

    def backup(request: UpstreamRequest) -> MockResponse:
        clock.advance(0.03)
        return MockResponse.json(
            {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-x-2025",
                "content": [{"type": "text", "text": "42"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 12, "output_tokens": 1},
            }
        )

    transports = {"primary": MockTransport(primary), "backup": MockTransport(backup)}
    config = {
        "providers": [
            {"name": "primary", "kind": "openai", "base_url": "https://openai.example/v1"},
            {"name": "backup", "kind": "anthropic", "base_url": "https://anthropic.example"},
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "primary", "model": "gpt-x"},
                    {"provider": "backup", "model": "claude-x"},
                ],
                "resilience": {"retry": {"max_attempts": 2}},
            }
        ],
        "traces": {
            "store": f"sqlite:///{tmp_path}/traces.db",
            "otlp": {
                "endpoint": collector.url,
                "headers": {"Authorization": f"Bearer {SECRET}"},
                "service_name": "gw-test",
            },
        },
    }

    def transport_for(pc: ProviderConfig) -> MockTransport:
        return transports[pc.name]

    async with Gateway.from_config(config, clock=clock, transports=transport_for) as gw:
        answer = await gw.chat(model="chat", messages=MESSAGES)
        assert gw.recorder.flush(5) and gw.store is not None
        (row,) = gw.store.list(limit=5)
    # closing the gateway flushed the export: everything has arrived
    spans = collector.wait_spans(3)
    assert len(spans) == 3
    request = _by_name(spans)["chat chat"]
    first, second = _by_name(spans)["chat primary/gpt-x"], _by_name(spans)["chat backup/claude-x"]
    start = round(ManualClock().wall() * 1_000_000) * 1000
    assert (request.kind, request.parent_id, request.start_ns, request.end_ns) == (
        "server",
        "",
        start,
        start + 50 * MS,
    )
    assert (first.start_ns, first.end_ns) == (start, start + 20 * MS)
    assert (second.start_ns, second.end_ns) == (start + 20 * MS, start + 50 * MS)
    for child in (first, second):
        assert child.kind == "client"
        assert (child.trace_id, child.parent_id) == (request.trace_id, request.span_id)
        assert request.start_ns <= child.start_ns <= child.end_ns <= request.end_ns
    assert request.resource["service.name"] == "gw-test"

    assert request.status == "STATUS_CODE_UNSET"
    assert {
        k: v for k, v in request.attributes.items() if k.startswith(("gen_ai.", "seawall.", "http."))
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "chat",
        "gen_ai.response.model": "claude-x-2025",
        "gen_ai.response.id": answer["id"],  # what the client got
        "gen_ai.response.finish_reasons": ("stop",),  # in the client's dialect
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 1,
        "http.response.status_code": 200,
        "seawall.trace_id": row.id,
        "seawall.attempts": 2,
        "seawall.answered_by": "backup/claude-x",
        "seawall.priority": "interactive",
    }
    assert (first.status, first.status_message) == ("STATUS_CODE_ERROR", "upstream 503: busy")
    assert first.attributes["error.type"] == "server_error"
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["gen_ai.provider.name"] == "openai"
    assert (first.attributes["server.address"], first.attributes["server.port"]) == ("openai.example", 443)
    assert second.status == "STATUS_CODE_UNSET" and "error.type" not in second.attributes
    assert {k: second.attributes[k] for k in second.attributes if k.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-x",
        "gen_ai.response.model": "claude-x-2025",
        "gen_ai.response.id": "msg_01",  # in the upstream's dialect
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 1,
    }
    assert (second.attributes["seawall.attempt.index"], second.attributes["seawall.trace_id"]) == (1, row.id)
    # the collector's headers were sent with the export
    assert [headers["authorization"] for headers, _request in collector.exports] == [f"Bearer {SECRET}"]


async def test_a_stream_has_time_to_first_chunk(collector: OtlpHttpReceiver) -> None:
    async with Gateway.from_config(_simulated(collector.url)) as gw:  # the embedded simulator, on a socket
        stream = await gw.chat(model="demo", messages=MESSAGES, stream=True)
        text = "".join([c["choices"][0]["delta"].get("content") or "" async for c in stream if c["choices"]])
    assert text == "42"
    spans = _by_name(collector.wait_spans(2))
    request, attempt = spans["chat demo"], spans["chat sim/sim-1"]
    duration_s = (request.end_ns - request.start_ns) / 1e9
    for span in (request, attempt):
        assert span.attributes["gen_ai.request.stream"] is True
        ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
        assert 0.03 <= ttft <= duration_s  # the simulator waits 30 ms before the first content
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["gen_ai.response.id"].startswith("chatcmpl")
    assert request.attributes["seawall.response.terminal"] == "done"
    assert attempt.attributes["seawall.attempt.committed"] is True


async def test_grpc_collector(tmp_path: Path) -> None:
    receiver = OtlpGrpcReceiver()
    try:
        config = _simulated(receiver.url, protocol="grpc", headers={"X-Api-Key": SECRET})
        async with Gateway.from_config(config) as gw:
            await gw.chat(model="demo", messages=MESSAGES)
        spans = receiver.wait_spans(2)
    finally:
        receiver.close()
    request, attempt = _by_name(spans)["chat demo"], _by_name(spans)["chat sim/sim-1"]
    assert (attempt.trace_id, attempt.parent_id) == (request.trace_id, request.span_id)
    assert request.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert [headers["x-api-key"] for headers, _request in receiver.exports] == [SECRET]


# -- collectors that are down or hang ----------------------------------------------------------------------
async def test_an_unreachable_collector_fails_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    collector = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = _simulated(collector, headers={"authorization": f"Bearer {SECRET}"}, timeout_s=0.5)
    async with Gateway.from_config(config) as gw:
        answers = [await gw.chat(model="demo", messages=MESSAGES) for _ in range(5)]
        exporter = gw.otlp
        assert exporter is not None
    assert [a["choices"][0]["message"]["content"] for a in answers] == ["42"] * 5
    stats = exporter.stats()
    assert (
        stats["exported"] == 0 and stats["failed"] == 10 and stats["backlog"] == 0
    )  # counted, not lost silently
    metrics = gw.metrics.render().decode()
    assert "seawall_otlp_spans_failed_total 10.0" in metrics
    assert any("failed" in r.getMessage() for r in caplog.records if r.name == "seawall.otel")
    assert all(SECRET not in r.getMessage() for r in caplog.records)


async def test_a_hanging_collector_never_slows_requests() -> None:
    released = threading.Event()
    receiver = OtlpHttpReceiver(hold=released)
    try:
        config = _simulated(receiver.url, queue_size=2, timeout_s=30)
        async with Gateway.from_config(config) as gw:
            exporter = gw.otlp
            assert exporter is not None
            await gw.chat(model="demo", messages=MESSAGES)
            assert await asyncio.to_thread(receiver.arrived.wait, 10)  # its export is now held
            # Six more requests complete while the collector still holds that export: the queue
            # takes two, four are dropped and counted. (Were `submit` to wait, this would hang.)
            answers = await asyncio.wait_for(
                asyncio.gather(*(gw.chat(model="demo", messages=MESSAGES) for _ in range(6))), 30
            )
            assert len(answers) == 6 and not released.is_set()
            assert (exporter.accepted, exporter.dropped) == (3, 4)
            released.set()
        spans = receiver.wait_spans(6)
    finally:
        receiver.close()
    assert len(spans) == 6  # the first request and the two queued ones, two spans each
    assert exporter.stats() == {"exported": 6, "failed": 0, "dropped": 4, "backlog": 0}


# -- a real `seawall serve`, the openai SDK ----------------------------------------------------------------
def test_serve_exports_with_the_clients_trace_context(
    tmp_path: Path, sims: tuple[Sim, Sim], collector: OtlpHttpReceiver
) -> None:
    config = gateway_config(*sims)
    config["traces"] = {
        "store": f"sqlite:///{tmp_path / 'gw' / 'traces.db'}",
        "otlp": {"endpoint": collector.url, "headers": {"authorization": "Bearer ${OTLP_TOKEN}"}},
    }
    gateway = GatewayProc(tmp_path, config, env={"OTLP_TOKEN": SECRET})
    try:
        sims[0].control(error_rate=1, error_status=503)  # "chat" falls back to the secondary
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="chat",
                messages=MESSAGES,
                extra_headers={
                    "traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01",
                    "tracestate": "vendor=1",
                    "x-seawall-conversation-id": "conv-42",
                },
            )
            other = client.chat.completions.with_raw_response.create(
                model="chat", messages=MESSAGES, extra_headers={"traceparent": "00-garbage-01"}
            )
        assert raw.parse().choices[0].message.content == "42"
        trace_id, other_id = raw.headers["x-seawall-trace-id"], other.headers["x-seawall-trace-id"]
        record = gateway.trace(trace_id)
        assert record["request"]["headers"]["traceparent"] == f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
        total = 1 + len(record["attempts"]) + 1 + len(gateway.trace(other_id)["attempts"])
        spans = collector.wait_spans(total)
        assert len(spans) == total

        def scraped() -> str:
            with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as response:
                return str(response.read().decode())

        assert _until(lambda: f"seawall_otlp_spans_exported_total {float(total)}" in scraped())
    finally:
        gateway.stop()
    requests = {s.attributes["seawall.trace_id"]: s for s in spans if s.kind == "server"}
    request = requests[trace_id]
    assert (request.trace_id, request.parent_id) == (PARENT_TRACE, PARENT_SPAN)  # the client's trace
    assert request.attributes["gen_ai.conversation.id"] == "conv-42"
    assert request.attributes["user_agent.original"].startswith("OpenAI/Python")
    assert request.attributes["seawall.answered_by"] == "secondary/gpt-secondary"
    children = sorted(
        (s for s in spans if s.parent_id == request.span_id),
        key=lambda s: s.attributes["seawall.attempt.index"],
    )
    assert [(s.name, s.attributes.get("error.type")) for s in children] == [
        (f"chat {a['provider']}/{a['model']}", a["error_class"]) for a in record["attempts"]
    ]
    assert children[0].attributes["error.type"] == "server_error"
    assert children[-1].attributes["gen_ai.response.id"] == raw.parse().id
    assert all(c.attributes["gen_ai.conversation.id"] == "conv-42" for c in children)
    ignored = requests[other_id]  # a malformed traceparent: ignored, a trace of its own
    assert ignored.parent_id == "" and ignored.trace_id not in (PARENT_TRACE, request.trace_id)
    assert re.fullmatch(r"[0-9a-f]{32}", ignored.trace_id)
    assert {headers["authorization"] for headers, _request in collector.exports} == {f"Bearer {SECRET}"}
    assert SECRET not in gateway.proc.log.read_text()
