import orjson
import pytest

from seawall.errors import ErrorClass, UpstreamRateLimited
from seawall.providers.openai import classify_openai_error


def body(message: str, code: str | None = None, etype: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "code": code, "type": etype}})


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (500, body("boom"), ErrorClass.SERVER_ERROR),
        (502, b"<html>bad gateway</html>", ErrorClass.SERVER_ERROR),
        (503, body("unavailable"), ErrorClass.SERVER_ERROR),
        (504, body("gw timeout"), ErrorClass.TIMEOUT),
        (408, body("timeout"), ErrorClass.TIMEOUT),
        (529, body("Overloaded", etype="overloaded_error"), ErrorClass.OVERLOADED),
        (429, body("slow down", "rate_limit_exceeded"), ErrorClass.RATE_LIMITED),
        (429, body("pay up", "insufficient_quota"), ErrorClass.AUTH),
        (400, body("bad", "invalid_value"), ErrorClass.BAD_REQUEST),
        (422, body("unprocessable"), ErrorClass.BAD_REQUEST),
        (
            400,
            body("This model's maximum context length is 8192 tokens", "context_length_exceeded"),
            ErrorClass.CONTEXT_LENGTH,
        ),
        (400, body("flagged", "content_filter"), ErrorClass.CONTENT_FILTER),
        (401, body("bad key"), ErrorClass.AUTH),
        (403, body("forbidden"), ErrorClass.AUTH),
        (404, body("no such model"), ErrorClass.NOT_FOUND),
    ],
)
def test_classification(status: int, payload: bytes, expected: ErrorClass) -> None:
    error = classify_openai_error(status, payload, {})
    assert error.error_class is expected
    assert error.upstream_status == status


def test_rate_limit_carries_retry_after() -> None:
    error = classify_openai_error(429, body("slow"), {"retry-after-ms": "250"})
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after_s == 0.25


def test_retry_and_fallback_semantics() -> None:
    assert ErrorClass.SERVER_ERROR.retryable and ErrorClass.SERVER_ERROR.may_fall_back
    assert not ErrorClass.RATE_LIMITED.retryable and ErrorClass.RATE_LIMITED.may_fall_back
    assert not ErrorClass.BAD_REQUEST.retryable and not ErrorClass.BAD_REQUEST.may_fall_back
    assert not ErrorClass.AUTH.retryable and ErrorClass.AUTH.may_fall_back
    assert ErrorClass.CONTEXT_LENGTH.may_fall_back and not ErrorClass.CONTENT_FILTER.may_fall_back
