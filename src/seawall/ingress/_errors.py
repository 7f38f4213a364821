"""Turning a `SeawallError` into an HTTP error response in the client's dialect."""

from __future__ import annotations

import math

import orjson

from seawall.errors import SeawallError


def openai_error_body(exc: SeawallError) -> bytes:
    return orjson.dumps(
        {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}
    )


def error_headers(exc: SeawallError) -> list[tuple[bytes, bytes]]:
    """`x-should-retry` tells SDKs whether retrying can help (Seawall already retried), and
    `retry-after` is only sent when it is honest (shedding, rate limits)."""
    headers = [(b"x-should-retry", b"true" if exc.should_retry else b"false")]
    if exc.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
        headers.append((b"retry-after-ms", str(max(1, round(exc.retry_after * 1000))).encode()))
    return headers
