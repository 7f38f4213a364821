"""Seawall's one exception tree, and how each error is shown to a client.

    SeawallError
    ├── ConfigError                      bad configuration (names file, key, what was expected)
    ├── RequestError                     the client's request cannot be served as sent (4xx)
    │   ├── InvalidRequest               400 malformed JSON, wrong types, missing fields
    │   ├── UnsupportedFeature           400 a feature the chosen target cannot honour
    │   ├── ModelNotFound                404 unknown client-facing model name
    │   ├── PayloadTooLarge              413 body over `server.max_body_bytes`
    │   ├── Unauthorized                 401 missing or wrong credentials (e.g. the admin token)
    │   ├── NotFound                     404 no such path, or no such resource (a trace id)
    │   └── MethodNotAllowed             405 a known path asked with another method
    ├── UpstreamError                    one attempt at one target failed; carries an `ErrorClass`
    │   ├── UpstreamTimeout              connect/read/first-token/idle timeout
    │   ├── UpstreamConnectionError      refused, reset, closed early
    │   ├── UpstreamUnavailable          5xx, 529 overloaded
    │   ├── UpstreamRateLimited          429 (our quota), with its Retry-After
    │   ├── UpstreamBadResponse          2xx that is not a valid answer (malformed body/stream)
    │   ├── UpstreamStreamCut            a stream ended without its terminal event
    │   └── UpstreamRejected             400/401/403/404/422 and friends: not retryable as sent
    │       ├── ContextLengthExceeded    the prompt does not fit the target's context window
    │       └── ContentFiltered          the provider refused or blocked the content
    ├── DeadlineExceeded                 504 the request's deadline passed (or would before an attempt ends)
    ├── NoTargetAvailable                every target failed or was ineligible (502/503/504/429)
    ├── Overloaded                       503/429 shed by admission control, with Retry-After
    └── ContextConflict                  409 context snapshot divergence

Provider adapters map wire errors into `UpstreamError` subclasses in exactly one place each
(`seawall.providers.*._classify`). The server maps any `SeawallError` into an OpenAI- or
Anthropic-shaped error body with `SeawallError.status`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """How an attempt failed. Recorded in traces and metrics; drives retry/fallback decisions."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    SERVER_ERROR = "server_error"
    OVERLOADED = "overloaded"
    RATE_LIMITED = "rate_limited"
    BAD_RESPONSE = "bad_response"
    STREAM_CUT = "stream_cut"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"

    @property
    def retryable(self) -> bool:
        """Another attempt at the *same* target may succeed."""
        return self in _RETRYABLE

    @property
    def may_fall_back(self) -> bool:
        """Another *target* may succeed. False when the request itself is at fault."""
        return self not in _CLIENT_FAULT

    @property
    def provider_health(self) -> bool:
        """Counts against the target's health (breakers, throttles)."""
        return self in _HEALTH


_RETRYABLE = frozenset(
    {
        ErrorClass.TIMEOUT,
        ErrorClass.CONNECT,
        ErrorClass.SERVER_ERROR,
        ErrorClass.OVERLOADED,
        ErrorClass.BAD_RESPONSE,
        ErrorClass.STREAM_CUT,
    }
)
_CLIENT_FAULT = frozenset({ErrorClass.BAD_REQUEST, ErrorClass.CONTENT_FILTER})
_HEALTH = _RETRYABLE | {ErrorClass.RATE_LIMITED}


class SeawallError(Exception):
    """Base of every error Seawall raises on purpose."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def should_retry(self) -> bool:
        """Whether a client retrying the same request could help (`x-should-retry`)."""
        return False

    @property
    def retry_after(self) -> float | None:
        """Seconds the client should wait before retrying, when known."""
        return None


class ConfigError(SeawallError):
    """Raised when configuration is invalid; the message names file, key and what was expected."""

    type = "config_error"


class RequestError(SeawallError):
    """Raised when the client's request cannot be served as sent."""

    status = 400
    type = "invalid_request_error"


class InvalidRequest(RequestError):
    """Raised for malformed JSON, wrong types or missing fields."""

    code = "invalid_request"


class UnsupportedFeature(RequestError):
    """Raised when a target's dialect cannot honour a requested feature (never dropped silently)."""

    code = "unsupported_feature"


class ModelNotFound(RequestError):
    """Raised for a client-facing model name that is not configured."""

    status = 404
    code = "model_not_found"


class PayloadTooLarge(RequestError):
    """Raised when a request body exceeds the configured limit."""

    status = 413
    code = "payload_too_large"


class Unauthorized(RequestError):
    """Raised when a request lacks the credentials its route needs (e.g. the admin token)."""

    status = 401
    type = "authentication_error"
    code = "invalid_request"


class NotFound(RequestError):
    """Raised for a path Seawall does not serve, or a resource that does not exist."""

    status = 404
    code = "invalid_request"


class UnreadableTrace(SeawallError):
    """A stored trace exists but its record cannot be read (torn, or written by a newer Seawall)."""

    status = 500
    type = "server_error"
    code = "unreadable_trace"


class MethodNotAllowed(RequestError):
    """Raised when a known path is asked with a method it does not take."""

    status = 405
    code = "invalid_request"


class UpstreamError(SeawallError):
    """Raised when one attempt at one target fails. `error_class` drives retry and fallback."""

    status = 502
    type = "upstream_error"
    error_class: ErrorClass = ErrorClass.SERVER_ERROR

    def __init__(
        self,
        message: str,
        *,
        error_class: ErrorClass | None = None,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
        param: str | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message, param=param)
        if error_class is not None:
            self.error_class = error_class
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s
        self.body = body

    @property
    def retry_after(self) -> float | None:
        return self.retry_after_s


class UpstreamTimeout(UpstreamError):
    """Raised when connecting, the first token, or the next chunk takes too long."""

    status = 504
    error_class = ErrorClass.TIMEOUT


class UpstreamConnectionError(UpstreamError):
    """Raised when the connection is refused, reset or closed before an answer."""

    error_class = ErrorClass.CONNECT


class UpstreamUnavailable(UpstreamError):
    """Raised for 5xx answers and 529 overloaded."""

    error_class = ErrorClass.SERVER_ERROR


class UpstreamRateLimited(UpstreamError):
    """Raised for 429: our quota at that provider is spent until Retry-After."""

    status = 429
    type = "rate_limit_error"
    error_class = ErrorClass.RATE_LIMITED


class UpstreamBadResponse(UpstreamError):
    """Raised when a 2xx answer is not a valid response (malformed JSON, broken SSE)."""

    error_class = ErrorClass.BAD_RESPONSE


class UpstreamStreamCut(UpstreamError):
    """Raised when a stream ends or breaks before its terminal event."""

    error_class = ErrorClass.STREAM_CUT


class UpstreamRejected(UpstreamError):
    """Raised for 4xx answers that retrying as-is cannot fix."""

    status = 400
    type = "invalid_request_error"
    error_class = ErrorClass.BAD_REQUEST


class ContextLengthExceeded(UpstreamRejected):
    """Raised when the prompt does not fit the target's context window."""

    code = "context_length_exceeded"
    error_class = ErrorClass.CONTEXT_LENGTH


class ContentFiltered(UpstreamRejected):
    """Raised when the provider blocked the request or response content."""

    code = "content_filter"
    error_class = ErrorClass.CONTENT_FILTER


class DeadlineExceeded(SeawallError):
    """Raised when the request's deadline has passed, or no attempt could finish before it."""

    status = 504
    type = "timeout_error"
    code = "deadline_exceeded"


class NoTargetAvailable(SeawallError):
    """Raised when every target failed or was ineligible. `status` follows the failures seen."""

    type = "upstream_error"
    code = "all_targets_failed"

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        retry_after_s: float | None = None,
        should_retry: bool = True,
        last_error: SeawallError | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self._retry_after = retry_after_s
        self._should_retry = should_retry
        self.last_error = last_error

    @property
    def should_retry(self) -> bool:
        return self._should_retry

    @property
    def retry_after(self) -> float | None:
        return self._retry_after


class Overloaded(SeawallError):
    """Raised when admission control sheds a request; carries an honest Retry-After."""

    status = 503
    type = "overloaded_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float, status: int = 503) -> None:
        super().__init__(message)
        self.status = status
        self._retry_after = retry_after_s

    @property
    def should_retry(self) -> bool:
        return True

    @property
    def retry_after(self) -> float | None:
        return self._retry_after


class ContextConflict(SeawallError):
    """Raised when a request's context snapshot diverges from the conversation's recorded one."""

    status = 409
    type = "conflict_error"
    code = "context_conflict"


__all__ = [
    "ConfigError",
    "ContentFiltered",
    "ContextConflict",
    "ContextLengthExceeded",
    "DeadlineExceeded",
    "ErrorClass",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelNotFound",
    "NoTargetAvailable",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RequestError",
    "SeawallError",
    "Unauthorized",
    "UnsupportedFeature",
    "UpstreamBadResponse",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamStreamCut",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
