"""The per-request trace collector: fills in while a request runs, then `finish()` freezes it into a
`TraceRecord` (`seawall.trace._schema`).

The engine adds the route and events (`add`), every attempt arrives as one `AttemptOutcome`
(`attempt_ended`, the trace's observer method), and the request's lifecycle records what the client
was sent (`sent` for each write of a stream, the body given to `finish` otherwise). With a
`reading` (`seawall._capture`), the record also keeps every clock reading and random draw the
execution took, for replay. Offsets are
milliseconds since the request arrived, read from the injected clock; the start's wall time and the
id come from the caller (the gateway's clock and id source), never from `time` or a global RNG.

Bodies are decoded to text once. When bytes were equal (the upstream request is the client's own
body, the client got the upstream's answer unchanged), the record holds the same `str` object
twice, which lets the codec write the second as a `$ref` by identity instead of comparing texts.
"""

from __future__ import annotations

from typing import Any

from seawall._capture import Reading
from seawall._clock import Clock
from seawall._types import AttemptOutcome
from seawall.errors import SeawallError, UpstreamError
from seawall.trace._schema import (
    AnyEvent,
    Attempt,
    Capture,
    ContextNote,
    ErrorInfo,
    RequestPart,
    ResponsePart,
    Route,
    TraceRecord,
)


def ms3(seconds: float) -> float:
    """Seconds as milliseconds to 3 decimals: what every duration of a record is kept as. (Rounds
    through an integer: `round(x, 3)` formats a decimal string and costs twice as much.)"""
    return round(seconds * 1_000_000.0) / 1000.0


def body_text(data: bytes | None) -> str | None:
    """A body as text (bodies are JSON or SSE, so UTF-8; anything else is kept readable)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def error_info(exc: SeawallError) -> ErrorInfo:
    return ErrorInfo(
        type=exc.type,
        message=exc.message,
        status=exc.status,
        code=exc.code,
        error_class=exc.error_class.value if isinstance(exc, UpstreamError) else None,
    )


class Trace:
    """Mutable collector for one request (see the module docstring)."""

    __slots__ = (
        "_answer",
        "_clock",
        "_request_text",
        "answered_by",
        "attempts",
        "committed_ms",
        "config_hash",
        "context",
        "events",
        "id",
        "ingress",
        "model",
        "open_attempts",
        "reading",
        "record_stream",
        "request_body",
        "request_headers",
        "route",
        "stream",
        "t0",
        "ts",
        "writes",
    )

    def __init__(
        self,
        *,
        clock: Clock,
        trace_id: str,
        model: str,
        ingress: str,
        stream: bool,
        request_body: bytes | None,
        request_headers: dict[str, str] | None = None,
        record_stream: bool = True,
        reading: Reading | None = None,
        config_hash: str | None = None,
    ) -> None:
        self._clock = clock
        self.reading = reading
        self.config_hash = config_hash
        self.context: ContextNote | None = None
        """The conversation state, snapshot and cache decision (set by the gateway when it has any)."""
        self.id = trace_id
        self.t0 = clock.now()
        self.ts = clock.wall()
        self.model = model
        self.ingress = ingress
        self.stream = stream
        self.request_body = request_body
        self._request_text = body_text(request_body)
        self.request_headers = request_headers or {}
        self.record_stream = record_stream
        self.route: Route | None = None
        self.attempts: list[Attempt] = []
        self.events: list[AnyEvent] = []
        self.writes: list[tuple[float, bytes]] = []
        self.answered_by: str | None = None
        self.committed_ms: float | None = None
        self.open_attempts = 0  # committed streams whose outcome has not arrived yet
        self._answer: tuple[int, bytes] | None = None  # (attempt index, its upstream answer bytes)

    # -- time ----------------------------------------------------------------------------------------
    def ms(self) -> float:
        """Milliseconds since the request arrived (`ms3`, inlined: these run several times a request)."""
        return round((self._clock.now() - self.t0) * 1_000_000.0) / 1000.0

    def offset_ms(self, at: float) -> float:
        """A reading of the same clock, as milliseconds since the request arrived (`ms3`, inlined)."""
        return round((at - self.t0) * 1_000_000.0) / 1000.0

    # -- what the engine records -----------------------------------------------------------------------
    def add(self, event: AnyEvent) -> None:
        self.events.append(event)

    @property
    def attempt_count(self) -> int:
        """Attempts that reached an adapter and ended, plus committed streams still running."""
        return len(self.attempts) + self.open_attempts

    def committed(self, target_key: str) -> None:
        """A stream reached its first content at `target_key`: its outcome comes when it ends."""
        self.committed_ms = self.ms()
        self.answered_by = target_key
        self.open_attempts += 1

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        """Observer: one attempt ended (see `AttemptOutcome`)."""
        info = outcome.info
        error = outcome.error
        target = outcome.target
        index = len(self.attempts)
        if outcome.committed:
            self.open_attempts = max(0, self.open_attempts - 1)
        if info.reads:
            upstream: bytes | None = b"".join(piece for _at, piece in info.reads)
            reads: tuple[tuple[float, int], ...] | None = tuple(
                (self.offset_ms(at), len(piece)) for at, piece in info.reads
            )
        else:
            upstream, reads = info.response_body, None
        if upstream is not None and (error is None or outcome.committed):
            self._answer = (index, upstream)
        if error is None and not outcome.committed:
            self.answered_by = target.key
        request = info.request_body
        offset = self.offset_ms
        # positional, in field order: this runs once per attempt (keywords cost several times more)
        self.attempts.append(
            Attempt(
                index,
                target.provider,
                target.model,
                outcome.kind.value,
                info.url,
                offset(outcome.started),
                ms3(outcome.ended - outcome.started),
                None if outcome.ttft_s is None else ms3(outcome.ttft_s),
                ms3(outcome.backoff_s),
                info.status,
                None if error is None else error.error_class.value,
                None if error is None else error.message,
                None if error is None else error.retry_after,
                info.usage,
                info.response_model,
                info.system_fingerprint,
                info.ratelimit or None,
                outcome.committed,
                outcome.retry,
                outcome.hedge,
                None if info.head_at is None else offset(info.head_at),
                (self._request_text if request == self.request_body else body_text(request))
                if request
                else None,
                body_text(upstream),
                reads,
                info.body_end,
                info.service_tier,
            )
        )

    # -- what the client was sent --------------------------------------------------------------------
    def sent(self, body: bytes) -> None:
        """One write of a streamed response body, as it went to the client."""
        if self.record_stream:
            self.writes.append((self.ms(), body))

    def finish(
        self,
        *,
        status: int,
        body: bytes | None = None,
        error: SeawallError | None = None,
        terminal: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> TraceRecord:
        """The finished record. `body`: a whole (non-streamed) response body; a stream's body is
        what `sent()` saw. `terminal` (streams): done | error | client_disconnect."""
        duration = self.ms()
        if self.stream:
            sent = b"".join(piece for _t, piece in self.writes) if self.writes else b""
            response = ResponsePart(
                self._same_as_answer(sent) if self.record_stream else None,
                tuple((t, len(piece)) for t, piece in self.writes) if self.record_stream else None,
                terminal,
            )
        else:
            response = ResponsePart(None if body is None else self._same_as_answer(body))
        return TraceRecord(
            self.id,
            self.ts,
            self.model,
            self.ingress,
            self.stream,
            status,
            duration,
            RequestPart(self.request_headers, self._request_text),
            self.committed_ms,
            self.answered_by,
            None if error is None else error_info(error),
            usage,
            self.route,
            tuple(self.attempts),
            tuple(self.events),
            response,
            self.config_hash,
            None if (r := self.reading) is None else Capture(tuple(r.now), tuple(r.wall), tuple(r.draws)),
            None,
            self.context,
        )

    def _same_as_answer(self, body: bytes) -> str | None:
        """`body` as text, sharing the answering attempt's text when the bytes are the same."""
        answer = self._answer
        if answer is not None and answer[1] == body:
            text = self.attempts[answer[0]].response_body
            if isinstance(text, str):
                return text
        return body_text(body)


__all__ = ["Trace", "body_text", "error_info"]
