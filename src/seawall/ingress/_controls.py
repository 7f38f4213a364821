"""Seawall's control headers, read in one place for every ingress dialect.

`x-seawall-priority` (admission class), `x-seawall-hedge` (the client says the request is safe to
send twice), and the client's deadline: `x-seawall-timeout-ms`, or the read timeout the official
SDKs announce (`x-stainless-read-timeout`, `x-stainless-timeout`). Headers are given with
lower-case names (ASGI's form). Must not: validate bodies or touch the network.
"""

from __future__ import annotations

from collections.abc import Mapping

from seawall._types import ChatRequest, Priority
from seawall.errors import InvalidRequest
from seawall.ingress._context import cache_directives, read_context
from seawall.resilience import parse_client_timeout, parse_stream_deadline

#: Client headers a trace keeps (an allow-list: never credentials).
TRACE_HEADERS = frozenset(
    {
        "user-agent",
        "x-seawall-timeout-ms",
        "x-seawall-priority",
        "x-seawall-hedge",
        "x-stainless-read-timeout",
        "x-stainless-timeout",
        "x-stainless-lang",
        "x-stainless-package-version",
        "anthropic-version",
        "anthropic-beta",
        # W3C trace context (not secrets): the OTLP export parents the request's span on it
        "traceparent",
        "tracestate",
        "x-seawall-conversation-id",  # the client's conversation: `gen_ai.conversation.id` in spans
        "x-seawall-state-version",
        "x-seawall-context-snapshot",
        "cache-control",
    }
)

_HEDGE_SAFE = ("1", "true", "safe")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client headers a trace records (`TRACE_HEADERS`)."""
    return {k: v for k, v in headers.items() if k in TRACE_HEADERS}


def apply_controls(request: ChatRequest, headers: Mapping[str, str]) -> ChatRequest:
    """Set the request's priority, hedge safety, deadlines, context reference and cache directives
    from the client's headers and the body's `seawall` object (in place; the object is removed)."""
    native = request.native_body
    if native is not None:
        request.context = read_context(native, headers)
        request.body.pop("seawall", None)  # the canonical copy of the body may carry it too
    else:
        request.context = read_context(request.body, headers)
    if not headers:
        return request
    if "cache-control" in headers:
        request.no_cache, request.no_store = cache_directives(headers)
    value = headers.get("x-seawall-priority")
    if value is not None:
        try:
            request.priority = Priority(value.strip().lower())
        except ValueError:
            raise InvalidRequest(
                f"Invalid x-seawall-priority header {value!r}: expected 'interactive' or 'batch'.",
                param="x-seawall-priority",
            ) from None
    hedge = headers.get("x-seawall-hedge")
    if hedge is not None:
        request.hedge_safe = hedge.strip().lower() in _HEDGE_SAFE
    request.timeout_s = parse_client_timeout(headers)
    request.stream_timeout_s = parse_stream_deadline(headers)
    return request


__all__ = ["TRACE_HEADERS", "apply_controls", "kept_headers"]
