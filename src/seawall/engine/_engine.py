"""The engine runs one request: route plan → attempts (with fallback) → answer or stream.

It owns the one retry layer and every deadline; adapters only do single attempts. Every decision
is written into the request's `Trace`. The streaming commit point lives here: until the first
content chunk is in hand an attempt may fail over; after it, errors go to the client in-band.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from seawall._clock import Clock, MonotonicClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Target
from seawall.engine._routing import ModelRoute, Skip, exhausted_error, next_target
from seawall.errors import (
    DeadlineExceeded,
    ErrorClass,
    ModelNotFound,
    SeawallError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from seawall.providers._base import Provider
from seawall.trace import Trace

MIN_ATTEMPT_S = 0.05  # never start an attempt with less time than this left


@dataclass(slots=True)
class TargetHealth:
    """Per-target mutable state the engine consults before an attempt."""

    blocked_until: float = 0.0
    block_reason: str = ""
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0


@dataclass(slots=True)
class _Run:
    """Book-keeping for one request's attempts."""

    route: ModelRoute
    deadline: float
    errors: list[UpstreamError] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    failed_for_good: set[str] = field(default_factory=set)
    tries: dict[str, int] = field(default_factory=dict)


class StreamHandle:
    """A committed stream: the chunks held back until commit, then the live remainder."""

    def __init__(
        self, engine: Engine, target: Target, head: list[Chunk], rest: AsyncIterator[Chunk], trace: Trace
    ) -> None:
        self.target = target
        self._engine = engine
        self._head = head
        self._rest = rest
        self._trace = trace
        self.usage: dict[str, object] | None = None

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        for chunk in self._head:
            yield chunk
        self._head = []
        async for chunk in self._rest:
            yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._rest, "aclose", None)
        if aclose is not None:
            await aclose()


class Engine:
    """Runs requests against configured routes and providers."""

    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        providers: Mapping[str, Provider],
        *,
        retry: RetrySettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.providers = dict(providers)
        self.retry = retry or RetrySettings()
        self.clock = clock or MonotonicClock()
        self.rng = rng or random.Random()
        self.sleep = sleep or asyncio.sleep  # injectable: tests advance a ManualClock instead
        self.health: dict[str, TargetHealth] = {}

    # -- helpers ------------------------------------------------------------------------------
    def route_for(self, model: str) -> ModelRoute:
        route = self.routes.get(model)
        if route is None:
            raise ModelNotFound(
                f"The model {model!r} does not exist; configured models: {', '.join(sorted(self.routes))}",
                param="model",
            )
        return route

    def _health(self, target: Target) -> TargetHealth:
        h = self.health.get(target.key)
        if h is None:
            h = self.health[target.key] = TargetHealth()
        return h

    def _start(self, request: ChatRequest, trace: Trace) -> _Run:
        route = self.route_for(request.model)
        budget = route.timeout_s if request.timeout_s is None else min(route.timeout_s, request.timeout_s)
        run = _Run(route=route, deadline=self.clock.now() + budget)
        trace.route = {
            "model": route.name,
            "targets": [t.key for t in route.targets],
            "deadline_ms": round(budget * 1000, 1),
            "max_attempts": route.max_attempts,
        }
        return run

    async def _next(self, run: _Run, attempt: int, trace: Trace) -> tuple[Target, float] | None:
        """Pick the next target and wait out its backoff. None when no attempt may start."""
        now = self.clock.now()

        def eligible(target: Target) -> bool:
            h = self._health(target)
            if h.blocked_until > now:
                if all(skip.target != target.key for skip in run.skipped):
                    run.skipped.append(
                        Skip(target.key, h.block_reason, h.blocked_until - now, rate_limited=h.rate_limited)
                    )
                return False
            return True

        target = next_target(run.route.targets, attempt, eligible, run.failed_for_good)
        if target is None:
            return None
        delay = 0.0
        tried = run.tries.get(target.key, 0)
        if tried:
            cap = min(self.retry.backoff_cap_s, self.retry.backoff_base_s * 2 ** (tried - 1))
            delay = self.rng.uniform(0, cap)  # full jitter
        remaining = run.deadline - self.clock.now()
        if remaining - delay < MIN_ATTEMPT_S:
            trace.event("deadline_stop", target=target.key, remaining_ms=round(remaining * 1000, 1))
            raise _DeadlineStop
        if delay:
            trace.event("backoff", target=target.key, delay_ms=round(delay * 1000, 1))
            await self.sleep(delay)
        run.tries[target.key] = tried + 1
        return target, delay

    def _failed(self, run: _Run, target: Target, error: UpstreamError, trace: Trace) -> None:
        run.errors.append(error)
        cls = error.error_class
        if cls == ErrorClass.RATE_LIMITED:
            h = self._health(target)
            wait = error.retry_after_s if error.retry_after_s is not None else 1.0
            h.blocked_until = self.clock.now() + wait
            h.block_reason = "rate limited (Retry-After)"
            h.rate_limited = True
            trace.event("target_blocked", target=target.key, seconds=wait, reason="rate_limited")
        if not cls.retryable:
            run.failed_for_good.add(target.key)

    def _deadline_error(self, run: _Run) -> SeawallError:
        ms = round((run.deadline - self.clock.now()) * 1000)
        if run.errors:
            err = exhausted_error(run.errors, run.skipped, run.route.name)
            return (
                DeadlineExceeded(
                    f"deadline reached after {len(run.errors)} failed attempt(s) ({ms} ms left, not enough "
                    f"to try again); last: {run.errors[-1].message}"
                )
                if err.status != 429
                else err
            )
        return DeadlineExceeded(f"deadline reached before any attempt could start ({ms} ms left)")

    def _timeouts(self, run: _Run) -> AttemptTimeouts:
        remaining = max(0.0, run.deadline - self.clock.now())
        per_try = run.route.attempt_timeout_s
        return AttemptTimeouts(
            total=remaining if per_try is None else min(remaining, per_try),
            first_token=run.route.first_token_timeout_s,
            idle=run.route.idle_timeout_s,
        )

    # -- non-streamed ----------------------------------------------------------------------------
    async def complete(self, request: ChatRequest, trace: Trace) -> tuple[Completion, Target]:
        run = self._start(request, trace)
        for attempt in range(run.route.max_attempts):
            try:
                picked = await self._next(run, attempt, trace)
            except _DeadlineStop:
                raise self._deadline_error(run) from None
            if picked is None:
                break
            target, delay = picked
            provider = self.providers[target.provider]
            info = AttemptInfo()
            started = trace.elapsed_ms()
            timeouts = self._timeouts(run)
            try:
                async with asyncio.timeout(timeouts.total):
                    completion = await provider.complete(request, target, timeouts, info)
            except TimeoutError:
                error: UpstreamError = UpstreamTimeout(
                    f"{target.key}: no answer within {timeouts.total or 0:.2f}s (attempt timeout or deadline)"
                )
            except UpstreamError as exc:
                error = exc
            else:
                trace.add_attempt(
                    target=target,
                    kind=_kind(provider),
                    started_ms=started,
                    info=info,
                    error=None,
                    backoff_ms=delay * 1000,
                )
                trace.answered_by = target.key
                return completion, target
            trace.add_attempt(
                target=target,
                kind=_kind(provider),
                started_ms=started,
                info=info,
                error=error,
                backoff_ms=delay * 1000,
            )
            if not error.error_class.may_fall_back:
                raise error
            self._failed(run, target, error, trace)
        raise exhausted_error(run.errors, run.skipped, run.route.name)

    # -- streamed ------------------------------------------------------------------------------
    async def open_stream(self, request: ChatRequest, trace: Trace) -> StreamHandle:
        """Attempt until one target yields its first content chunk (the commit point)."""
        run = self._start(request, trace)
        for attempt in range(run.route.max_attempts):
            try:
                picked = await self._next(run, attempt, trace)
            except _DeadlineStop:
                raise self._deadline_error(run) from None
            if picked is None:
                break
            target, delay = picked
            provider = self.providers[target.provider]
            info = AttemptInfo()
            started = trace.elapsed_ms()
            timeouts = self._timeouts(run)
            agen = cast(AsyncGenerator[Chunk, None], provider.stream(request, target, timeouts, info))
            head: list[Chunk] = []
            limit = timeouts.total or 0.0
            ttft_kind = "deadline"
            if timeouts.first_token is not None and timeouts.first_token < limit:
                limit, ttft_kind = timeouts.first_token, "first-token timeout"
            try:
                async with asyncio.timeout(limit):
                    async for chunk in agen:
                        head.append(chunk)
                        if chunk.content:
                            break
                    else:
                        raise UpstreamBadResponse("stream ended before any content")
            except TimeoutError:
                error: UpstreamError = UpstreamTimeout(
                    f"{target.key}: no first token within the {ttft_kind} ({limit:.2f}s)"
                )
            except UpstreamError as exc:
                error = exc
            else:
                ttft = trace.elapsed_ms() - started
                trace.committed_ms = round(trace.elapsed_ms(), 3)
                trace.answered_by = target.key
                record = trace.add_attempt(
                    target=target,
                    kind=_kind(provider),
                    started_ms=started,
                    info=info,
                    error=None,
                    ttft_ms=ttft,
                    backoff_ms=delay * 1000,
                    committed=True,
                )
                return StreamHandle(self, target, head, _relay(agen, info, record, trace), trace)
            await agen.aclose()
            trace.add_attempt(
                target=target,
                kind=_kind(provider),
                started_ms=started,
                info=info,
                error=error,
                backoff_ms=delay * 1000,
            )
            if not error.error_class.may_fall_back:
                raise error
            self._failed(run, target, error, trace)
        raise exhausted_error(run.errors, run.skipped, run.route.name)


async def _relay(
    agen: AsyncGenerator[Chunk, None], info: AttemptInfo, record: dict[str, object], trace: Trace
) -> AsyncGenerator[Chunk, None]:
    """The post-commit remainder of a stream; a failure here is recorded on the committed attempt."""
    try:
        async for chunk in agen:
            yield chunk
    except UpstreamError as exc:
        record["error_class"] = exc.error_class.value
        record["error"] = exc.message
        trace.event("stream_failed_after_commit", error_class=exc.error_class.value, message=exc.message)
        raise
    finally:
        record["usage"] = info.usage
        record["latency_ms"] = round(trace.elapsed_ms() - float(record["started_ms"]), 3)  # type: ignore[arg-type]
        await agen.aclose()


class _DeadlineStop(Exception):
    """Internal: the next attempt could not finish before the deadline."""


def _kind(provider: Provider) -> str:
    return provider.dialect.value
