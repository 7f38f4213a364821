"""Anthropic wire errors → Seawall's `UpstreamError` tree (the one place this mapping lives).

Two entry points share one table: `classify_anthropic_error` for a non-2xx HTTP answer, and
`error_from_anthropic_event` for an in-stream `event: error` that arrives after a 200.

| upstream                                             | raised                 | error_class    |
|------------------------------------------------------|------------------------|----------------|
| 529 / `overloaded_error`                             | UpstreamUnavailable    | OVERLOADED     |
| 429 with `details.error_code` *_spend_limit_reached  | UpstreamRejected       | AUTH (account) |
| 429 / `rate_limit_error`                             | UpstreamRateLimited    | RATE_LIMITED   |
| 401, 402, 403 / auth, billing, permission errors     | UpstreamRejected       | AUTH           |
| 404 / `not_found_error`                              | UpstreamRejected       | NOT_FOUND      |
| 408, 504 / `timeout_error`                           | UpstreamTimeout        | TIMEOUT        |
| other 5xx / `api_error`                              | UpstreamUnavailable    | SERVER_ERROR   |
| 400 "prompt is too long" (and kin)                   | ContextLengthExceeded  | CONTEXT_LENGTH |
| other 4xx (400, 409, 413, 422…)                      | UpstreamRejected       | BAD_REQUEST    |
| anything else (a 2xx/3xx carrying an error)          | UpstreamBadResponse    | BAD_RESPONSE   |

A spend limit is answered with 429 but does not lift for weeks: it is an account-level refusal
(like a revoked key), so it must not be retried, yet another provider can serve the request.
`retry-after` (seconds) is kept on every error that carries it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from seawall.errors import (
    ContextLengthExceeded,
    ErrorClass,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

#: Anthropic's error `type` → the HTTP status it is documented with (used for in-stream errors).
ANTHROPIC_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_SPEND_LIMIT_CODES = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
    }
)
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "billing_error"})
_CONTEXT_LENGTH = re.compile(
    r"prompt is too long|exceed(?:s|ed)? (?:the )?context|context (?:window|limit|length)",
    re.IGNORECASE,
)


def parse_anthropic_ratelimit(headers: Mapping[str, str]) -> dict[str, str]:
    """Keep the rate-limit headers worth recording: `anthropic-ratelimit-*`, `retry-after` and
    `retry-after-ms` (every header the error mapping reads, so a replay can hand them back)."""
    kept: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name.startswith("anthropic-ratelimit-") or name in ("retry-after", "retry-after-ms"):
            kept[name] = value
    return kept


def classify_anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Map one non-2xx Anthropic answer to the `UpstreamError` the engine acts on."""
    error_type, message, code = _parse_error_body(body)
    if not message:
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    return _classify(status, error_type, message, code=code, retry_after=_retry_after(headers), body=body)


def error_from_anthropic_event(data: Mapping[str, Any]) -> UpstreamError:
    """Map an in-stream `error` event (`{"type":"error","error":{"type":…,"message":…}}`)."""
    error = data.get("error")
    error_type = message = code = None
    if isinstance(error, Mapping):
        error_type, message, code = _fields(error)
    status = ANTHROPIC_ERROR_STATUS.get(error_type or "", 500)
    raw = json.dumps(dict(data), ensure_ascii=False).encode()
    return _classify(
        status, error_type, message or "error event in stream", code=code, retry_after=None, body=raw
    )


def _classify(
    status: int,
    error_type: str | None,
    message: str,
    *,
    code: str | None,
    retry_after: float | None,
    body: bytes,
) -> UpstreamError:
    text = f"anthropic {status} {error_type or 'error'}: {message}"
    common: dict[str, Any] = {"upstream_status": status, "retry_after_s": retry_after, "body": body}
    if status == 529 or error_type == "overloaded_error":
        return UpstreamUnavailable(text, error_class=ErrorClass.OVERLOADED, **common)
    if code in _SPEND_LIMIT_CODES:
        return UpstreamRejected(text, error_class=ErrorClass.AUTH, **common)
    if status == 429 or error_type == "rate_limit_error":
        return UpstreamRateLimited(text, **common)
    if status in (401, 402, 403) or error_type in _AUTH_TYPES:
        return UpstreamRejected(text, error_class=ErrorClass.AUTH, **common)
    if status == 404 or error_type == "not_found_error":
        return UpstreamRejected(text, error_class=ErrorClass.NOT_FOUND, **common)
    if status in (408, 504) or error_type == "timeout_error":
        return UpstreamTimeout(text, **common)
    if status >= 500 or error_type == "api_error":
        return UpstreamUnavailable(text, **common)
    if status == 400 and _CONTEXT_LENGTH.search(message):
        return ContextLengthExceeded(text, **common)
    if 400 <= status < 500:
        return UpstreamRejected(text, **common)
    return UpstreamBadResponse(text, **common)


def _parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    return _fields(error)


def _fields(error: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    error_type = error.get("type")
    message = error.get("message")
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, Mapping) else None
    return (
        error_type if isinstance(error_type, str) else None,
        message if isinstance(message, str) else None,
        code if isinstance(code, str) else None,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None  # an HTTP-date: resolving it needs a clock, which translators do not read
            return seconds if seconds >= 0 else None
    return None
