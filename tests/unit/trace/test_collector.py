"""The trace collector: typed records from outcomes, time from the injected clock, shared bodies."""

from __future__ import annotations

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptOutcome, Dialect, Target
from seawall.errors import UpstreamUnavailable
from seawall.trace._record import Trace
from seawall.trace._schema import SCHEMA_VERSION, Skipped

CLIENT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
ANSWER = b'{"choices":[{"message":{"role":"assistant","content":"hello"}}]}'
TARGET = Target(provider="p", model="m")


def _trace(clock: ManualClock, *, stream: bool = False, record_stream: bool = True) -> Trace:
    return Trace(
        clock=clock,
        trace_id="0123456789ab0123456789ab",
        model="m",
        ingress="openai",
        stream=stream,
        request_body=CLIENT,
        request_headers={"user-agent": "t"},
        record_stream=record_stream,
    )


def _outcome(
    clock: ManualClock,
    request: bytes,
    response: bytes | None,
    *,
    started: float,
    error: UpstreamUnavailable | None = None,
    status: int = 200,
) -> AttemptOutcome:
    info = AttemptInfo(
        url="http://up/v1/chat/completions", request_body=request, status=status, response_body=response
    )
    return AttemptOutcome(
        target=TARGET, kind=Dialect.OPENAI, started=started, ended=clock.now(), info=info, error=error
    )


def test_time_and_identity_come_from_what_was_injected() -> None:
    clock = ManualClock(start=50.0, wall_start=1_800_000_000.0)
    trace = _trace(clock)
    clock.advance(0.25)
    trace.add(Skipped(t_ms=trace.ms(), target="x/y", reason="circuit open", code="breaker"))
    clock.advance(0.5)
    record = trace.finish(status=200, body=b"{}")
    assert (record.id, record.ts, record.duration_ms) == ("0123456789ab0123456789ab", 1_800_000_000.0, 750.0)
    assert record.schema_version == SCHEMA_VERSION
    assert record.events == (Skipped(t_ms=250.0, target="x/y", reason="circuit open", code="breaker"),)
    assert record.request.headers == {"user-agent": "t"}


def test_pass_through_bodies_are_shared_by_identity() -> None:
    clock = ManualClock()
    trace = _trace(clock)
    started = clock.now()
    clock.advance(0.01)
    trace.attempt_ended(_outcome(clock, CLIENT, ANSWER, started=started))
    record = trace.finish(status=200, body=ANSWER)
    attempt = record.attempts[0]
    assert attempt.request_body is record.request.body  # the codec writes it as a $ref
    assert record.response.body is attempt.response_body
    assert attempt.response_body == ANSWER.decode()
    assert (attempt.latency_ms, record.answered_by) == (10.0, "p/m")


def test_the_answering_attempt_is_shared_after_a_failed_one() -> None:
    clock = ManualClock()
    trace = _trace(clock)
    failed = UpstreamUnavailable("upstream 503", upstream_status=503)
    trace.attempt_ended(
        _outcome(clock, CLIENT, b'{"error":"busy"}', started=clock.now(), error=failed, status=503)
    )
    trace.attempt_ended(_outcome(clock, CLIENT, ANSWER, started=clock.now()))
    record = trace.finish(status=200, body=ANSWER)
    assert [a.error_class for a in record.attempts] == ["server_error", None]
    assert record.response.body is record.attempts[1].response_body
    assert record.attempts[0].response_body == '{"error":"busy"}'


def test_bodies_that_differ_are_kept_whole() -> None:
    translated = b'{"model":"claude","messages":[{"role":"user","content":"hi"}],"max_tokens":10}'
    mine = b'{"id":"x","choices":[]}'
    clock = ManualClock()
    trace = _trace(clock)
    trace.attempt_ended(_outcome(clock, translated, ANSWER, started=clock.now()))
    record = trace.finish(status=200, body=mine)
    assert record.attempts[0].request_body == translated.decode()
    assert record.attempts[0].request_body is not record.request.body
    assert record.response.body == mine.decode()


def test_a_stream_keeps_upstream_reads_and_the_exact_bytes_sent() -> None:
    clock = ManualClock()
    trace = _trace(clock, stream=True)
    upstream = [b'data: {"a":1}\n\n', b'data: {"b":2}\n\ndata: [DONE]\n\n']
    info = AttemptInfo(url="u", request_body=CLIENT, status=200)
    started = clock.now()
    clock.advance(0.002)
    info.head_at = clock.now()
    clock.advance(0.003)
    info.reads.append((clock.now(), upstream[0]))
    trace.committed("p/m")
    assert trace.attempt_count == 1  # the committed attempt counts while it streams
    trace.sent(upstream[0])
    clock.advance(0.004)
    info.reads.append((clock.now(), upstream[1]))
    trace.sent(upstream[1])
    outcome = AttemptOutcome(
        target=TARGET,
        kind=Dialect.OPENAI,
        started=started,
        ended=clock.now(),
        info=info,
        ttft_s=0.005,
        committed=True,
    )
    trace.attempt_ended(outcome)
    assert trace.attempt_count == 1
    record = trace.finish(status=200, terminal="done")
    attempt = record.attempts[0]
    assert (attempt.head_ms, attempt.reads, attempt.ttft_ms, attempt.committed) == (
        2.0,
        ((5.0, len(upstream[0])), (9.0, len(upstream[1]))),
        5.0,
        True,
    )
    assert record.response.writes == ((5.0, len(upstream[0])), (9.0, len(upstream[1])))
    assert record.response.terminal == "done" and record.ttft_ms == 5.0
    assert record.response.body is attempt.response_body == b"".join(upstream).decode()


def test_a_stream_body_can_be_left_out() -> None:
    clock = ManualClock()
    trace = _trace(clock, stream=True, record_stream=False)
    trace.sent(b"data: x\n\n")
    record = trace.finish(status=200, terminal="done")
    assert (record.response.body, record.response.writes, record.response.terminal) == (None, None, "done")
