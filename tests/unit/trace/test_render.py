"""`seawall traces show`: a typed record, rendered for a person."""

from __future__ import annotations

from seawall.trace._render import answer_text, render_trace, sse_data
from seawall.trace._schema import (
    Backoff,
    BreakerChanged,
    ClientDisconnected,
    ErrorInfo,
    ResponsePart,
    Route,
    Skipped,
)
from tests.unit.trace.records import ANSWER, attempt, record

OPENAI_SSE = (
    'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n'
    'data: {"choices":[],"usage":{"total_tokens":3}}\n\n'
    "data: [DONE]\n\n"
)
_DELTA = '{"type":"content_block_delta","index":0,"delta":%s}'
ANTHROPIC_SSE = (
    'event: message_start\ndata: {"type":"message_start","message":{"content":[]}}\n\n'
    "event: content_block_delta\ndata: " + _DELTA % '{"type":"text_delta","text":"Hel"}' + "\n\n"
    "event: content_block_delta\ndata: " + _DELTA % '{"type":"input_json_delta","partial_json":"{"}' + "\n\n"
    "event: content_block_delta\r\ndata: " + _DELTA % '{"type":"text_delta","text":"lo"}' + "\r\n\r\n"
    'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def test_sse_data_joins_data_lines_per_event() -> None:
    assert list(sse_data("event: x\ndata: a\ndata:b\n\n: comment\n\ndata: c\n\n")) == ["a\nb", "c"]


def test_answer_text_from_either_dialect() -> None:
    assert answer_text(OPENAI_SSE) == "Hello"
    assert answer_text(ANTHROPIC_SSE) == "Hello"
    assert answer_text("data: {not json\n\n") == ""


def test_a_stream_renders_its_answer_and_writes() -> None:
    rec = record(
        stream=True,
        ttft_ms=2.0,
        answered_by="p/m",
        route=Route(model="m", targets=("p/m", "q/n"), deadline_ms=1000.0, max_attempts=3, priority="batch"),
        attempts=(
            attempt(0, status=503, error_class="server_error", error="upstream 503"),
            attempt(
                1, started_ms=5.0, backoff_ms=4.0, retry=True, head_ms=6.0, reads=((7.0, 100), (8.0, 50))
            ),
        ),
        events=(
            Backoff(t_ms=1.0, target="p/m", delay_ms=4.0),
            Skipped(t_ms=1.5, target="q/n", reason="circuit open", code="breaker"),
            BreakerChanged(t_ms=2.5, target="p/m", old="closed", new="open", reason="consecutive_failures"),
            ClientDisconnected(t_ms=9.0),
        ),
        response=ResponsePart(body=OPENAI_SSE, writes=((3.0, 10), (4.0, 20)), terminal="done"),
    )
    out = render_trace(rec)
    assert "route: p/m -> q/n  deadline 1000.0 ms  max attempts 3  priority batch" in out
    assert "#0 p/m [openai] at +0.0 ms: server_error status=503" in out
    assert "error: upstream 503" in out
    assert "#1 p/m [openai] at +5.0 ms after 4 ms backoff (retry): ok status=200" in out
    assert "upstream: headers at +6.0 ms, 2 reads, 150 bytes" in out
    assert "1.0 ms  backoff 4.0 ms before retrying p/m" in out
    assert "1.5 ms  skip q/n: circuit open [breaker]" in out
    assert "2.5 ms  breaker p/m: closed -> open (consecutive_failures)" in out
    assert out.count("client disconnected") == 1
    assert f"stream: 2 writes, {len(OPENAI_SSE)} bytes, ended: done" in out
    assert "answer: Hello" in out
    assert "answered by p/m" in out


def test_a_stream_without_recorded_chunks_says_so() -> None:
    out = render_trace(record(stream=True, response=ResponsePart(terminal="done")))
    assert "stream: not recorded, ended: done" in out


def test_a_json_answer_and_an_error_render() -> None:
    rec = record(
        status=502,
        error=ErrorInfo(type="upstream_error", message="all failed", status=502, code="all_targets_failed"),
        response=ResponsePart(body=ANSWER),
    )
    out = render_trace(rec)
    assert "error: 502 upstream_error all_targets_failed: all failed" in out
    assert f"response: {ANSWER}" in out
    assert "route:" not in out


def test_a_probe_shows_its_verdict_and_what_quality_concluded() -> None:
    from msgspec.structs import replace

    from seawall.trace._schema import ProbeNote, QualityEvent, QualityNote

    note = QualityNote(
        ProbeNote("builtin", "arith-1", "alpha/a", False, "expected 42, got 44", "model identity changed"),
        (
            QualityEvent(
                kind="transition", target="alpha/a", old="healthy", new="degraded", reason="CUSUM 12.3 >= 12"
            ),
        ),
    )
    out = render_trace(replace(record(), quality=note))
    assert (
        "canary probe builtin/arith-1 of alpha/a: FAILED (expected 42, got 44); "
        "battery: model identity changed" in out
    )
    assert "quality transition at alpha/a: healthy -> degraded (CUSUM 12.3 >= 12)" in out
    assert "canary probe" not in render_trace(record())


def test_the_context_and_cache_decision_are_shown() -> None:
    from msgspec.structs import replace

    from seawall.trace._schema import ContextNote

    note = ContextNote(
        conversation="c-1",
        version=3,
        snapshot="sha256:" + "ab" * 32,
        binding="conflict",
        bound_snapshot="sha256:" + "cd" * 32,
        cache="miss",
        cache_key="k1",
        cache_parts={"target": "alpha/a"},
    )
    out = render_trace(replace(record(), context=note))
    assert f"context: conversation c-1 version 3, snapshot sha256:{'ab' * 32}; binding: conflict" in out
    assert f"(bound to sha256:{'cd' * 32})" in out
    assert "cache: miss, key k1" in out and "    target: alpha/a" in out
