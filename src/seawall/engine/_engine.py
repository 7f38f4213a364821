"""The engine runs one request: admission → route plan → gated attempts (with fallback) → answer.

It owns the one retry layer and every deadline; adapters only do single attempts. Before each
attempt a target must pass its gates (rate-limit block, circuit breaker, adaptive throttle,
concurrency limit) and its clearance (for a retry or hedge at a target already tried: its retry
budget, the retry concurrency cap and the deadline). The engine talks to resilience only through
`ResilienceState` methods. Every attempt that reaches an adapter ends in one frozen
`AttemptOutcome`, handed to every observer (the resilience state, then metrics and any other
registered observer) and to the request's trace; every decision lands in the trace as a typed
event. The streaming commit point lives here: until the first content chunk is in hand an attempt
may fail over; after it, errors go to the client in-band.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from seawall._capture import detached
from seawall._clock import Clock, MonotonicClock
from seawall._types import (
    AttemptInfo,
    AttemptOutcome,
    AttemptTimeouts,
    ChatRequest,
    Chunk,
    Completion,
    Target,
)
from seawall.engine._routing import ModelRoute, Skip, TargetHealth, candidates, exhausted_error, rotation
from seawall.engine._targets import Gate, Resilience, ResilienceState, TargetState
from seawall.errors import (
    DeadlineExceeded,
    ErrorClass,
    ModelNotFound,
    Overloaded,
    RequestError,
    SeawallError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from seawall.providers._base import Provider
from seawall.resilience import Deadline, Permit
from seawall.trace import Trace
from seawall.trace._schema import (
    Admitted,
    AttemptCancelled,
    Backoff,
    BreakerChanged,
    Demoted,
    Gated,
    Hedged,
    HedgeDelay,
    Queued,
    Route,
    Shed,
    SkipCode,
    Skipped,
    StreamFailed,
)

log = logging.getLogger("seawall.engine")

MIN_ATTEMPT_S = 0.05  # never start an attempt with less time than this left

_GATE_REASONS: dict[Gate, str] = {
    "blocked": "rate limited (Retry-After)",
    "breaker": "circuit open",
    "throttled": "rejected locally by the adaptive throttle",
    "saturated": "at its concurrency limit",
}


class AttemptObserver(Protocol):
    """Receives the outcome of every upstream attempt (resilience, metrics, quality...)."""

    def attempt_ended(self, outcome: AttemptOutcome) -> None: ...


@dataclass(slots=True)
class _Run:
    """Book-keeping for one request's attempts."""

    route: ModelRoute
    order: tuple[Target, ...]
    deadline: float
    started: float
    attempts: int = 0
    errors: list[UpstreamError] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    failed_for_good: set[str] = field(default_factory=set)
    tries: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, UpstreamError] = field(default_factory=dict)
    refusals: list[RequestError] = field(default_factory=list)
    out_of_time: bool = False


@dataclass(slots=True)
class _Pick:
    target: Target
    state: TargetState
    provider: Provider
    delay: float
    retry: bool
    hedge: bool = False


class StreamHandle:
    """A committed stream: the chunks held back until commit, then the live remainder.

    A failure after the commit point is raised to the reader, kept in `error`, and recorded in the
    trace. `aclose()` (idempotent) closes the upstream stream, emits the attempt's outcome and
    returns the request's admission permit."""

    __slots__ = ("_on_close", "_rest", "error", "target")

    def __init__(
        self,
        target: Target,
        agen: AsyncGenerator[Chunk, None],
        head: list[Chunk],
        trace: Trace,
        on_close: Callable[[UpstreamError | None], None],
        *,
        deadline: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.target = target
        self.error: UpstreamError | None = None
        self._rest = self._relay(agen, head, trace, deadline, clock)
        self._on_close: Callable[[UpstreamError | None], None] | None = on_close

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._rest

    async def aclose(self) -> None:
        try:
            await self._rest.aclose()
        finally:
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close(self.error)

    async def _relay(
        self,
        agen: AsyncGenerator[Chunk, None],
        head: list[Chunk],
        trace: Trace,
        deadline: float | None,
        clock: Clock | None,
    ) -> AsyncGenerator[Chunk, None]:
        """The chunks held back until commit (`head`), then the live remainder. With a `deadline`
        (the client's x-seawall-timeout-ms), a stream still running then is ended with a timeout
        error, whatever the upstream's pace."""
        try:
            for chunk in head:
                yield chunk
            head.clear()
            while True:
                try:
                    if deadline is None or clock is None:
                        chunk = await anext(agen)
                    else:
                        async with asyncio.timeout(max(0.0, deadline - clock.now())):
                            chunk = await anext(agen)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise UpstreamTimeout(
                        "the request's deadline (x-seawall-timeout-ms) passed mid-stream"
                    ) from None
                yield chunk
        except UpstreamError as exc:
            self.error = exc
            trace.add(StreamFailed(t_ms=trace.ms(), error_class=exc.error_class.value, message=exc.message))
            raise
        finally:
            await agen.aclose()


class Engine:
    """Runs requests against configured routes and providers."""

    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        providers: Mapping[str, Provider],
        *,
        state: Resilience | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        observers: Sequence[AttemptObserver] = (),
    ) -> None:
        self.routes = dict(routes)
        self.providers = dict(providers)
        self.clock = clock or MonotonicClock()
        self.rng = rng or random.Random()
        self.sleep = sleep or asyncio.sleep  # injectable: tests advance a ManualClock instead
        self.state: Resilience = state or ResilienceState.create(self.clock, self.rng)
        self.observers: tuple[AttemptObserver, ...] = tuple(observers)
        """Told of every attempt's outcome after the resilience state (which always is)."""
        self.record_decisions = True
        """Record every gate decision with what it consulted (`gate` events): off when traces are
        not kept, since only a stored trace (and a replay) reads them."""
        self.health: Mapping[str, Mapping[str, TargetHealth]] = {}
        """Per-model, per-target health (model name → target key → health): quality detection
        replaces the whole mapping when a state changes; absent means healthy."""
        self.probe_routes: dict[str, ModelRoute] = {}
        """Routes of canary probes by target key: one target, one attempt (`ChatRequest.probe_target`)."""
        for route in self.routes.values():
            for target, policies in zip(route.targets, route.policies, strict=True):
                self.state.register(target, policies)
        self._keys = {name: tuple(t.key for t in route.targets) for name, route in self.routes.items()}
        self._expiry_task: asyncio.Task[None] | None = None

    # -- request setup -------------------------------------------------------------------------------
    def route_for(self, model: str) -> ModelRoute:
        route = self.routes.get(model)
        if route is None:
            raise ModelNotFound(
                f"The model {model!r} does not exist; configured models: {', '.join(sorted(self.routes))}",
                param="model",
            )
        return route

    def first_choice(self, model: str) -> Target | None:
        """The target a request for `model` would try first as things stand (health applied; in a
        tier of several, the first listed: no weighted draw is made). None: no target is eligible."""
        route = self.routes.get(model) or self.route_for(model)  # route_for raises for an unknown model
        health = self.health.get(route.name) if self.health else None
        if not health:
            return route.targets[0]
        order = candidates(route.targets, health).order
        return order[0] if order else None

    def add_probe_route(self, route: ModelRoute) -> None:
        """A route a canary probe of `route.targets[0]` takes (named by that target's key)."""
        self.probe_routes[route.name] = route
        self._keys[route.name] = tuple(t.key for t in route.targets)
        self.state.register(route.targets[0], route.policies[0])

    def _start(self, request: ChatRequest, trace: Trace) -> _Run:
        probe = request.probe_target
        route = self.route_for(request.model) if probe is None else self.probe_routes[probe]
        budget = route.timeout_s if request.timeout_s is None else min(route.timeout_s, request.timeout_s)
        now = self.clock.now()
        health = self.health.get(route.name) if self.health else None
        if not route.weighted and not health:
            order, keys = route.targets, self._keys[route.name]  # the common case: nothing to draw
            plan = None
        else:
            plan = candidates(route.targets, health or {}, self.rng if route.weighted else None)
            order = plan.order
            keys = tuple(t.key for t in order)
        run = _Run(route=route, order=order, deadline=now + budget, started=now)
        trace.route = Route(
            route.name, keys, round(budget * 10_000.0) / 10.0, route.max_attempts, request.priority.value
        )
        if plan is not None:
            for target, reason in plan.demoted:
                trace.add(Demoted(t_ms=trace.ms(), target=target.key, reason=reason))
            for target, reason in plan.excluded:
                run.failed_for_good.add(target.key)
                self._skip(run, trace, target.key, reason, "health")
        return run

    async def _admit(self, request: ChatRequest, run: _Run, trace: Trace) -> Permit:
        state = self.state
        permit = state.try_admit(request.priority)
        if permit is None:
            trace.add(Queued(t_ms=trace.ms(), priority=request.priority.value, queued=state.queued))
            waited_from = self.clock.now()
            self._ensure_expiry()
            try:
                permit = await state.admit(request.priority, deadline=Deadline(run.deadline, self.clock))
            except Overloaded as exc:
                trace.add(
                    Shed(t_ms=trace.ms(), priority=request.priority.value, retry_after_s=exc.retry_after)
                )
                raise
            trace.add(Admitted(t_ms=trace.ms(), waited_ms=round((self.clock.now() - waited_from) * 1000, 3)))
        return permit

    def _ensure_expiry(self) -> None:
        """Queued requests time out by the clock; wake up to expire them (real time, not `sleep`)."""
        if self._expiry_task is None or self._expiry_task.done():
            # an empty context: the loop outlives this request and must not be captured as its own
            self._expiry_task = asyncio.get_running_loop().create_task(
                self._expire_loop(), context=detached()
            )

    async def _expire_loop(self) -> None:
        state = self.state
        while (due := state.next_queue_expiry()) is not None:
            await asyncio.sleep(max(0.0, due - self.clock.now()) + 0.001)
            state.expire_queue()

    # -- choosing the next attempt -----------------------------------------------------------------------
    @staticmethod
    def _skip(
        run: _Run, trace: Trace, key: str, reason: str, code: SkipCode, *, seconds: float = 0.0
    ) -> None:
        if all(s.target != key for s in run.skipped):
            run.skipped.append(Skip(key, reason, seconds, rate_limited=code == "blocked"))
            trace.add(Skipped(t_ms=trace.ms(), target=key, reason=reason, code=code))

    async def _pick(self, run: _Run, trace: Trace, *, hedge: bool = False) -> _Pick | None:
        """The next attempt to make, after sleeping its backoff; None when no attempt may start."""
        if run.attempts >= run.route.max_attempts:
            return None
        now = self.clock.now()
        remaining = run.deadline - now
        if remaining < MIN_ATTEMPT_S:
            run.out_of_time = True
            return None
        state = self.state
        record = self.record_decisions
        events = trace.events  # `Trace.add`, without a call per decision
        for target in rotation(run.order, run.attempts, run.failed_for_good):
            key = target.key
            st = state.target(key)
            gate = state.gate(st)
            tried = run.tries.get(key, 0)
            if record:
                t_ms = trace.offset_ms(now)  # the decisions of this step are taken at `now`
                breaker, inflight, limit, reject_p, budget = state.consulted(st, retry=bool(tried) or hedge)
            if gate != "ok":
                wait = state.gate_wait(st, gate)
                if record:
                    events.append(
                        Gated(t_ms, key, gate, wait * 1000.0, breaker, inflight, limit, reject_p, budget)
                    )
                self._skip(run, trace, key, _GATE_REASONS[gate], gate, seconds=wait)
                continue
            clearance = state.clearance(
                st,
                tried=tried,
                hedge=hedge,
                fallback=run.attempts > 0,
                remaining_s=remaining,
                last_error=run.last_error.get(key),
            )
            if record:
                # positional, in field order (see `Gated`): once per target considered
                events.append(
                    Gated(
                        t_ms,
                        key,
                        gate,
                        0.0,
                        breaker,
                        inflight,
                        limit,
                        reject_p,
                        budget,
                        clearance.ok,
                        clearance.delay_s * 1000.0,
                        clearance.code,
                        clearance.reason,
                        clearance.out_of_time,
                    )
                )
            if not clearance.ok:  # what the gate took is given back already
                run.out_of_time = run.out_of_time or clearance.out_of_time
                self._skip(run, trace, key, clearance.reason or "refused", cast(SkipCode, clearance.code))
                continue
            run.tries[key] = tried + 1
            run.attempts += 1
            delay = clearance.delay_s
            if delay:
                trace.add(Backoff(t_ms=trace.ms(), target=key, delay_ms=round(delay * 1000, 1)))
                await self.sleep(delay)
            return _Pick(target, st, self.providers[target.provider], delay, bool(tried) or hedge, hedge)
        return None

    def _refused(self, run: _Run, pick: _Pick, refusal: RequestError, trace: Trace) -> None:
        """The adapter cannot express this request for its target: not an attempt, not a health signal."""
        self.state.abandon(pick.state)
        run.attempts -= 1
        run.failed_for_good.add(pick.target.key)
        run.refusals.append(refusal)
        trace.add(
            Skipped(
                t_ms=trace.ms(),
                target=pick.target.key,
                reason=f"cannot serve this request: {refusal.message}",
                code="refused",
            )
        )

    def _failed(self, run: _Run, pick: _Pick, error: UpstreamError) -> None:
        run.errors.append(error)
        run.last_error[pick.target.key] = error
        if not error.error_class.retryable:
            run.failed_for_good.add(pick.target.key)

    def _exhausted(self, run: _Run) -> SeawallError:
        if run.refusals and not run.errors:
            return run.refusals[0]  # every target that could be tried refused the request as sent
        if run.out_of_time and all(e.error_class is not ErrorClass.RATE_LIMITED for e in run.errors):
            ms = round(max(0.0, run.deadline - self.clock.now()) * 1000)
            if run.errors:
                return DeadlineExceeded(
                    f"deadline reached after {len(run.errors)} failed attempt(s) ({ms} ms left, not enough "
                    f"to try again); last: {run.errors[-1].message}"
                )
            return DeadlineExceeded(f"deadline reached before any attempt could start ({ms} ms left)")
        return exhausted_error(run.errors, run.skipped, run.route.name)

    def _timeouts(self, run: _Run) -> AttemptTimeouts:
        remaining = max(0.0, run.deadline - self.clock.now())
        per_try = run.route.attempt_timeout_s
        return AttemptTimeouts(
            total=remaining if per_try is None else min(remaining, per_try),
            first_token=run.route.first_token_timeout_s,
            idle=run.route.idle_timeout_s,
        )

    # -- outcomes ------------------------------------------------------------------------------------
    def _ended(self, outcome: AttemptOutcome, trace: Trace) -> None:
        """One attempt ended: every observer, then the trace, learn its outcome; breaker transitions
        it caused are recorded in this request's trace."""
        state = self.state
        seq = state.transition_seq
        state.attempt_ended(outcome)
        for observer in self.observers:
            try:
                observer.attempt_ended(outcome)
            except Exception:  # an observer's bug must not fail the request
                log.exception("attempt observer %r failed", observer)
        trace.attempt_ended(outcome)
        self._note_transitions(seq, trace)

    def _note_transitions(self, seq: int, trace: Trace) -> None:
        for transition in self.state.transitions_since(seq):
            trace.add(
                BreakerChanged(
                    t_ms=trace.ms(),
                    target=transition.target,
                    old=transition.old.value,
                    new=transition.new.value,
                    reason=transition.reason,
                    attempt=len(trace.attempts) - 1,
                )
            )

    def _outcome(
        self,
        pick: _Pick,
        started: float,
        ended: float,
        info: AttemptInfo,
        error: UpstreamError | None,
        *,
        ttft_s: float | None = None,
        committed: bool = False,
    ) -> AttemptOutcome:
        # positional: a struct built per attempt (keywords cost several times more)
        return AttemptOutcome(
            pick.target,
            pick.provider.dialect,
            started,
            ended,
            info,
            error,
            ttft_s,
            pick.delay,
            committed,
            pick.retry,
            pick.hedge,
        )

    # -- non-streamed ----------------------------------------------------------------------------------
    async def complete(self, request: ChatRequest, trace: Trace) -> tuple[Completion, Target]:
        run = self._start(request, trace)
        permit = await self._admit(request, run, trace)
        try:
            while (pick := await self._pick(run, trace)) is not None:
                result = await self._hedged(run, pick, request, trace)
                if isinstance(result, Completion):
                    return result, self._answered(run, trace, pick)
                if isinstance(result, RequestError):
                    continue
                if not result.error_class.may_fall_back:
                    raise result
            raise self._exhausted(run)
        finally:
            self.state.release(permit)

    @staticmethod
    def _answered(run: _Run, trace: Trace, pick: _Pick) -> Target:
        """The target that answered (a hedge may have won over `pick`)."""
        if trace.answered_by and trace.answered_by != pick.target.key:
            for target in run.order:
                if target.key == trace.answered_by:
                    return target
        return pick.target

    async def _hedged(
        self, run: _Run, pick: _Pick, request: ChatRequest, trace: Trace
    ) -> Completion | UpstreamError | RequestError:
        """One attempt, plus a hedge after the target's p95 latency when the request allows it."""
        delay = None
        if request.hedge_safe:
            delay = self.state.hedge_delay(pick.state)
            trace.add(
                HedgeDelay(
                    t_ms=trace.ms(),
                    target=pick.target.key,
                    delay_ms=None if delay is None else delay * 1000.0,
                )
            )
        if delay is None:
            return await self._attempt(run, pick, request, trace)
        first = asyncio.ensure_future(self._attempt(run, pick, request, trace))
        done, _ = await asyncio.wait({first}, timeout=delay)
        if done:
            return first.result()
        hedge = await self._pick(run, trace, hedge=True)
        if hedge is None:
            return await first
        trace.add(Hedged(t_ms=trace.ms(), target=hedge.target.key, after_ms=round(delay * 1000, 1)))
        tasks = {first, asyncio.ensure_future(self._attempt(run, hedge, request, trace))}
        result: Completion | UpstreamError | RequestError | None = None
        try:
            while tasks:
                finished, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    result = task.result()
                    if isinstance(result, Completion):
                        return result
        finally:
            for task in tasks:
                task.cancel()  # the loser: its attempt is abandoned and recorded as cancelled
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        assert result is not None
        return result

    async def _attempt(
        self, run: _Run, pick: _Pick, request: ChatRequest, trace: Trace
    ) -> Completion | UpstreamError | RequestError:
        info = AttemptInfo()
        started = self.clock.now()
        timeouts = self._timeouts(run)
        error: UpstreamError | None = None
        try:
            try:
                async with asyncio.timeout(timeouts.total):
                    completion = await pick.provider.complete(request, pick.target, timeouts, info)
            except TimeoutError:
                error = UpstreamTimeout(
                    f"{pick.target.key}: no answer within {timeouts.total or 0:.2f}s "
                    "(attempt timeout or deadline)"
                )
            except UpstreamError as exc:
                error = exc
            except RequestError as exc:
                self._refused(run, pick, exc, trace)
                return exc
        except BaseException:
            self.state.abandon(pick.state)  # cancelled: client gone, or a hedge lost
            trace.add(AttemptCancelled(t_ms=trace.ms(), target=pick.target.key))
            raise
        finally:
            if pick.retry:
                self.state.release_retry()
        self._ended(self._outcome(pick, started, self.clock.now(), info, error), trace)
        if error is not None:
            self._failed(run, pick, error)
            return error
        return completion

    # -- streamed ------------------------------------------------------------------------------------
    async def open_stream(self, request: ChatRequest, trace: Trace) -> StreamHandle:
        """Attempt until one target yields its first content chunk (the commit point)."""
        run = self._start(request, trace)
        permit = await self._admit(request, run, trace)
        try:
            while (pick := await self._pick(run, trace)) is not None:
                result = await self._attempt_stream(run, pick, request, trace, permit)
                if isinstance(result, StreamHandle):
                    return result
                if isinstance(result, RequestError):
                    continue
                if not result.error_class.may_fall_back:
                    raise result
            raise self._exhausted(run)
        except BaseException:
            self.state.release(permit)
            raise

    async def _attempt_stream(
        self, run: _Run, pick: _Pick, request: ChatRequest, trace: Trace, permit: Permit
    ) -> StreamHandle | UpstreamError | RequestError:
        info = AttemptInfo()
        started = self.clock.now()
        timeouts = self._timeouts(run)
        agen = cast(AsyncGenerator[Chunk, None], pick.provider.stream(request, pick.target, timeouts, info))
        head: list[Chunk] = []
        limit = timeouts.total or 0.0
        limit_kind = "deadline"
        if timeouts.first_token is not None and timeouts.first_token < limit:
            limit, limit_kind = timeouts.first_token, "first-token timeout"
        error: UpstreamError | None = None
        try:
            try:
                async with asyncio.timeout(limit):
                    async for chunk in agen:
                        head.append(chunk)
                        if chunk.content:
                            break
                    else:
                        raise UpstreamBadResponse("stream ended before any content")
            except TimeoutError:
                error = UpstreamTimeout(
                    f"{pick.target.key}: no first token within the {limit_kind} ({limit:.2f}s)"
                )
            except UpstreamError as exc:
                error = exc
            except RequestError as exc:
                await agen.aclose()
                self._refused(run, pick, exc, trace)
                return exc
        except BaseException:
            await agen.aclose()
            self.state.abandon(pick.state)
            trace.add(AttemptCancelled(t_ms=trace.ms(), target=pick.target.key))
            raise
        finally:
            if pick.retry:
                self.state.release_retry()
        committed_at = self.clock.now()
        ttft = committed_at - started
        if error is not None:
            await agen.aclose()
            self._ended(self._outcome(pick, started, committed_at, info, error), trace)
            self._failed(run, pick, error)
            return error
        self.state.commit(pick.state, ttft_s=ttft)
        trace.committed(pick.target.key)

        def on_close(failure: UpstreamError | None) -> None:
            # the breaker's verdict on a stream comes at its end (cut or stalled: a failure)
            try:
                outcome = self._outcome(
                    pick, started, self.clock.now(), info, failure, ttft_s=ttft, committed=True
                )
                self._ended(outcome, trace)
            finally:
                self.state.release(permit)

        whole = request.stream_timeout_s
        return StreamHandle(
            pick.target,
            agen,
            head,
            trace,
            on_close,
            deadline=None if whole is None else run.started + whole,
            clock=self.clock,
        )


__all__ = ["AttemptObserver", "Engine", "StreamHandle"]
