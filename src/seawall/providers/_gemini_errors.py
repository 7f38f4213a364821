"""Gemini failures → Seawall's `UpstreamError` tree: HTTP errors, blocked prompts, bad finishes.

HTTP errors arrive as `{"error": {"code": 429, "message": …, "status": "RESOURCE_EXHAUSTED",
"details": [...]}}` (sometimes wrapped in a one-element list). `classify_gemini_error`:

| upstream                                                  | raised                | error_class    |
|-----------------------------------------------------------|-----------------------|----------------|
| 429 / RESOURCE_EXHAUSTED (RetryInfo.retryDelay kept)      | UpstreamRateLimited   | RATE_LIMITED   |
| 401, 403 / UNAUTHENTICATED, PERMISSION_DENIED             | UpstreamRejected      | AUTH           |
| 400 with ErrorInfo reason API_KEY_INVALID                 | UpstreamRejected      | AUTH           |
| 400 FAILED_PRECONDITION (billing, unsupported region)     | UpstreamRejected      | AUTH (account) |
| 404 / NOT_FOUND                                           | UpstreamRejected      | NOT_FOUND      |
| 408, 504 / DEADLINE_EXCEEDED                              | UpstreamTimeout       | TIMEOUT        |
| 503 / UNAVAILABLE saying "overloaded"                     | UpstreamUnavailable   | OVERLOADED     |
| other 5xx / INTERNAL, UNAVAILABLE                         | UpstreamUnavailable   | SERVER_ERROR   |
| 400 INVALID_ARGUMENT about the token limit                | ContextLengthExceeded | CONTEXT_LENGTH |
| other 4xx                                                 | UpstreamRejected      | BAD_REQUEST    |

In a 200 answer (`check_gemini_candidate` / `check_prompt_feedback`):

| `promptFeedback.blockReason` (any)                        | ContentFiltered       | CONTENT_FILTER |
| finishReason SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, LANGUAGE, IMAGE_SAFETY,
  IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION                 | ContentFiltered       | CONTENT_FILTER |
| finishReason MISSING_THOUGHT_SIGNATURE                    | UpstreamRejected      | BAD_REQUEST    |
| finishReason MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS,
  MALFORMED_RESPONSE, OTHER, IMAGE_OTHER, NO_IMAGE, or one we do not know
                                                            | UpstreamBadResponse   | BAD_RESPONSE   |
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from seawall._types import JSONDict
from seawall.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ErrorClass,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

#: finishReasons that mean "the answer is complete": canonical `finish_reason` before tool calls.
FINISH_OK = {"STOP": "stop", "MAX_TOKENS": "length", "FINISH_REASON_UNSPECIFIED": "stop"}
FINISH_BLOCKED = frozenset(
    {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
        "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
    }
)  # fmt: skip
_TOKEN_LIMIT = re.compile(
    r"token count|maximum number of tokens|too many tokens|context (?:window|length)", re.I
)
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def classify_gemini_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Map one non-2xx Gemini answer (or an in-stream error object) to an `UpstreamError`."""
    error = _error_object(body)
    rpc_status = str(error.get("status") or "")
    message = error.get("message") if isinstance(error.get("message"), str) else None
    message = message or body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    reason, retry_after = _details(error.get("details"))
    if retry_after is None:
        retry_after = _retry_after_header(headers)
    text = f"gemini {status} {rpc_status or 'error'}: {message}"
    common: dict[str, Any] = {"upstream_status": status, "retry_after_s": retry_after, "body": body}
    if status == 429 or rpc_status == "RESOURCE_EXHAUSTED":
        return UpstreamRateLimited(text, **common)
    if (
        status in (401, 403)
        or rpc_status in ("UNAUTHENTICATED", "PERMISSION_DENIED", "FAILED_PRECONDITION")
        or reason == "API_KEY_INVALID"
    ):
        return UpstreamRejected(text, error_class=ErrorClass.AUTH, **common)
    if status == 404 or rpc_status == "NOT_FOUND":
        return UpstreamRejected(text, error_class=ErrorClass.NOT_FOUND, **common)
    if status in (408, 504) or rpc_status == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(text, **common)
    if status == 503 and "overloaded" in message.lower():
        return UpstreamUnavailable(text, error_class=ErrorClass.OVERLOADED, **common)
    if status >= 500 or rpc_status in ("INTERNAL", "UNAVAILABLE"):
        return UpstreamUnavailable(text, **common)
    if status == 400 and _TOKEN_LIMIT.search(message):
        return ContextLengthExceeded(text, **common)
    if 400 <= status < 500:
        return UpstreamRejected(text, **common)
    return UpstreamBadResponse(text, **common)


def error_from_gemini_payload(data: Mapping[str, Any]) -> UpstreamError:
    """An `{"error": {...}}` object that arrived as a stream event."""
    error = data.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    status = code if isinstance(code, int) and not isinstance(code, bool) else 500
    return classify_gemini_error(status, json.dumps(dict(data), ensure_ascii=False).encode(), {})


def check_prompt_feedback(resp: JSONDict) -> None:
    """Raise `ContentFiltered` when Gemini blocked the prompt itself."""
    feedback = resp.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        reason = feedback["blockReason"]
        raise ContentFiltered(f"gemini blocked the prompt: {reason}", body=_dump(resp))


def check_gemini_candidate(candidate: JSONDict, resp: JSONDict) -> None:
    """Raise when a candidate's `finishReason` means there is no usable answer."""
    reason = candidate.get("finishReason")
    if reason is None or reason in FINISH_OK:
        return
    detail = candidate.get("finishMessage")
    text = f"gemini finished with {reason}" + (f": {detail}" if isinstance(detail, str) and detail else "")
    if reason in FINISH_BLOCKED:
        raise ContentFiltered(text, body=_dump(resp))
    if reason == "MISSING_THOUGHT_SIGNATURE":
        raise UpstreamRejected(text, body=_dump(resp))
    raise UpstreamBadResponse(text, body=_dump(resp))


def _dump(resp: JSONDict) -> bytes:
    return json.dumps(resp, ensure_ascii=False).encode()


def _error_object(body: bytes) -> JSONDict:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _details(details: Any) -> tuple[str | None, float | None]:
    reason: str | None = None
    retry_after: float | None = None
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo") and isinstance(item.get("reason"), str):
            reason = item["reason"]
        elif kind.endswith("google.rpc.RetryInfo") and isinstance(item.get("retryDelay"), str):
            match = _RETRY_DELAY.match(item["retryDelay"])
            retry_after = float(match.group(1)) if match else None
    return reason, retry_after


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None
