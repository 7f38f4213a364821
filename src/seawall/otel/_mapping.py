"""A finished `TraceRecord` → plain span descriptions: names, times and attributes.

One request is a span for the request as the client saw it (the caller makes it a `SERVER` span)
and one span per upstream attempt (`CLIENT`), its children. Attributes follow the OpenTelemetry
GenAI semantic conventions (`gen_ai.*`, `error.type`, `server.*`, `http.response.status_code`),
plus `seawall.*` for what only a gateway knows (its trace id, which target answered, what kind of
attempt each was); docs/traces.md#opentelemetry has the table.

Times are absolute nanoseconds since the epoch: the record's wall-clock arrival (`ts`) plus each
offset. Attempts are clamped into their request's span (offsets are rounded to the microsecond,
so a child could otherwise end a hair after its parent).

This module is pure: no OpenTelemetry import, no I/O, no clock. It runs on the exporter's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import msgspec

from seawall.otel._answer import answer_facts
from seawall.trace._schema import Attempt, ErrorInfo, TraceRecord

AttrValue = str | bool | int | float | tuple[str, ...]
Attributes = dict[str, AttrValue]

#: Seawall's wire dialects as the conventions' well-known `gen_ai.provider.name` values.
PROVIDER_NAMES: Mapping[str, str] = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini"}

#: The request header that names the conversation a request belongs to (`gen_ai.conversation.id`).
CONVERSATION_HEADER = "x-seawall-conversation-id"

OPERATION = "chat"


class SpanData(NamedTuple):
    """One span to emit. `error` is the status description of a span that failed (None: it did not)."""

    name: str
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None
    events: tuple[tuple[str, int, Attributes], ...] = ()


def parent_carrier(record: TraceRecord) -> dict[str, str] | None:
    """The client's W3C trace context headers (`traceparent`, `tracestate`), if it sent them."""
    headers = record.request.headers
    parent = headers.get("traceparent")
    if parent is None:
        return None
    carrier = {"traceparent": parent}
    state = headers.get("tracestate")
    if state is not None:
        carrier["tracestate"] = state
    return carrier


def request_name(record: TraceRecord) -> str:
    """`chat {model}`, or `chat` for a request whose body could not be read."""
    return f"{OPERATION} {record.model}" if record.model else OPERATION


def request_span(record: TraceRecord) -> SpanData:
    """The request as the client saw it: `chat {model}`, from arrival to the last byte."""
    start = epoch_ns(record.ts)
    attrs: Attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": PROVIDER_NAMES.get(record.ingress, record.ingress),
        "http.response.status_code": record.status,
        "seawall.trace_id": record.id,
        "seawall.attempts": len(record.attempts),
    }
    if record.model:
        attrs["gen_ai.request.model"] = record.model
    if record.stream:
        attrs["gen_ai.request.stream"] = True
        if record.ttft_ms is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = record.ttft_ms / 1000.0
        if record.response.terminal is not None:
            attrs["seawall.response.terminal"] = record.response.terminal
    headers = record.request.headers
    conversation = headers.get(CONVERSATION_HEADER)
    if conversation:
        attrs["gen_ai.conversation.id"] = conversation
    agent = headers.get("user-agent")
    if agent:
        attrs["user_agent.original"] = agent
    if record.route is not None:
        attrs["seawall.priority"] = record.route.priority
    answer = _answering(record)
    if record.answered_by is not None:
        attrs["seawall.answered_by"] = record.answered_by
    if answer is not None:
        attrs["gen_ai.response.model"] = answer.response_model or answer.model
    body = record.response.body
    if record.status == 200 and isinstance(body, str):
        _facts(attrs, record.ingress, body, record.stream)
    usage = record.usage if record.usage is not None else (answer.usage if answer is not None else None)
    if usage is not None:
        _usage(attrs, usage)
    error = record.error
    if error is not None:
        attrs["error.type"] = _error_type(error)
    failed: str | None = None
    if record.status >= 500 or record.response.terminal == "error":
        failed = error.message if error is not None else f"HTTP {record.status}"
    events = tuple(
        (event.type, start + ms_ns(event.t_ms), _event_attributes(event)) for event in record.events
    )
    return SpanData(
        request_name(record),
        start,
        start + ms_ns(record.duration_ms),
        attrs,
        _short(failed),
        events,
    )


def attempt_spans(record: TraceRecord, parent: SpanData) -> list[SpanData]:
    """One span per upstream attempt (`chat {provider/model}`), inside `parent`'s time."""
    low, high = parent.start_ns, parent.end_ns
    conversation = record.request.headers.get(CONVERSATION_HEADER)
    spans = []
    for attempt in record.attempts:
        start = min(max(low + ms_ns(attempt.started_ms), low), high)
        end = min(max(start + ms_ns(attempt.latency_ms), start), high)
        attrs = _attempt_attributes(record, attempt)
        if conversation:
            attrs["gen_ai.conversation.id"] = conversation
        failed = None if attempt.error_class is None else (attempt.error or attempt.error_class)
        spans.append(
            SpanData(f"{OPERATION} {attempt.provider}/{attempt.model}", start, end, attrs, _short(failed))
        )
    return spans


def _attempt_attributes(record: TraceRecord, attempt: Attempt) -> Attributes:
    kind = attempt.kind
    attrs: Attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": PROVIDER_NAMES.get(kind, kind),
        "gen_ai.request.model": attempt.model,
        "seawall.trace_id": record.id,
        "seawall.provider": attempt.provider,
        "seawall.target": f"{attempt.provider}/{attempt.model}",
        "seawall.attempt.index": attempt.index,
        "seawall.attempt.retry": attempt.retry,
        "seawall.attempt.hedge": attempt.hedge,
        "seawall.attempt.committed": attempt.committed,
    }
    if record.stream:
        attrs["gen_ai.request.stream"] = True
        if attempt.ttft_ms is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = attempt.ttft_ms / 1000.0
    host, port = _server(attempt.url)
    if host:
        attrs["server.address"] = host
        attrs["server.port"] = port
    if attempt.status is not None:
        attrs["http.response.status_code"] = attempt.status
    if attempt.response_model:
        attrs["gen_ai.response.model"] = attempt.response_model
    if attempt.system_fingerprint:
        key = "openai.response.system_fingerprint" if kind == "openai" else "seawall.system_fingerprint"
        attrs[key] = attempt.system_fingerprint
    body = attempt.response_body
    if isinstance(body, str) and (attempt.error_class is None or attempt.committed):
        _facts(attrs, kind, body, record.stream)
    if attempt.usage is not None:
        _usage(attrs, attempt.usage)
    if attempt.error_class is not None:
        attrs["error.type"] = attempt.error_class
    if attempt.backoff_ms:
        attrs["seawall.attempt.backoff_ms"] = attempt.backoff_ms
    if attempt.retry_after_s is not None:
        attrs["seawall.attempt.retry_after_s"] = attempt.retry_after_s
    return attrs


def _answering(record: TraceRecord) -> Attempt | None:
    """The attempt whose answer the client got: the committed stream, or the last success."""
    for attempt in reversed(record.attempts):
        if attempt.committed or (attempt.error_class is None and attempt.status == 200):
            return attempt
    return None


def _facts(attrs: Attributes, dialect: str, body: str, stream: bool) -> None:
    response_id, reasons = answer_facts(dialect, body, stream)
    if response_id is not None:
        attrs["gen_ai.response.id"] = response_id
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons


def _usage(attrs: Attributes, usage: Mapping[str, Any]) -> None:
    """Canonical (OpenAI-shaped) usage → `gen_ai.usage.*`; prompt tokens include cached ones."""
    for key, names in (
        ("gen_ai.usage.input_tokens", ("prompt_tokens", "input_tokens")),
        ("gen_ai.usage.output_tokens", ("completion_tokens", "output_tokens")),
    ):
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                attrs[key] = value
                break
    for key, (outer, inner) in (
        ("gen_ai.usage.cache_read.input_tokens", ("prompt_tokens_details", "cached_tokens")),
        ("gen_ai.usage.reasoning.output_tokens", ("completion_tokens_details", "reasoning_tokens")),
    ):
        details = usage.get(outer)
        value = details.get(inner) if isinstance(details, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            attrs[key] = value


def _error_type(error: ErrorInfo) -> str:
    """A low-cardinality error identifier: the error class, else the error's code, else its type."""
    return error.error_class or error.code or error.type


def _event_attributes(event: msgspec.Struct) -> Attributes:
    return {
        name: value
        for name, value in msgspec.structs.asdict(event).items()
        if name != "t_ms" and isinstance(value, str | bool | int | float)
    }


@lru_cache(maxsize=256)
def _server(url: str) -> tuple[str | None, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, 0
    return parts.hostname, port if port is not None else (443 if parts.scheme == "https" else 80)


def epoch_ns(ts: float) -> int:
    """Wall-clock seconds → nanoseconds (to the microsecond: a double holds no more)."""
    return round(ts * 1_000_000) * 1000


def ms_ns(ms: float) -> int:
    return round(ms * 1_000_000)


def _short(text: str | None, limit: int = 500) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


__all__ = [
    "CONVERSATION_HEADER",
    "PROVIDER_NAMES",
    "AttrValue",
    "Attributes",
    "SpanData",
    "attempt_spans",
    "epoch_ns",
    "ms_ns",
    "parent_carrier",
    "request_name",
    "request_span",
]
