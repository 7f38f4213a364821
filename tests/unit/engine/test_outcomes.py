"""The attempt-outcome seam: one frozen outcome per attempt end, to every observer and the trace; routing
by health and by weighted tiers (ManualClock, scripted providers, no sleeps)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptOutcome, ChatRequest, Dialect, Target
from seawall.engine import Engine, ModelRoute, TargetHealth
from seawall.errors import UnsupportedFeature, UpstreamStreamCut, UpstreamUnavailable
from seawall.trace import Trace
from seawall.trace._schema import AttemptCancelled, Demoted, Skipped
from tests.unit.engine.fakes import FailAfter, Hang, ScriptedProvider
from tests.unit.engine.test_engine import policies_with

A, B = Target("a", "ma"), Target("b", "mb")


class Seen:
    """An observer that keeps every outcome it is given."""

    def __init__(self) -> None:
        self.outcomes: list[AttemptOutcome] = []

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        self.outcomes.append(outcome)


class Broken:
    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        raise RuntimeError("observer bug")


def build(
    outcomes_a: list[Any],
    outcomes_b: list[Any] | None = None,
    *,
    targets: tuple[Target, ...] = (A, B),
    weighted: bool = False,
    observers: tuple[Any, ...] = (),
) -> tuple[Engine, Seen, ManualClock, list[float]]:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    pa = ScriptedProvider("a", outcomes_a, clock, cost_s=0.25)
    pb = ScriptedProvider("b", outcomes_b or ["from b"], clock, cost_s=0.25)
    route = ModelRoute("m", targets, 60.0, None, 30.0, 30.0, (policies_with(),) * len(targets), weighted)
    seen = Seen()
    engine = Engine(
        {"m": route},
        {"a": pa, "b": pb},
        clock=clock,
        rng=random.Random(3),
        sleep=sleep,
        observers=(*observers, seen),
    )
    return engine, seen, clock, slept


def request(clock: ManualClock, *, stream: bool = False) -> tuple[ChatRequest, Trace]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    trace = Trace(clock=clock, trace_id="t", model="m", ingress="openai", stream=stream, request_body=None)
    return ChatRequest(body=body, model="m", stream=stream), trace


async def test_every_attempt_ends_in_one_outcome_seen_by_observers_and_the_trace() -> None:
    engine, seen, clock, slept = build([UpstreamUnavailable("503"), "from a"], targets=(A,))
    req, trace = request(clock)
    await engine.complete(req, trace)
    first, second = seen.outcomes
    assert (first.target, first.kind, first.ok) == (A, Dialect.OPENAI, False)
    assert first.duration_s == pytest.approx(0.25)  # the scripted provider takes 0.25 s of clock time
    assert (second.ok, second.retry, second.backoff_s) == (True, True, slept[0])
    assert [a.error_class for a in trace.attempts] == ["server_error", None]
    # the resilience state is always told first: it counted both attempts
    assert engine.state.target(A.key).attempts == 2
    with pytest.raises(AttributeError):
        first.committed = True  # type: ignore[misc]


async def test_a_committed_stream_ends_in_one_outcome_when_it_is_closed() -> None:
    engine, seen, clock, _slept = build(["one two three"])
    req, trace = request(clock, stream=True)
    handle = await engine.open_stream(req, trace)
    assert seen.outcomes == [] and trace.attempt_count == 1  # committed, still streaming
    _ = [chunk async for chunk in handle]
    await handle.aclose()
    await handle.aclose()  # idempotent: still one outcome
    (outcome,) = seen.outcomes
    assert (outcome.committed, outcome.ok, outcome.ttft_s) == (True, True, pytest.approx(0.25))
    assert trace.attempts[0].committed and trace.answered_by == A.key


async def test_a_stream_that_breaks_before_and_after_its_commit_point() -> None:
    cut = UpstreamStreamCut("cut")
    engine, seen, clock, _slept = build([UpstreamUnavailable("503")], [FailAfter(2, cut)])
    req, trace = request(clock, stream=True)
    handle = await engine.open_stream(req, trace)
    with pytest.raises(UpstreamStreamCut):
        _ = [chunk async for chunk in handle]
    await handle.aclose()
    before, after = seen.outcomes
    assert (before.target, before.committed, before.error is not None) == (A, False, True)
    assert (after.target, after.committed, after.error) == (B, True, cut)


async def test_cancelled_and_refused_attempts_have_no_outcome() -> None:
    engine, seen, clock, _slept = build([Hang()])
    req, trace = request(clock)
    task = asyncio.ensure_future(engine.complete(req, trace))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen.outcomes == [] and any(isinstance(e, AttemptCancelled) for e in trace.events)

    engine, seen, clock, _slept = build([UnsupportedFeature("thinking", param="thinking")])
    req, trace = request(clock)
    _completion, target = await engine.complete(req, trace)
    assert target == B and [o.target for o in seen.outcomes] == [B]


async def test_an_observer_that_fails_does_not_fail_the_request() -> None:
    engine, seen, clock, _slept = build(["from a"], observers=(Broken(),))
    req, trace = request(clock)
    completion, _target = await engine.complete(req, trace)
    assert completion.body["choices"][0]["message"]["content"] == "from a"
    assert len(seen.outcomes) == 1  # observers after the broken one still hear of it


async def test_health_demotes_and_excludes_with_the_reason_in_the_trace() -> None:
    engine, seen, clock, _slept = build(["from a"], ["from a again"])
    engine.health = {"m": {A.key: TargetHealth("degraded", "canaries failing")}}
    req, trace = request(clock)
    _completion, target = await engine.complete(req, trace)
    assert target == B
    assert trace.route is not None and trace.route.targets == (B.key, A.key)
    assert Demoted(t_ms=0.0, target=A.key, reason="canaries failing") in trace.events

    engine.health = {"m": {A.key: TargetHealth("failing", "wrong answers")}}
    req, trace = request(clock)
    _completion, target = await engine.complete(req, trace)
    assert target == B
    skips = [(e.target, e.code, e.reason) for e in trace.events if isinstance(e, Skipped)]
    assert skips == [(A.key, "health", "wrong answers")]

    # every target failing: kept, last resort, rather than a 503 with healthy-looking providers
    engine.health = {
        "m": {A.key: TargetHealth("failing", "wrong answers"), B.key: TargetHealth("failing", "down")}
    }
    req, trace = request(clock)
    _completion, target = await engine.complete(req, trace)
    assert target == A
    demoted = [(e.target, e.reason) for e in trace.events if isinstance(e, Demoted)]
    assert demoted == [
        (A.key, "wrong answers (kept: no other target left)"),
        (B.key, "down (kept: no other target left)"),
    ]
    assert not [e for e in trace.events if isinstance(e, Skipped)]
    assert seen.outcomes[-1].target == A

    engine.health = {"another model": {A.key: TargetHealth("failing", "elsewhere")}}  # per model
    req, trace = request(clock)
    _completion, target = await engine.complete(req, trace)
    assert target == A


async def test_a_weighted_tier_draws_each_requests_order() -> None:
    east, west = Target("a", "ma", weight=1.0, tier=0), Target("b", "mb", weight=1.0, tier=0)
    engine, _seen, clock, _slept = build(["from a"], ["from b"], targets=(east, west), weighted=True)
    firsts = set()
    for _ in range(40):
        req, trace = request(clock)
        _completion, target = await engine.complete(req, trace)
        assert trace.route is not None and trace.route.targets[0] == target.key  # the trace has the draw
        firsts.add(target)
    assert firsts == {east, west}


async def test_first_choice_applies_health_without_drawing() -> None:
    engine, _seen, _clock, _slept = build(["from a"])
    assert engine.first_choice("m") == A
    engine.health = {"m": {A.key: TargetHealth("failing", "wrong answers")}}
    assert engine.first_choice("m") == B
    engine.health = {"m": {A.key: TargetHealth("degraded", "slow"), B.key: TargetHealth("failing", "down")}}
    assert engine.first_choice("m") == A  # B excluded, A demoted: still A first
