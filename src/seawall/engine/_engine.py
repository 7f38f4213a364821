"""The engine runs one request: admission → route plan → gated attempts (with fallback) → answer.

It owns the one retry layer and every deadline; adapters only do single attempts. Before each
attempt a target must pass its gates (rate-limit block, circuit breaker, adaptive throttle,
concurrency limit) and, for a retry at a target already tried, its retry budget, the retry
concurrency cap and the deadline. Every outcome feeds all policies through `ResilienceState.settle`,
and every decision lands in the request's `Trace`. The streaming commit point lives here: until the
first content chunk is in hand an attempt may fail over; after it, errors go to the client in-band.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from seawall._clock import Clock, MonotonicClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Target
from seawall.engine._routing import ModelRoute, Skip, candidates, exhausted_error
from seawall.engine._targets import Gate, ResilienceState, TargetState
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

MIN_ATTEMPT_S = 0.05  # never start an attempt with less time than this left

_GATE_REASONS: dict[Gate, str] = {
    "blocked": "rate limited (Retry-After)",
    "breaker": "circuit open",
    "throttled": "rejected locally by the adaptive throttle",
    "saturated": "at its concurrency limit",
}


@dataclass(slots=True)
class _Run:
    """Book-keeping for one request's attempts."""

    route: ModelRoute
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


class StreamHandle:
    """A committed stream: the chunks held back until commit, then the live remainder.

    `aclose()` (idempotent) closes the upstream stream and returns the target's concurrency slot
    and the request's admission permit."""

    def __init__(
        self,
        target: Target,
        chunks: AsyncGenerator[Chunk, None],
        on_close: Callable[[], None],
    ) -> None:
        self.target = target
        self._rest = chunks
        self._on_close: Callable[[], None] | None = on_close

    def __aiter__(self) -> AsyncIterator[Chunk]:
        # the generator yields the chunks held back until commit first, then the live remainder
        return self._rest

    async def aclose(self) -> None:
        try:
            await self._rest.aclose()
        finally:
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close()


class Engine:
    """Runs requests against configured routes and providers."""

    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        providers: Mapping[str, Provider],
        *,
        state: ResilienceState | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.providers = dict(providers)
        self.clock = clock or MonotonicClock()
        self.rng = rng or random.Random()
        self.sleep = sleep or asyncio.sleep  # injectable: tests advance a ManualClock instead
        self.state = state or ResilienceState.create(self.clock, self.rng)
        for route in self.routes.values():
            for target, policies in zip(route.targets, route.policies, strict=True):
                self.state.register(target, policies)
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

    def _start(self, request: ChatRequest, trace: Trace) -> _Run:
        route = self.route_for(request.model)
        budget = route.timeout_s if request.timeout_s is None else min(route.timeout_s, request.timeout_s)
        now = self.clock.now()
        run = _Run(route=route, deadline=now + budget, started=now)
        trace.route = {
            "model": route.name,
            "targets": [t.key for t in route.targets],
            "deadline_ms": round(budget * 1000, 1),
            "max_attempts": route.max_attempts,
            "priority": request.priority.value,
        }
        return run

    async def _admit(self, request: ChatRequest, run: _Run, trace: Trace) -> Permit:
        admission = self.state.admission
        permit = admission.try_admit(request.priority)
        if permit is None:
            trace.event("queued", priority=request.priority.value, queued=admission.queued)
            waited_from = self.clock.now()
            self._ensure_expiry()
            try:
                permit = await admission.admit(request.priority, deadline=Deadline(run.deadline, self.clock))
            except Overloaded as exc:
                trace.event("shed", priority=request.priority.value, retry_after_s=exc.retry_after)
                raise
            trace.event("admitted", waited_ms=round((self.clock.now() - waited_from) * 1000, 3))
        self.state.active_requests += 1
        return permit

    def _release(self, permit: Permit) -> None:
        self.state.active_requests -= 1
        self.state.admission.release(permit)

    def _ensure_expiry(self) -> None:
        """Queued requests time out by the clock; wake up to expire them (real time, not `sleep`)."""
        if self._expiry_task is None or self._expiry_task.done():
            self._expiry_task = asyncio.get_running_loop().create_task(self._expire_loop())

    async def _expire_loop(self) -> None:
        admission = self.state.admission
        while (due := admission.next_expiry()) is not None:
            await asyncio.sleep(max(0.0, due - self.clock.now()) + 0.001)
            admission.expire()

    # -- choosing the next attempt -----------------------------------------------------------------------
    def _skip(self, run: _Run, trace: Trace, st: TargetState, reason: str, seconds: float = 0.0) -> None:
        if all(s.target != st.target.key for s in run.skipped):
            run.skipped.append(
                Skip(st.target.key, reason, seconds, rate_limited=reason.startswith("rate limited"))
            )
            trace.event("skip", target=st.target.key, reason=reason)

    async def _pick(self, run: _Run, trace: Trace, *, hedge: bool = False) -> _Pick | None:
        """The next attempt to make, after sleeping its backoff; None when no attempt may start."""
        if run.attempts >= run.route.max_attempts:
            return None
        now = self.clock.now()
        remaining = run.deadline - now
        if remaining < MIN_ATTEMPT_S:
            run.out_of_time = True
            return None
        for target in candidates(run.route.targets, run.attempts, run.failed_for_good):
            st = self.state.targets[target.key]
            gate = self.state.gate(st)
            if gate != "ok":
                wait = 0.0
                if gate == "blocked":
                    wait = st.blocked_until - now
                elif gate == "breaker" and st.breaker.open_until is not None:
                    wait = max(0.0, st.breaker.open_until - now)
                self._skip(run, trace, st, _GATE_REASONS[gate], wait)
                continue
            tried = run.tries.get(target.key, 0)
            delay = 0.0
            if tried or hedge:
                refusal, delay = self._retry_allowance(run, st, tried, remaining, hedge=hedge)
                if refusal is not None:
                    self.state.abandon(st)
                    self._skip(run, trace, st, refusal)
                    continue
            elif (
                run.attempts
                and (start_s := st.observed_start_s()) is not None
                and not st.policies.retry.fits(remaining, 0.0, start_s)
            ):
                # a fallback that cannot get going before the deadline only adds load (judged on what
                # the target has shown; a cold fallback only needs MIN_ATTEMPT_S, checked above)
                self.state.abandon(st)
                run.out_of_time = True
                self._skip(run, trace, st, "no time left before the deadline")
                continue
            else:
                st.budget.deposit()
            run.tries[target.key] = tried + 1
            run.attempts += 1
            if delay:
                trace.event("backoff", target=target.key, delay_ms=round(delay * 1000, 1))
                await self.sleep(delay)
            if hedge:
                st.hedges += 1
            return _Pick(target, st, self.providers[target.provider], delay, retry=bool(tried) or hedge)
        return None

    def _retry_allowance(
        self, run: _Run, st: TargetState, tried: int, remaining: float, *, hedge: bool
    ) -> tuple[str | None, float]:
        """(refusal reason or None, delay) for another attempt at a target this request already used."""
        retry = st.policies.retry
        delay = 0.0
        cost = 1.0
        if not hedge:
            last = run.last_error[st.target.key]
            maybe = retry.delay_for(
                tried - 1, error_class=last.error_class, retry_after_s=last.retry_after_s, rng=self.rng
            )
            if maybe is None:
                return f"Retry-After beyond {retry.max_retry_after_s:g}s", 0.0
            delay = maybe
            cost = st.budget.policy.cost_for(last.error_class)
        if not retry.fits(remaining, delay, st.min_attempt_s()):
            run.out_of_time = True
            return "no time left before the deadline", 0.0
        if not self.state.retry_cap.try_acquire(self.state.active_requests):
            return "too many concurrent retries", 0.0
        if not st.budget.try_withdraw(cost):
            self.state.retry_cap.release()
            st.budget_refusals += 1
            return "retry budget exhausted", 0.0
        return None, delay

    def _refused(self, run: _Run, pick: _Pick, refusal: RequestError, trace: Trace) -> None:
        """The adapter cannot express this request for its target: not an attempt, not a health signal."""
        self.state.abandon(pick.state)
        run.attempts -= 1
        run.failed_for_good.add(pick.target.key)
        run.refusals.append(refusal)
        trace.event("skip", target=pick.target.key, reason=f"cannot serve this request: {refusal.message}")

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

    def _settle(
        self,
        pick: _Pick,
        error: UpstreamError | None,
        trace: Trace,
        *,
        duration_s: float,
        ttft_s: float | None = None,
        hold_slot: bool = False,
    ) -> None:
        seq = self.state.transition_seq
        self.state.settle(pick.state, error, duration_s=duration_s, ttft_s=ttft_s, hold_slot=hold_slot)
        self._note_transitions(seq, trace)

    def _note_transitions(self, seq: int, trace: Trace) -> None:
        for transition in self.state.transitions_since(seq):
            trace.event(
                "breaker",
                target=transition.target,
                old=transition.old.value,
                new=transition.new.value,
                reason=transition.reason,
            )

    # -- non-streamed ----------------------------------------------------------------------------------
    async def complete(self, request: ChatRequest, trace: Trace) -> tuple[Completion, Target]:
        run = self._start(request, trace)
        permit = await self._admit(request, run, trace)
        try:
            while (pick := await self._pick(run, trace)) is not None:
                result = await self._hedged(run, pick, request, trace)
                if isinstance(result, Completion):
                    return result, trace_target(trace, pick)
                if isinstance(result, RequestError):
                    continue
                if not result.error_class.may_fall_back:
                    raise result
            raise self._exhausted(run)
        finally:
            self._release(permit)

    async def _hedged(
        self, run: _Run, pick: _Pick, request: ChatRequest, trace: Trace
    ) -> Completion | UpstreamError | RequestError:
        """One attempt, plus a hedge after the target's p95 latency when the request allows it."""
        delay = (
            pick.state.policies.hedging.hedge_delay(pick.state.stats.duration) if request.hedge_safe else None
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
        trace.event("hedge", target=hedge.target.key, after_ms=round(delay * 1000, 1))
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
        started_ms = trace.elapsed_ms()
        t0 = self.clock.now()
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
            trace.event("attempt_cancelled", target=pick.target.key)
            raise
        finally:
            if pick.retry:
                self.state.retry_cap.release()
        duration = self.clock.now() - t0
        self._settle(pick, error, trace, duration_s=duration)
        trace.add_attempt(
            target=pick.target,
            kind=pick.provider.dialect.value,
            started_ms=started_ms,
            info=info,
            error=error,
            backoff_ms=pick.delay * 1000,
        )
        if error is not None:
            self._failed(run, pick, error)
            return error
        trace.answered_by = pick.target.key
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
            self._release(permit)
            raise

    async def _attempt_stream(
        self, run: _Run, pick: _Pick, request: ChatRequest, trace: Trace, permit: Permit
    ) -> StreamHandle | UpstreamError | RequestError:
        info = AttemptInfo()
        started_ms = trace.elapsed_ms()
        t0 = self.clock.now()
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
            trace.event("attempt_cancelled", target=pick.target.key)
            raise
        finally:
            if pick.retry:
                self.state.retry_cap.release()
        ttft = self.clock.now() - t0
        if error is not None:
            await agen.aclose()
            self._settle(pick, error, trace, duration_s=ttft)
            trace.add_attempt(
                target=pick.target,
                kind=pick.provider.dialect.value,
                started_ms=started_ms,
                info=info,
                error=error,
                backoff_ms=pick.delay * 1000,
            )
            self._failed(run, pick, error)
            return error
        self._settle(pick, None, trace, duration_s=ttft, ttft_s=ttft, hold_slot=True)
        trace.committed_ms = round(trace.elapsed_ms(), 3)
        trace.answered_by = pick.target.key
        record = trace.add_attempt(
            target=pick.target,
            kind=pick.provider.dialect.value,
            started_ms=started_ms,
            info=info,
            error=None,
            ttft_ms=ttft * 1000,
            backoff_ms=pick.delay * 1000,
            committed=True,
        )
        outcome: list[UpstreamError] = []

        def on_close() -> None:
            failure = outcome[0] if outcome else None
            seq = self.state.transition_seq
            self.state.release_stream(
                pick.state, duration_s=self.clock.now() - t0, ttft_s=ttft, error=failure
            )
            self._note_transitions(seq, trace)  # the breaker's verdict on a stream comes at its end
            self._release(permit)

        whole = request.stream_timeout_s
        body_deadline = None if whole is None else run.started + whole
        relay = _relay(
            agen,
            head,
            info=info,
            record=record,
            trace=trace,
            outcome=outcome,
            deadline=body_deadline,
            clock=self.clock,
        )
        return StreamHandle(pick.target, relay, on_close)


def trace_target(trace: Trace, pick: _Pick) -> Target:
    """The target that answered (a hedge may have won over `pick`)."""
    if trace.answered_by and trace.answered_by != pick.target.key:
        provider, _, model = trace.answered_by.partition("/")
        return Target(provider, model)
    return pick.target


async def _relay(
    agen: AsyncGenerator[Chunk, None],
    head: list[Chunk],
    *,
    info: AttemptInfo,
    record: dict[str, object],
    trace: Trace,
    outcome: list[UpstreamError],
    deadline: float | None = None,
    clock: Clock | None = None,
) -> AsyncGenerator[Chunk, None]:
    """A committed stream: the chunks held back until commit (`head`), then the live remainder; a
    failure is recorded on the committed attempt. With a `deadline` (the client's
    x-seawall-timeout-ms), a stream still running then is ended with a timeout error, whatever the
    upstream's pace."""
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
        outcome.append(exc)
        record["error_class"] = exc.error_class.value
        record["error"] = exc.message
        trace.event("stream_failed_after_commit", error_class=exc.error_class.value, message=exc.message)
        raise
    finally:
        record["usage"] = info.usage
        record["latency_ms"] = round(trace.elapsed_ms() - float(record["started_ms"]), 3)  # type: ignore[arg-type]
        await agen.aclose()
