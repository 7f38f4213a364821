"""Trace records for tests: a small typed builder, and a hypothesis strategy for whole records."""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import strategies as st

from seawall.trace._schema import (
    Admitted,
    AnyEvent,
    Attempt,
    AttemptCancelled,
    Backoff,
    BreakerChanged,
    ClientDisconnected,
    Demoted,
    ErrorInfo,
    Hedged,
    Queued,
    RequestPart,
    ResponsePart,
    Route,
    Shed,
    SkipCode,
    Skipped,
    StreamFailed,
    TraceRecord,
)

CLIENT = '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
ANSWER = '{"choices":[{"message":{"role":"assistant","content":"hello"}}]}'


def attempt(index: int = 0, **fields: Any) -> Attempt:
    base: dict[str, Any] = {
        "provider": "p",
        "model": "m",
        "kind": "openai",
        "url": "http://up/v1/chat/completions",
        "started_ms": 0.0,
        "latency_ms": 1.0,
        "status": 200,
    }
    return Attempt(index=index, **{**base, **fields})


def record(trace_id: str = "trace0001", *, body: str | None = CLIENT, **fields: Any) -> TraceRecord:
    base: dict[str, Any] = {
        "ts": 1_700_000_000.0,
        "model": "m",
        "ingress": "openai",
        "stream": False,
        "status": 200,
        "duration_ms": 1.0,
        "request": RequestPart(headers={"user-agent": "test"}, body=body),
    }
    return TraceRecord(id=trace_id, **{**base, **fields})


def copy(text: str) -> str:
    """An equal string that is not the same object (the codec's `==` path)."""
    return "".join(list(text)) if len(text) > 1 else text


# -- hypothesis ------------------------------------------------------------------------------------
_chars = st.characters(blacklist_categories=("Cs",))  # the collector's text is decoded UTF-8: no surrogates
texts = st.text(_chars, max_size=30)
large_texts = st.builds(
    lambda piece, n: (piece * n)[: 1024 + n], st.text(_chars, min_size=1, max_size=8), st.integers(1100, 1500)
)
bodies = st.one_of(st.none(), texts, large_texts)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
offsets = st.floats(min_value=0, max_value=1e7, allow_nan=False)
ints = st.integers(-(2**53), 2**53)
json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(texts, json_values, max_size=4)
stamps = st.lists(st.tuples(offsets, st.integers(0, 1 << 20)), max_size=4).map(tuple)

events: st.SearchStrategy[AnyEvent] = st.one_of(
    st.builds(Queued, t_ms=offsets, priority=texts, queued=ints),
    st.builds(Admitted, t_ms=offsets, waited_ms=offsets),
    st.builds(Shed, t_ms=offsets, priority=texts, retry_after_s=st.none() | floats),
    st.builds(Skipped, t_ms=offsets, target=texts, reason=texts, code=st.sampled_from(get_args(SkipCode))),
    st.builds(Backoff, t_ms=offsets, target=texts, delay_ms=offsets),
    st.builds(Hedged, t_ms=offsets, target=texts, after_ms=offsets),
    st.builds(Demoted, t_ms=offsets, target=texts, reason=texts),
    st.builds(AttemptCancelled, t_ms=offsets, target=texts),
    st.builds(BreakerChanged, t_ms=offsets, target=texts, old=texts, new=texts, reason=texts),
    st.builds(StreamFailed, t_ms=offsets, error_class=texts, message=texts),
    st.builds(ClientDisconnected, t_ms=offsets),
)
errors = st.builds(
    ErrorInfo,
    type=texts,
    message=texts,
    status=st.integers(100, 599),
    code=st.none() | texts,
    error_class=st.none() | texts,
)
routes = st.builds(
    Route,
    model=texts,
    targets=st.lists(texts, max_size=3).map(tuple),
    deadline_ms=offsets,
    max_attempts=st.integers(1, 10),
    priority=st.sampled_from(["interactive", "batch"]),
)


@st.composite
def _body_like(draw: st.DrawFn, earlier: str | None) -> str | None:
    """A body that is often `earlier` (the same object, or an equal copy), else its own."""
    if earlier is not None:
        how = draw(st.sampled_from(["same", "copy", "own"]))
        if how == "same":
            return earlier
        if how == "copy":
            return copy(earlier)
    return draw(bodies)


@st.composite
def _attempt(draw: st.DrawFn, index: int, request_body: str | None) -> Attempt:
    return Attempt(
        index=index,
        provider=draw(texts),
        model=draw(texts),
        kind=draw(st.sampled_from(["openai", "anthropic", "gemini"])),
        url=draw(texts),
        started_ms=draw(offsets),
        latency_ms=draw(offsets),
        ttft_ms=draw(st.none() | offsets),
        backoff_ms=draw(offsets),
        status=draw(st.none() | st.integers(100, 599)),
        error_class=draw(st.none() | texts),
        error=draw(st.none() | texts),
        retry_after_s=draw(st.none() | floats),
        usage=draw(st.none() | json_objects),
        response_model=draw(st.none() | texts),
        system_fingerprint=draw(st.none() | texts),
        ratelimit=draw(st.none() | st.dictionaries(texts, texts, max_size=3)),
        committed=draw(st.booleans()),
        retry=draw(st.booleans()),
        hedge=draw(st.booleans()),
        head_ms=draw(st.none() | offsets),
        request_body=draw(_body_like(request_body)),
        response_body=draw(bodies),
        reads=draw(st.none() | stamps),
    )


@st.composite
def trace_records(draw: st.DrawFn) -> TraceRecord:
    """Whole records whose bodies repeat the way real ones do: upstream requests equal to the
    client's, a response equal to an attempt's answer (same object or equal copy), large bodies."""
    request_body = draw(bodies)
    attempts = [draw(_attempt(i, request_body)) for i in range(draw(st.integers(0, 3)))]
    answers = [a.response_body for a in attempts if a.response_body is not None]
    answer = draw(_body_like(draw(st.sampled_from(answers)) if answers else None))
    return TraceRecord(
        schema_version=2,
        id=draw(st.text("0123456789abcdef", min_size=6, max_size=24)),
        ts=draw(offsets),
        model=draw(texts),
        ingress=draw(st.sampled_from(["openai", "anthropic"])),
        stream=draw(st.booleans()),
        status=draw(st.integers(100, 599)),
        duration_ms=draw(offsets),
        ttft_ms=draw(st.none() | offsets),
        answered_by=draw(st.none() | texts),
        error=draw(st.none() | errors),
        usage=draw(st.none() | json_objects),
        request=RequestPart(headers=draw(st.dictionaries(texts, texts, max_size=3)), body=request_body),
        route=draw(st.none() | routes),
        attempts=tuple(attempts),
        events=tuple(draw(st.lists(events, max_size=4))),
        response=ResponsePart(
            body=answer,
            writes=draw(st.none() | stamps),
            terminal=draw(st.none() | st.sampled_from(["done", "error", "client_disconnect"])),
        ),
    )
