"""The per-request trace: everything needed to reconstruct (and replay) what happened.

A `Trace` is filled in by the engine and server while the request runs, then turned into one
plain dict by `finish()` and handed to the recorder. Bodies are kept as text (they are JSON, so
UTF-8); the store deduplicates large ones by content hash.

Within one record, a body identical to one stored earlier in it is written as a reference
(`{"$ref": "request.body"}` for an upstream request body equal to the client's,
`{"$ref": "attempts.N.response_body"}` for a response relayed unchanged): a pass-through
request's record is then about a quarter smaller. `expand_refs()` restores the full record;
stores apply it on read, so readers never see references.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from seawall._types import AttemptInfo, Target
from seawall.errors import SeawallError, UpstreamError


def body_text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


_SAME_AS_REQUEST = {"$ref": "request.body"}

_ids = random.Random(int.from_bytes(os.urandom(16), "big"))  # seeded once: no syscall per request


def new_trace_id() -> str:
    """Time-ordered and unique: 12 hex digits of milliseconds + 48 random bits (ids are not secrets:
    the admin API that serves traces is what must be protected)."""
    return f"{int(time.time() * 1000):012x}{_ids.getrandbits(48):012x}"


def error_dict(exc: SeawallError) -> dict[str, Any]:
    out: dict[str, Any] = {"type": exc.type, "message": exc.message, "status": exc.status}
    if exc.code:
        out["code"] = exc.code
    if isinstance(exc, UpstreamError):
        out["class"] = exc.error_class.value
    return out


class Trace:
    """Mutable collector for one request. Offsets are milliseconds since the request arrived."""

    __slots__ = (
        "_response_raw",
        "answered_by",
        "attempts",
        "chunks",
        "committed_ms",
        "events",
        "id",
        "ingress",
        "model",
        "record_chunks",
        "request_body",
        "request_headers",
        "route",
        "stream",
        "t0",
        "ts",
    )

    def __init__(
        self,
        *,
        model: str,
        ingress: str,
        stream: bool,
        request_body: bytes | None,
        request_headers: dict[str, str] | None = None,
        record_chunks: bool = True,
        trace_id: str | None = None,
    ) -> None:
        self.id = trace_id or new_trace_id()
        self.ts = time.time()
        self.t0 = time.perf_counter()
        self.model = model
        self.ingress = ingress
        self.stream = stream
        self.request_body = request_body
        self.request_headers = request_headers or {}
        self.record_chunks = record_chunks
        self.route: dict[str, Any] = {}
        self.attempts: list[dict[str, Any]] = []
        self.events: list[list[Any]] = []
        self.chunks: list[list[Any]] = []
        self.answered_by: str | None = None
        self.committed_ms: float | None = None
        self._response_raw: tuple[int, bytes | None] = (-1, None)  # (attempt index, its response bytes)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def event(self, kind: str, **detail: Any) -> None:
        self.events.append([round(self.elapsed_ms(), 3), kind, detail])

    def add_attempt(
        self,
        *,
        target: Target,
        kind: str,
        started_ms: float,
        info: AttemptInfo,
        error: SeawallError | None,
        ttft_ms: float | None = None,
        backoff_ms: float = 0.0,
        committed: bool = False,
    ) -> dict[str, Any]:
        attempt: dict[str, Any] = {
            "index": len(self.attempts),
            "provider": target.provider,
            "model": target.model,
            "kind": kind,
            "url": info.url,
            "started_ms": round(started_ms, 3),
            "latency_ms": round(self.elapsed_ms() - started_ms, 3),
            "ttft_ms": None if ttft_ms is None else round(ttft_ms, 3),
            "backoff_ms": round(backoff_ms, 3),
            "status": info.status,
            "error_class": error.error_class.value if isinstance(error, UpstreamError) else None,
            "error": None if error is None else error.message,
            "retry_after_s": error.retry_after if error is not None else None,
            "usage": info.usage,
            "response_model": info.response_model,
            "system_fingerprint": info.system_fingerprint,
            "ratelimit": info.ratelimit or None,
            "committed": committed,
            "request_body": (
                _SAME_AS_REQUEST
                if info.request_body and info.request_body == self.request_body
                else body_text(info.request_body)
            ),
            "response_body": body_text(info.response_body),
        }
        if info.response_body is not None:
            self._response_raw = (len(self.attempts), info.response_body)
        self.attempts.append(attempt)
        return attempt

    def chunk(self, raw: bytes) -> None:
        if self.record_chunks:
            self.chunks.append([round(self.elapsed_ms(), 3), raw.decode("utf-8", "replace")])

    def finish(
        self,
        *,
        status: int,
        response_body: bytes | None = None,
        error: SeawallError | None = None,
        terminal: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record to store. `terminal` (streams): done | error | client_disconnect."""
        duration = self.elapsed_ms()
        record: dict[str, Any] = {
            "id": self.id,
            "ts": self.ts,
            "model": self.model,
            "ingress": self.ingress,
            "stream": self.stream,
            "status": status,
            "duration_ms": round(duration, 3),
            "ttft_ms": self.committed_ms,
            "answered_by": self.answered_by,
            "error": None if error is None else error_dict(error),
            "usage": usage,
            "request": {"headers": self.request_headers, "body": body_text(self.request_body)},
            "route": self.route,
            "attempts": self.attempts,
            "events": self.events,
        }
        if self.stream:
            record["response"] = {"chunks": self.chunks, "terminal": terminal}
        elif response_body is not None and self._response_raw[1] == response_body:
            record["response"] = {"body": {"$ref": f"attempts.{self._response_raw[0]}.response_body"}}
        else:
            record["response"] = {"body": body_text(response_body)}
        return record


def expand_refs(record: dict[str, Any]) -> dict[str, Any]:
    """The record with in-record `$ref` bodies replaced by the text they point to (in place)."""
    request = record.get("request")
    request_body = request.get("body") if isinstance(request, dict) else None
    attempts = record.get("attempts")
    if isinstance(attempts, list):
        for attempt in attempts:
            if isinstance(attempt, dict) and attempt.get("request_body") == _SAME_AS_REQUEST:
                attempt["request_body"] = request_body
    response = record.get("response")
    if isinstance(response, dict) and isinstance(ref := response.get("body"), dict) and "$ref" in ref:
        _, index, field = ([*str(ref["$ref"]).split("."), "", ""])[:3]
        try:
            response["body"] = attempts[int(index)][field]  # type: ignore[index]
        except (TypeError, ValueError, IndexError, KeyError):
            response["body"] = None
    return record
