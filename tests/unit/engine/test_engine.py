"""The engine's retry/fallback/deadline/commit-point behaviour, deterministically (ManualClock)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import ChatRequest, Target
from seawall.config import ResilienceOverrides, TargetPolicies
from seawall.config._resilience import target_policies
from seawall.engine import Engine, ModelRoute
from seawall.errors import (
    ContentFiltered,
    DeadlineExceeded,
    ErrorClass,
    NoTargetAvailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamStreamCut,
    UpstreamUnavailable,
)
from seawall.trace import Trace
from seawall.trace._schema import Skipped
from tests.unit.engine.fakes import FailAfter, Hang, ScriptedProvider, StallAfter

A, B = Target("a", "ma"), Target("b", "mb")


def policies_with(max_attempts: int = 3, **sections: Any) -> TargetPolicies:
    """Effective policies from config-shaped sections (defaults otherwise); min_attempt_s small for tests."""
    retry = {"max_attempts": max_attempts, "min_attempt_s": 0.05, **sections.pop("retry", {})}
    return target_policies([(ResilienceOverrides(retry=retry, **sections), ("resilience",))])


def make(
    outcomes_a: list[Any],
    outcomes_b: list[Any] | None = None,
    *,
    targets: tuple[Target, ...] = (A, B),
    timeout_s: float = 60.0,
    max_attempts: int = 3,
    cost_s: float = 0.0,
    attempt_timeout_s: float | None = None,
    resilience: dict[str, Any] | None = None,
) -> tuple[Engine, ScriptedProvider, ScriptedProvider, ManualClock, list[float]]:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    pa = ScriptedProvider("a", outcomes_a, clock, cost_s)
    pb = ScriptedProvider("b", outcomes_b or ["from b"], clock, cost_s)
    policies = policies_with(max_attempts=max_attempts, **(resilience or {}))
    route = ModelRoute("m", targets, timeout_s, attempt_timeout_s, 30.0, 30.0, (policies,) * len(targets))
    engine = Engine({"m": route}, {"a": pa, "b": pb}, clock=clock, rng=random.Random(1), sleep=sleep)
    return engine, pa, pb, clock, slept


def request(stream: bool = False, timeout_s: float | None = None) -> tuple[ChatRequest, Trace]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    req = ChatRequest(body=body, model="m", stream=stream, timeout_s=timeout_s)
    return req, Trace(
        clock=ManualClock(), trace_id="t", model="m", ingress="openai", stream=stream, request_body=None
    )


async def test_first_target_answers() -> None:
    engine, pa, pb, _clock, slept = make(["from a"])
    req, trace = request()
    completion, target = await engine.complete(req, trace)
    assert target == A
    assert completion.body["choices"][0]["message"]["content"] == "from a"
    assert (len(pa.calls), len(pb.calls), slept) == (1, 0, [])


async def test_retryable_error_falls_back_without_backoff() -> None:
    engine, _pa, _pb, _clock, slept = make([UpstreamUnavailable("503")])
    req, trace = request()
    _completion, target = await engine.complete(req, trace)
    assert target == B
    assert slept == []  # a different target needs no backoff
    assert [a.error_class for a in trace.attempts] == ["server_error", None]


async def test_bad_request_is_returned_and_never_sent_elsewhere() -> None:
    bad = UpstreamRejected("upstream 400: invalid 'tools'", upstream_status=400)
    engine, _pa, pb, _clock, _slept = make([bad])
    req, trace = request()
    with pytest.raises(UpstreamRejected) as info:
        await engine.complete(req, trace)
    assert info.value.status == 400
    assert pb.calls == []


async def test_content_filter_is_returned_not_routed_around() -> None:
    engine, _pa, pb, _clock, _slept = make([ContentFiltered("blocked")])
    req, trace = request()
    with pytest.raises(ContentFiltered):
        await engine.complete(req, trace)
    assert pb.calls == []


async def test_auth_error_falls_back_but_is_not_retried() -> None:
    auth = UpstreamRejected("401", error_class=ErrorClass.AUTH)
    engine, pa, pb, _clock, _slept = make([auth], [UpstreamUnavailable("503")], max_attempts=3)
    req, trace = request()
    with pytest.raises(NoTargetAvailable):
        await engine.complete(req, trace)
    assert len(pa.calls) == 1  # AUTH is not retryable on the same target
    assert len(pb.calls) == 2


async def test_single_target_retries_with_full_jitter_backoff() -> None:
    engine, pa, _pb, _clock, slept = make([UpstreamUnavailable("503")], targets=(A,))
    req, trace = request()
    with pytest.raises(NoTargetAvailable) as info:
        await engine.complete(req, trace)
    assert len(pa.calls) == 3
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.5  # U(0, base)
    assert 0 <= slept[1] <= 1.0  # U(0, 2·base)
    assert info.value.status == 503
    assert not info.value.should_retry


async def test_no_retry_starts_when_it_cannot_finish_before_the_deadline() -> None:
    # each attempt costs 0.9 s of a 1 s deadline: the second attempt must not start
    engine, pa, _pb, _clock, _slept = make(
        [UpstreamUnavailable("503")], targets=(A,), timeout_s=1.0, cost_s=0.9
    )
    req, trace = request()
    with pytest.raises(DeadlineExceeded, match="not enough"):
        await engine.complete(req, trace)
    assert len(pa.calls) == 1
    skips = [(e.type, e.reason) for e in trace.events if isinstance(e, Skipped)]
    assert skips == [("skip", "no time left before the deadline")]


async def test_client_deadline_wins_when_shorter() -> None:
    engine, pa, _pb, _clock, _slept = make(["ok"], timeout_s=60.0)
    req, trace = request(timeout_s=2.5)
    await engine.complete(req, trace)
    assert trace.route.deadline_ms == 2500.0
    assert pa.timeouts[0].total == pytest.approx(2.5)


async def test_attempt_timeout_caps_each_try() -> None:
    engine, pa, _pb, _clock, _slept = make(["ok"], attempt_timeout_s=4.0)
    req, trace = request()
    await engine.complete(req, trace)
    assert pa.timeouts[0].total == 4.0


async def test_rate_limited_target_is_blocked_for_retry_after() -> None:
    engine, pa, _pb, clock, _slept = make([UpstreamRateLimited("429", retry_after_s=10)])
    req, trace = request()
    await engine.complete(req, trace)
    req2, trace2 = request()
    await engine.complete(req2, trace2)
    assert len(pa.calls) == 1  # second request skipped a
    clock.advance(10.5)
    pa.outcomes = ["back"]
    req3, trace3 = request()
    _c, target = await engine.complete(req3, trace3)
    assert target == A


async def test_max_attempts_bounds_total_calls() -> None:
    engine, pa, pb, _clock, _slept = make(
        [UpstreamUnavailable("a")], [UpstreamUnavailable("b")], max_attempts=3
    )
    req, trace = request()
    with pytest.raises(NoTargetAvailable):
        await engine.complete(req, trace)
    assert len(pa.calls) + len(pb.calls) == 3
    assert [a.provider for a in trace.attempts] == ["a", "b", "a"]


# -- streaming -------------------------------------------------------------------------------------
async def _drain(engine: Engine, req: ChatRequest, trace: Trace) -> tuple[str, Target]:
    handle = await engine.open_stream(req, trace)
    text = [
        choice.get("delta", {}).get("content") or ""
        async for chunk in handle
        for choice in chunk.data.get("choices") or []
    ]
    await handle.aclose()
    return " ".join(t for t in text if t), handle.target


async def test_stream_failure_before_first_content_falls_back() -> None:
    engine, _pa, _pb, _clock, _slept = make([UpstreamStreamCut("cut before content")], ["hello from b"])
    req, trace = request(stream=True)
    text, target = await _drain(engine, req, trace)
    assert (text, target) == ("hello from b", B)
    assert trace.attempts[0].error_class == "stream_cut"
    assert trace.attempts[1].committed is True


async def test_stream_failure_after_commit_is_raised_not_spliced() -> None:
    engine, _pa, pb, _clock, _slept = make([FailAfter(2, UpstreamStreamCut("cut"))])
    req, trace = request(stream=True)
    handle = await engine.open_stream(req, trace)

    async def consume() -> list[object]:
        return [chunk async for chunk in handle]

    with pytest.raises(UpstreamError) as info:
        await consume()
    assert info.value.error_class is ErrorClass.STREAM_CUT
    assert pb.calls == []  # never silently continued elsewhere
    await handle.aclose()  # a committed attempt's outcome is emitted when its stream is closed
    assert trace.attempts[0].error_class == "stream_cut"
    assert any(e.type == "stream_failed_after_commit" for e in trace.events)


async def test_stream_stalling_after_commit_ends_at_the_clients_deadline() -> None:
    engine, _pa, pb, _clock, _slept = make([StallAfter(1)])
    req, trace = request(stream=True, timeout_s=0.2)
    req.stream_timeout_s = 0.2  # x-seawall-timeout-ms: a deadline for the whole stream
    handle = await engine.open_stream(req, trace)
    seen: list[object] = []

    async def consume() -> None:
        async with asyncio.timeout(5):
            async for chunk in handle:
                seen.append(chunk)  # noqa: PERF401 (keep what arrived before the error)

    with pytest.raises(UpstreamError) as info:
        await consume()
    await handle.aclose()
    assert info.value.error_class is ErrorClass.TIMEOUT
    assert len(seen) == 2  # the role chunk and the first word, then the in-band error
    assert pb.calls == []
    assert trace.attempts[0].error_class == "timeout"


async def test_sdk_read_timeout_does_not_cut_a_flowing_stream() -> None:
    engine, _pa, _pb, _clock, _slept = make(["one two three"])
    req, trace = request(stream=True, timeout_s=0.2)  # x-stainless-read-timeout: first token only
    text, target = await _drain(engine, req, trace)
    assert (text, target) == ("one two three", A)


async def test_role_chunk_alone_does_not_commit() -> None:
    engine, _pa, _pb, _clock, _slept = make([FailAfter(0, UpstreamStreamCut("cut after role"))], ["b wins"])
    req, trace = request(stream=True)
    text, target = await _drain(engine, req, trace)
    assert target == B
    assert text == "b wins"


async def test_hanging_target_is_abandoned_after_attempt_timeout() -> None:
    engine, _pa, _pb, _clock, _slept = make([Hang()], attempt_timeout_s=0.05)
    req, trace = request()
    _completion, target = await engine.complete(req, trace)
    assert target == B
    assert trace.attempts[0].error_class == "timeout"


async def test_stream_without_first_token_in_time_falls_back() -> None:
    engine, _pa, _pb, _clock, _slept = make([Hang()], ["b answers"])
    old = engine.routes["m"]
    engine.routes["m"] = ModelRoute("m", (A, B), 60.0, None, 0.05, 30.0, old.policies)
    req, trace = request(stream=True)
    text, target = await _drain(engine, req, trace)
    assert (text, target) == ("b answers", B)
    assert "first-token timeout" in trace.attempts[0].error


async def test_target_that_cannot_express_the_request_is_skipped() -> None:
    from seawall.errors import UnsupportedFeature

    refusal = UnsupportedFeature("thinking is not supported by this target", param="thinking")
    engine, _pa, _pb, _clock, _slept = make([refusal])
    req, trace = request()
    _completion, target = await engine.complete(req, trace)
    assert target == B
    assert [a.provider for a in trace.attempts] == ["b"]  # the refusal is not an attempt
    assert any(e.type == "skip" and "cannot serve" in e.reason for e in trace.events)
    assert engine.state.targets["a/ma"].attempts == 0  # and not a health signal


async def test_every_target_refusing_returns_the_refusal() -> None:
    from seawall.errors import UnsupportedFeature

    refusal = UnsupportedFeature("n > 1 is not supported", param="n")
    engine, _pa, _pb, _clock, _slept = make([refusal], [refusal])
    req, trace = request(stream=True)
    with pytest.raises(UnsupportedFeature) as info:
        await engine.open_stream(req, trace)
    assert (info.value.status, info.value.param) == (400, "n")
    assert engine.state.admission.inflight == 0


async def test_a_cold_fallback_is_tried_with_the_time_left() -> None:
    """A fallback that has never answered has no latency to judge by: it only needs MIN_ATTEMPT_S
    (fallbacks are cold by nature, since the primary usually answers)."""
    engine, pa, pb, _clock, _slept = make(
        [UpstreamUnavailable("503")], timeout_s=1.0, cost_s=0.8, resilience={"retry": {"min_attempt_s": 0.5}}
    )
    req, trace = request()
    _completion, target = await engine.complete(req, trace)
    assert target == B
    assert (len(pa.calls), len(pb.calls)) == (1, 1)


async def test_no_fallback_starts_when_it_cannot_get_going_before_the_deadline() -> None:
    engine, pa, pb, _clock, _slept = make(
        [UpstreamUnavailable("503")], timeout_s=1.0, cost_s=0.8, resilience={"retry": {"min_attempt_s": 0.5}}
    )
    engine.state.targets["b/mb"].stats.record(ok=True, duration_s=0.9)  # b has shown it needs ~0.5 s+
    req, trace = request()
    with pytest.raises(DeadlineExceeded):
        await engine.complete(req, trace)
    assert (len(pa.calls), len(pb.calls)) == (1, 0)
    assert ("skip", "no time left before the deadline") in [
        (e.type, getattr(e, "reason", None)) for e in trace.events
    ]
