"""Each protection, as the engine applies it (ManualClock, scripted providers, no sleeps)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import ChatRequest, Priority, Target
from seawall.engine import Engine, ModelRoute, ResilienceState
from seawall.errors import NoTargetAvailable, Overloaded, UpstreamTimeout, UpstreamUnavailable
from seawall.resilience import AdmissionPolicy, ThrottlePolicy
from seawall.trace import Trace
from seawall.trace._schema import BreakerChanged
from tests.unit.engine.fakes import Hang, ScriptedProvider
from tests.unit.engine.test_engine import policies_with

A, B = Target("a", "ma"), Target("b", "mb")


def build(
    outcomes_a: list[Any],
    outcomes_b: list[Any] | None = None,
    *,
    targets: tuple[Target, ...] = (A, B),
    sections: dict[str, Any] | None = None,
    admission: AdmissionPolicy | None = None,
    throttle: ThrottlePolicy | None = None,
    cost_s: float = 0.0,
) -> tuple[Engine, ScriptedProvider, ScriptedProvider, ManualClock]:
    clock = ManualClock()
    rng = random.Random(7)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    pa = ScriptedProvider("a", outcomes_a, clock, cost_s)
    pb = ScriptedProvider("b", outcomes_b or ["from b"], clock, cost_s)
    policies = policies_with(**(sections or {}))
    route = ModelRoute("m", targets, 60.0, None, 30.0, 30.0, (policies,) * len(targets))
    state = ResilienceState.create(
        clock, rng, admission, None, throttle or ThrottlePolicy(min_requests=10**9)
    )
    engine = Engine({"m": route}, {"a": pa, "b": pb}, state=state, clock=clock, rng=rng, sleep=sleep)
    return engine, pa, pb, clock


def request(priority: Priority = Priority.INTERACTIVE, hedge_safe: bool = False) -> tuple[ChatRequest, Trace]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    req = ChatRequest(body=body, model="m", priority=priority, hedge_safe=hedge_safe)
    return req, Trace(
        clock=ManualClock(), trace_id="t", model="m", ingress="openai", stream=False, request_body=None
    )


async def test_breaker_opens_and_primary_gets_only_probes() -> None:
    breaker = {"min_calls": 5, "window_s": 30, "open_base_s": 5.0, "open_jitter": 0.0, "half_open_permits": 1}
    engine, pa, _pb, clock = build([UpstreamUnavailable("503")], sections={"breaker": breaker})
    for _ in range(5):
        req, trace = request()
        await engine.complete(req, trace)
    assert len(pa.calls) == 5
    req, trace = request()
    await engine.complete(req, trace)  # breaker open: straight to b
    assert len(pa.calls) == 5
    assert ("skip", "circuit open") in [(e.type, getattr(e, "reason", None)) for e in trace.events]
    for _ in range(20):
        req, trace = request()
        await engine.complete(req, trace)
    assert len(pa.calls) == 5
    clock.advance(5.1)  # open wait over: exactly one probe goes through
    for _ in range(3):
        req, trace = request()
        await engine.complete(req, trace)
    assert len(pa.calls) == 6
    assert engine.state.targets["a/ma"].breaker.state.value == "open"  # the probe failed: reopened


async def test_breaker_transition_is_in_the_trace() -> None:
    engine, _pa, _pb, _clock = build([UpstreamUnavailable("503")], sections={"breaker": {"min_calls": 2}})
    events = []
    for _ in range(2):
        req, trace = request()
        await engine.complete(req, trace)
        events += [e for e in trace.events if e.type == "breaker"]
    last = events[-1]
    assert isinstance(last, BreakerChanged)
    assert (last.target, last.old, last.new, last.reason) == ("a/ma", "closed", "open", "failure_rate")


async def test_retry_budget_bounds_retries_at_a_failing_target() -> None:
    budget = {"percent_can_retry": 0.1, "min_retries_per_sec": 0.1, "ttl_s": 10}
    engine, pa, _pb, _clock = build(
        [UpstreamUnavailable("503")],
        targets=(A,),
        sections={"budget": budget, "breaker": {"min_calls": 10**6, "consecutive_failures": 0}},
    )
    requests = 200
    for _ in range(requests):
        req, trace = request()
        with pytest.raises(NoTargetAvailable):
            await engine.complete(req, trace)
    # without a budget each request would make 3 attempts (600); with it: ≤ (1 + 10%) × N + reserve (1)
    assert len(pa.calls) <= 1.1 * requests + 1
    assert len(pa.calls) >= requests
    assert engine.state.targets["a/ma"].budget_refusals > 0


async def test_throttle_rejects_locally_when_provider_mostly_fails() -> None:
    throttle = ThrottlePolicy(min_requests=10, max_reject_probability=0.8)
    engine, pa, pb, _clock = build(
        [UpstreamUnavailable("503")],
        throttle=throttle,
        sections={"breaker": {"min_calls": 10**6, "consecutive_failures": 0}},
    )
    for _ in range(300):
        req, trace = request()
        await engine.complete(req, trace)
    state = engine.state.targets["a/ma"]
    assert state.local_rejections > 100  # most requests never reached the failing provider
    assert len(pa.calls) + state.local_rejections == 300
    assert len(pb.calls) == 300  # and every client still got an answer


async def test_saturated_target_is_skipped() -> None:
    conc = {"algorithm": "aimd", "settings": {"initial_limit": 1, "min_limit": 1, "max_limit": 1}}
    engine, _pa, _pb, _clock = build([Hang()], sections={"concurrency": conc})
    req1, trace1 = request()
    first = asyncio.ensure_future(engine.complete(req1, trace1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    req2, trace2 = request()
    _c, target = await engine.complete(req2, trace2)
    assert target == B
    assert ("skip", "at its concurrency limit") in [
        (e.type, getattr(e, "reason", None)) for e in trace2.events
    ]
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert engine.state.targets["a/ma"].limiter.inflight == 0  # the cancelled attempt gave its slot back


async def test_timeouts_shrink_the_concurrency_limit() -> None:
    conc = {"algorithm": "aimd", "settings": {"initial_limit": 20}}
    engine, _pa, _pb, _clock = build(
        [UpstreamTimeout("slow")],
        sections={"concurrency": conc, "breaker": {"min_calls": 10**6, "consecutive_failures": 0}},
    )
    for _ in range(5):
        req, trace = request()
        await engine.complete(req, trace)
    assert engine.state.targets["a/ma"].limiter.limit < 20


async def test_admission_sheds_with_retry_after_when_full() -> None:
    policy = AdmissionPolicy(max_concurrency=1, max_queue=0)
    engine, _pa, _pb, _clock = build([Hang()], admission=policy)
    req1, trace1 = request()
    first = asyncio.ensure_future(engine.complete(req1, trace1))
    await asyncio.sleep(0)
    req2, trace2 = request()
    with pytest.raises(Overloaded) as info:
        await engine.complete(req2, trace2)
    assert info.value.status == 503
    assert info.value.retry_after is not None
    assert info.value.retry_after >= 1
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert engine.state.admission.inflight == 0


async def test_hedge_after_p95_wins_and_loser_is_cancelled() -> None:
    hedging = {"enabled": True, "min_samples": 5, "quantile": 0.95}
    engine, pa, _pb, _clock = build(["fast a"], sections={"hedging": hedging})
    for _ in range(5):  # teach a's latency window
        req, trace = request()
        await engine.complete(req, trace)
    pa.outcomes = [Hang()]
    req, trace = request(hedge_safe=True)
    _completion, target = await engine.complete(req, trace)
    assert target == B
    kinds = [e.type for e in trace.events]
    assert "hedge" in kinds
    assert "attempt_cancelled" in kinds
    assert engine.state.targets["a/ma"].limiter.inflight == 0
    assert engine.state.targets["b/mb"].hedges == 1


async def test_no_hedge_unless_the_request_is_marked_safe() -> None:
    hedging = {"enabled": True, "min_samples": 1}
    engine, pa, _pb, _clock = build(["fast a"], sections={"hedging": hedging})
    req, trace = request()
    await engine.complete(req, trace)
    pa.outcomes = ["again"]
    req, trace = request(hedge_safe=False)
    await engine.complete(req, trace)
    assert "hedge" not in [e.type for e in trace.events]


async def test_streams_cut_after_their_first_token_open_the_breaker() -> None:
    from seawall.errors import UpstreamError, UpstreamStreamCut
    from tests.unit.engine.fakes import FailAfter

    breaker = {"consecutive_failures": 3, "min_calls": 10**6}
    engine, pa, _pb, _clock = build([FailAfter(2, UpstreamStreamCut("cut"))], sections={"breaker": breaker})
    events: list[str] = []
    for _ in range(3):
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        req = ChatRequest(body=body, model="m", stream=True)
        trace = Trace(
            clock=ManualClock(), trace_id="t", model="m", ingress="openai", stream=True, request_body=None
        )
        handle = await engine.open_stream(req, trace)

        async def drain(h: Any = handle) -> None:
            async for _chunk in h:
                pass

        with pytest.raises(UpstreamError):
            await drain()
        await handle.aclose()
        events += [e.new for e in trace.events if e.type == "breaker"]
    assert engine.state.targets["a/ma"].breaker.state.value == "open"
    assert events == ["open"]  # recorded in the trace of the request whose stream tipped it
    assert len(pa.calls) == 3
