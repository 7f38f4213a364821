"""A live re-run: send a recorded request again, now, to one target, and compare the answers.

`rerun_live(record, config)` answers "did the provider change?" for one trace:

1. **The target**: the one that answered (`record.answered_by`; for a failed request the last
   attempt's), or the one named by `target="provider/model"`, whose provider must be in `config`.
2. **The request**: rebuilt from the client's exact body (`record.request.body`) by the recorded
   ingress dialect's own parser, with the recorded client headers, exactly as the gateway parsed it
   then; the adapter swaps in the target's model as it did then.
3. **One attempt**: the target's adapter is built from the config (`build_provider`) and sends the
   request once, streamed if the recording streamed. No engine: no retry, no fallback, no hedge, no
   breaker. It measures one target. Latency runs from the call to the answer's end, time to first
   token (streams) from the call to the first content chunk, both on `clock`, as the engine times
   an attempt. The model's configured timeouts apply (attempt, first token, idle).
4. **The comparison**: the recorded answer (`recorded_answer`: the answering attempt's upstream
   bytes) and the live attempt's upstream bytes are both reduced to `Answer`s and diffed.

An upstream failure is a result, not an exception: the live answer then carries the error, and the
diff shows the recorded answer beside it. What prevents the call from being made at all raises
`ReplayError` with a message for a person: no target to re-run, a target not in the config, a
recorded body that no longer parses, a target that cannot express the request.

A `kind: simulated` provider is started for the call, as the gateway starts it, unless
`transport_for` gives its transport (as `Gateway(transports=...)` does: e.g. a `MockTransport`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from seawall._clock import Clock, MonotonicClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Target
from seawall.config import GatewayConfig, ModelConfig, ProviderConfig
from seawall.errors import ConfigError, RequestError, UpstreamError, UpstreamTimeout
from seawall.ingress import ANTHROPIC, OPENAI
from seawall.providers import Transport, build_provider
from seawall.providers._base import Provider
from seawall.replay._answer import Answer, answer_from_attempt, answering_attempt, recorded_answer
from seawall.replay._diff import AnswerDiff, diff_answers
from seawall.trace import body_text
from seawall.trace._schema import Attempt, TraceRecord

TransportFor = Callable[[ProviderConfig], Transport | None]
"""Gives a provider its transport (`None`: its own HTTP client), as `Gateway(transports=...)`."""

#: A model's timeouts when the recorded model is no longer configured (`ModelConfig`'s defaults).
_DEFAULTS = ModelConfig.model_construct(name="", targets=[])


class ReplayError(Exception):
    """The live call could not be made; `str(exc)` says why, for a person to read."""


@dataclass(frozen=True, slots=True)
class LiveResult:
    """One live re-run: where it went, both answers, their diff, and the live attempt itself
    (`info` as the adapter filled it; `attempt` the same in a trace's shape)."""

    trace_id: str
    target: Target
    recorded_target: str | None
    """The `provider/model` whose recorded answer is compared (`None`: no attempt was recorded)."""
    stream: bool
    recorded: Answer
    live: Answer
    diff: AnswerDiff
    info: AttemptInfo
    attempt: Attempt
    error: UpstreamError | None
    """The live attempt's failure, if it failed (also in `live.error`)."""


async def rerun_live(
    record: TraceRecord,
    config: GatewayConfig,
    *,
    target: str | None = None,
    transport_for: TransportFor | None = None,
    clock: Clock | None = None,
) -> LiveResult:
    """Re-send `record`'s request now to one target and diff the answers (see the module
    docstring). Raises `ReplayError` when the call cannot be made."""
    clock = clock if clock is not None else MonotonicClock()
    provider_config, chosen = choose_target(record, config.providers, target)
    request = rebuild_request(record)
    timeouts = model_timeouts(config, record.model)
    provider, stop = await _open(provider_config, transport_for, clock)
    try:
        info, error, started, ttft, ended = await _attempt(provider, request, chosen, timeouts, clock)
    finally:
        await provider.aclose()
        await stop()
    attempt = live_attempt(
        chosen,
        kind=provider.dialect.value,
        info=info,
        error=error,
        started=started,
        ttft_s=ttft,
        ended=ended,
    )
    recorded = recorded_answer(record)
    live = answer_from_attempt(attempt, stream=request.stream)
    answering = answering_attempt(record)
    return LiveResult(
        trace_id=record.id,
        target=chosen,
        recorded_target=None if answering is None else f"{answering.provider}/{answering.model}",
        stream=request.stream,
        recorded=recorded,
        live=live,
        diff=diff_answers(recorded, live),
        info=info,
        attempt=attempt,
        error=error,
    )


# -- the pieces, each usable alone ------------------------------------------------------------------
def choose_target(
    record: TraceRecord, providers: Sequence[ProviderConfig], override: str | None = None
) -> tuple[ProviderConfig, Target]:
    """The provider config and target a re-run goes to: `override` (`provider/model`), else the
    target that answered (its attempt, or `answered_by`), else the last one attempted."""
    by_name = {pc.name: pc for pc in providers}
    if override is not None:
        target = _split(override, by_name)
        if target is None:
            raise ReplayError(
                f"target {override!r} is not in the config: expected PROVIDER/MODEL with PROVIDER one of "
                + ", ".join(sorted(by_name))
            )
        return by_name[target.provider], target
    attempt = answering_attempt(record)
    if attempt is None and record.answered_by is not None:
        target = _split(record.answered_by, by_name)
        if target is not None:
            return by_name[target.provider], target
    if attempt is None:
        raise ReplayError(
            f"trace {record.id} has no attempt to re-run (status {record.status}: no target was tried); "
            "name one with --target PROVIDER/MODEL"
        )
    pc = by_name.get(attempt.provider)
    if pc is None:
        raise ReplayError(
            f"trace {record.id} was answered by {attempt.provider}/{attempt.model}, but provider "
            f"{attempt.provider!r} is not in the config; name a target with --target PROVIDER/MODEL"
        )
    return pc, Target(attempt.provider, attempt.model)


def _split(key: str, by_name: Mapping[str, ProviderConfig]) -> Target | None:
    """`provider/model` → a `Target` of a configured provider. Provider and model names may both
    hold '/': the longest configured provider name that prefixes `key` wins."""
    names = sorted((name for name in by_name if key.startswith(name + "/")), key=len, reverse=True)
    if not names or len(key) == len(names[0]) + 1:
        return None
    return Target(names[0], key[len(names[0]) + 1 :])


def rebuild_request(record: TraceRecord) -> ChatRequest:
    """The recorded request as the gateway parsed it: the client's body, by its ingress dialect's
    parser, with the client headers the trace kept (deadlines, priority, `anthropic-beta`)."""
    body = record.request.body
    if not isinstance(body, str):
        raise ReplayError(f"trace {record.id} kept no request body to re-send")
    dialect = ANTHROPIC if record.ingress == ANTHROPIC.name.value else OPENAI
    try:
        return dialect.parse(body.encode("utf-8", "surrogatepass"), record.request.headers)
    except RequestError as exc:
        raise ReplayError(f"the request of trace {record.id} does not parse: {exc.message}") from None


def model_timeouts(config: GatewayConfig, model: str) -> AttemptTimeouts:
    """One attempt's limits for `model` as configured (its defaults when it is not configured)."""
    mc = next((m for m in config.models if m.name == model), _DEFAULTS)
    return AttemptTimeouts(
        total=mc.attempt_timeout_s or mc.timeout_s,
        first_token=mc.first_token_timeout_s,
        idle=mc.idle_timeout_s,
    )


def live_attempt(
    target: Target,
    *,
    kind: str,
    info: AttemptInfo,
    error: UpstreamError | None,
    started: float,
    ttft_s: float | None,
    ended: float,
) -> Attempt:
    """The live attempt as a trace records one (offsets from its start), so a live answer is read
    by the same `answer_from_attempt` as a recorded one."""

    def ms(at: float) -> float:
        return round((at - started) * 1000.0, 3)

    upstream = b"".join(piece for _at, piece in info.reads) if info.reads else info.response_body
    return Attempt(
        index=0,
        provider=target.provider,
        model=target.model,
        kind=kind,
        url=info.url,
        started_ms=0.0,
        latency_ms=ms(ended),
        ttft_ms=None if ttft_s is None else round(ttft_s * 1000.0, 3),
        status=info.status,
        error_class=None if error is None else error.error_class.value,
        error=None if error is None else error.message,
        retry_after_s=None if error is None else error.retry_after,
        usage=info.usage,
        response_model=info.response_model,
        system_fingerprint=info.system_fingerprint,
        ratelimit=info.ratelimit or None,
        committed=ttft_s is not None,
        head_ms=None if info.head_at is None else ms(info.head_at),
        request_body=body_text(info.request_body) if info.request_body else None,
        response_body=body_text(upstream),
        reads=tuple((ms(at), len(piece)) for at, piece in info.reads) if info.reads else None,
    )


# -- I/O ---------------------------------------------------------------------------------------------
async def _no_simulator() -> None:
    return None


async def _open(
    pc: ProviderConfig, transport_for: TransportFor | None, clock: Clock
) -> tuple[Provider, Callable[[], Awaitable[None]]]:
    """The target's adapter, and what stops the simulator started for it (if one was)."""
    transport = transport_for(pc) if transport_for is not None else None
    try:
        if transport is not None:
            root = "http://simulated.invalid" if pc.kind == "simulated" else None
            return build_provider(pc, base_url=root, transport=transport, clock=clock), _no_simulator
        if pc.kind != "simulated":
            return build_provider(pc, clock=clock), _no_simulator
        from seawall.simulate import Simulator, settings_from_mapping

        try:
            settings = settings_from_mapping(dict(pc.simulate))
        except ValueError as exc:
            raise ConfigError(f"providers[{pc.name}].simulate: {exc}") from None
        sim = Simulator(settings)
        await sim.start("127.0.0.1", 0)
        return build_provider(pc, base_url=sim.url, clock=clock), sim.stop
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None


async def _attempt(
    provider: Provider, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, clock: Clock
) -> tuple[AttemptInfo, UpstreamError | None, float, float | None, float]:
    """One attempt: (what the adapter recorded, its failure, start, time to first content, end)."""
    info = AttemptInfo()
    ttft: float | None = None
    error: UpstreamError | None = None
    started = clock.now()
    try:
        if request.stream:
            ttft = await _stream(provider, request, target, timeouts, info, clock=clock, started=started)
        else:
            async with asyncio.timeout(timeouts.total):
                await provider.complete(request, target, timeouts, info)
    except TimeoutError:
        limit = "first token" if request.stream else "answer"
        error = UpstreamTimeout(f"{target.key}: no {limit} within the model's timeout")
    except UpstreamError as exc:
        error = exc
    except RequestError as exc:
        raise ReplayError(f"{target.key} cannot serve this request: {exc.message}") from None
    return info, error, started, ttft, clock.now()


async def _stream(
    provider: Provider,
    request: ChatRequest,
    target: Target,
    timeouts: AttemptTimeouts,
    info: AttemptInfo,
    *,
    clock: Clock,
    started: float,
) -> float | None:
    """Read a streamed answer to its end; returns the time from `started` to its first content
    chunk. Until then the first-token limit applies (capped by the attempt's), after it only the
    idle one between reads (the adapter's), as in the engine."""
    ttft: float | None = None
    limit = timeouts.total
    if timeouts.first_token is not None and (limit is None or timeouts.first_token < limit):
        limit = timeouts.first_token
    agen = cast(AsyncGenerator[Chunk, None], provider.stream(request, target, timeouts, info))
    try:
        async with asyncio.timeout(limit) as window:
            async for chunk in agen:
                if ttft is None and chunk.content:
                    ttft = clock.now() - started
                    window.reschedule(None)
    finally:
        await agen.aclose()
    return ttft


__all__ = [
    "LiveResult",
    "ReplayError",
    "TransportFor",
    "choose_target",
    "live_attempt",
    "model_timeouts",
    "rebuild_request",
    "rerun_live",
]
