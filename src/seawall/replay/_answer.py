"""Answers made comparable: one `Answer` from any answer a trace recorded or a live call produced.

A trace keeps an answer in several shapes. `response.body` holds the bytes the client got, in the
record's ingress dialect: an OpenAI `chat.completion` or SSE stream of chunks, an Anthropic `message`
or SSE stream of events. Every attempt keeps the upstream's own bytes in its adapter's dialect
(`Attempt.kind`: OpenAI, Anthropic or Gemini, whole or streamed). A live re-run makes one more such
attempt. To compare any two of them, each is reduced to an `Answer`:

- what the model said: `text`, `tool_calls` (name and parsed arguments; ids are left out, they are
  minted per answer), `finish_reason` (canonical: `stop`, `length`, `tool_calls`, `content_filter`);
- what it cost: `input_tokens`, `output_tokens` (canonical usage: Anthropic cache reads and writes
  count as input, Gemini thoughts as output, as the adapters count them);
- who said it: `response_model`, `system_fingerprint`, `service_tier`, as the provider reported them;
- how it went: `latency_ms`, `ttft_ms`, `status`, and `error` when it failed.

Only the first choice (index 0) is compared. Nothing here parses a wire format: whole answers and
stream events are decoded by the adapters' own decoders (`from_anthropic_response`,
`AnthropicStreamDecoder`, `from_gemini_response`, `GeminiStreamDecoder`) into canonical OpenAI
completions and chunks, and SSE framing is read by `sse_data`, the same reader `seawall traces show`
uses. An error the bytes carry (an in-stream error event, a blocked Gemini answer) becomes
`Answer.error` and keeps what was decoded before it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from seawall._types import JSONDict
from seawall.errors import UpstreamError
from seawall.providers._anthropic_stream import AnthropicStreamDecoder
from seawall.providers._anthropic_wire import from_anthropic_response
from seawall.providers._gemini_stream import GeminiStreamDecoder
from seawall.providers._gemini_wire import from_gemini_response
from seawall.trace._render import sse_data
from seawall.trace._schema import Attempt, TraceRecord


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call: the function's name and its arguments, parsed from their JSON text (kept as
    the text itself when it is not valid JSON: a model can emit broken arguments)."""

    name: str
    arguments: Any


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer, reduced to what two answers can be compared on (see the module docstring).
    Fields a source did not carry are `None` (a stream without usage has no token counts)."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    status: int | None = None
    error: str | None = None
    """Why the answer failed or is incomplete (`"<error class>: <message>"`), or `None`."""


# -- canonical shapes ------------------------------------------------------------------------------
def answer_from_completion(body: Mapping[str, Any]) -> Answer:
    """A canonical (OpenAI) `chat.completion` → `Answer`: its first choice, usage and identity."""
    choice = _first_choice(body.get("choices"))
    message = _obj(choice.get("message"))
    content = message.get("content")
    calls = _list(message.get("tool_calls"))
    inp, out = _tokens(body.get("usage"))
    return Answer(
        text=content if isinstance(content, str) else "",
        tool_calls=tuple(_tool_call(call.get("function")) for call in calls if isinstance(call, dict)),
        finish_reason=_str(choice.get("finish_reason")),
        input_tokens=inp,
        output_tokens=out,
        response_model=_str(body.get("model")),
        system_fingerprint=_str(body.get("system_fingerprint")),
        service_tier=_str(body.get("service_tier")),
    )


def answer_from_chunks(chunks: Iterable[Mapping[str, Any]]) -> Answer:
    """Canonical `chat.completion.chunk`s → `Answer`, as a client assembles a stream: text deltas
    joined, tool-call pieces joined by their `index`, the last finish reason and usage, and the
    first model, fingerprint and service tier reported."""
    text: list[str] = []
    calls: dict[int, tuple[str, list[str]]] = {}
    finish: str | None = None
    usage: Any = None
    model = fingerprint = tier = None
    for chunk in chunks:
        model = model or _str(chunk.get("model"))
        fingerprint = fingerprint or _str(chunk.get("system_fingerprint"))
        tier = tier or _str(chunk.get("service_tier"))
        usage = chunk.get("usage") or usage
        for choice in _list(chunk.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            finish = _str(choice.get("finish_reason")) or finish
            delta = _obj(choice.get("delta"))
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            for position, piece in enumerate(_list(delta.get("tool_calls"))):
                if not isinstance(piece, dict):
                    continue
                index = _int(piece.get("index"))
                key = position if index is None else index
                _name, arguments = calls.setdefault(key, ("", []))
                function = _obj(piece.get("function"))
                name = _str(function.get("name"))
                if name is not None:
                    calls[key] = (name, arguments)
                if isinstance(function.get("arguments"), str):
                    arguments.append(function["arguments"])
    inp, out = _tokens(usage)
    return Answer(
        text="".join(text),
        tool_calls=tuple(
            ToolCall(name, _arguments("".join(arguments))) for _i, (name, arguments) in sorted(calls.items())
        ),
        finish_reason=finish,
        input_tokens=inp,
        output_tokens=out,
        response_model=model,
        system_fingerprint=fingerprint,
        service_tier=tier,
    )


# -- wire bytes of any dialect ---------------------------------------------------------------------
def decode_answer(kind: str, body: str | bytes | None, *, stream: bool) -> Answer:
    """The content of an answer's bytes in dialect `kind` (`openai`, `anthropic`, `gemini`): a
    whole answer, or with `stream` an SSE body. Timing and status are left to the caller. An error
    the bytes carry is `Answer.error`; for a stream, what came before it is kept."""
    if body is None:
        return Answer()
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    if not text.strip():
        return Answer()
    if stream:
        return _decode_stream(kind, text)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Answer(error="bad_response: the answer is not valid JSON")
    if not isinstance(data, dict):
        return Answer(error="bad_response: the answer is not a JSON object")
    try:
        return _decode_whole(kind, data)
    except UpstreamError as exc:
        return Answer(error=describe(exc))


def _decode_whole(kind: str, data: JSONDict) -> Answer:
    if kind == "anthropic":
        if data.get("type") == "error":
            return Answer(error=_error_body(data))
        answer = answer_from_completion(from_anthropic_response(data, request_model="", created=0))
        return dataclasses.replace(answer, service_tier=_anthropic_tier(data))
    if kind == "gemini":
        return answer_from_completion(from_gemini_response(data, request_model="", created=0))
    if "error" in data:
        return Answer(error=_error_body(data))
    return answer_from_completion(data)


def _decode_stream(kind: str, text: str) -> Answer:
    feed = _feeder(kind)
    chunks: list[JSONDict] = []
    tier: str | None = None
    error: str | None = None
    try:
        for payload in sse_data(text):
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue  # `[DONE]`
            if isinstance(event, dict):
                if kind == "anthropic" and event.get("type") == "message_start":
                    tier = _anthropic_tier(event.get("message"))
                chunks += feed(event)
    except UpstreamError as exc:
        error = describe(exc)
    except _ErrorEvent as exc:
        error = str(exc)
    answer = answer_from_chunks(chunks)
    return dataclasses.replace(answer, service_tier=answer.service_tier or tier, error=error)


class _ErrorEvent(Exception):
    """An OpenAI stream's terminal `{"error": ...}` event (its text: `type: message`)."""


def _feeder(kind: str) -> Callable[[JSONDict], list[JSONDict]]:
    """Canonical chunks of one stream event, by the adapter's own decoder for `kind`."""
    if kind == "anthropic":
        anthropic = AnthropicStreamDecoder(request_model="", created=0)
        return lambda event: anthropic.feed("", event)  # an event's data names its type
    if kind == "gemini":
        return GeminiStreamDecoder(request_model="", created=0).feed

    def openai(event: JSONDict) -> list[JSONDict]:
        if "error" in event:
            raise _ErrorEvent(_error_body(event))
        return [event]

    return openai


# -- what a trace recorded ---------------------------------------------------------------------------
def answer_from_response(record: TraceRecord) -> Answer:
    """The answer the client got (`response.body`, in the record's ingress dialect), with the
    request's duration, time to first token, status, and the error the client was given."""
    body = record.response.body if isinstance(record.response.body, str) else None
    if record.stream or record.status < 300:
        answer = decode_answer(record.ingress, body, stream=record.stream)
    else:
        answer = Answer()
    error = answer.error
    if record.error is not None:
        kind = record.error.error_class or record.error.type
        error = f"{kind}: {record.error.message}"
    elif record.status == 499 or record.response.terminal == "client_disconnect":
        error = "client_disconnect: the client left before the answer was complete"
    return dataclasses.replace(
        answer, latency_ms=record.duration_ms, ttft_ms=record.ttft_ms, status=record.status, error=error
    )


def answer_from_attempt(attempt: Attempt, *, stream: bool) -> Answer:
    """What one attempt's upstream answered (`response_body`, in the attempt's `kind`), with its
    latency, TTFT, status and error. A non-2xx body is an error body: it carries no answer. Usage
    and identity the bytes lack are taken from what the adapter recorded on the attempt."""
    failed = attempt.status is not None and attempt.status >= 300
    body = attempt.response_body if isinstance(attempt.response_body, str) else None
    answer = Answer() if failed else decode_answer(attempt.kind, body, stream=stream)
    error = answer.error
    if attempt.error_class is not None:
        error = f"{attempt.error_class}: {attempt.error}"
    return _with_attempt(answer, attempt, error)


def answering_attempt(record: TraceRecord) -> Attempt | None:
    """The attempt whose answer the client got (`answered_by`; for a stream, the committed one),
    else the last attempt (a failed request: the last failure), else `None` (no attempt made)."""
    if record.answered_by is not None:
        for attempt in reversed(record.attempts):
            key = f"{attempt.provider}/{attempt.model}"
            if key == record.answered_by and (attempt.error_class is None or attempt.committed):
                return attempt
    return record.attempts[-1] if record.attempts else None


def recorded_answer(record: TraceRecord) -> Answer:
    """The recorded answer a live re-run is compared with: the answering attempt's upstream bytes
    (`answer_from_attempt`), like for like with a live attempt. A version 1 record kept no bytes for
    a streamed attempt: the client's copy (`answer_from_response`) stands in, with the attempt's
    timing, usage and identity. A request with no attempt at all gives the client's answer."""
    attempt = answering_attempt(record)
    if attempt is None:
        return answer_from_response(record)
    answered = attempt.error_class is None or attempt.committed
    if attempt.response_body is None and answered and isinstance(record.response.body, str):
        client = answer_from_response(record)
        return _with_attempt(client, attempt, client.error)
    return answer_from_attempt(attempt, stream=record.stream)


def describe(exc: UpstreamError) -> str:
    """An upstream failure as `Answer.error` shows it: `"<error class>: <message>"`."""
    return f"{exc.error_class.value}: {exc.message}"


# -- helpers -----------------------------------------------------------------------------------------
def _with_attempt(answer: Answer, attempt: Attempt, error: str | None) -> Answer:
    inp, out = _tokens(attempt.usage)
    return dataclasses.replace(
        answer,
        input_tokens=answer.input_tokens if answer.input_tokens is not None else inp,
        output_tokens=answer.output_tokens if answer.output_tokens is not None else out,
        response_model=answer.response_model or attempt.response_model,
        system_fingerprint=answer.system_fingerprint or attempt.system_fingerprint,
        latency_ms=attempt.latency_ms,
        ttft_ms=attempt.ttft_ms,
        status=attempt.status,
        error=error,
    )


def _first_choice(choices: Any) -> JSONDict:
    if not isinstance(choices, list):
        return {}
    valid = [c for c in choices if isinstance(c, dict)]
    return next((c for c in valid if c.get("index", 0) == 0), valid[0] if valid else {})


def _tool_call(function: Any) -> ToolCall:
    function = function if isinstance(function, dict) else {}
    return ToolCall(str(function.get("name") or ""), _arguments(function.get("arguments")))


def _arguments(raw: Any) -> Any:
    """Tool-call arguments: OpenAI sends a JSON text; empty means no arguments."""
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _tokens(usage: Any) -> tuple[int | None, int | None]:
    """Canonical usage → (input, output) tokens, the counts compared (`None` when not reported)."""
    if not isinstance(usage, dict):
        return None, None
    return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def _anthropic_tier(message: Any) -> str | None:
    usage = message.get("usage") if isinstance(message, dict) else None
    return _str(usage.get("service_tier")) if isinstance(usage, dict) else None


def _error_body(data: JSONDict) -> str:
    """An error object (`{"error": {...}}`, OpenAI's and Anthropic's alike) as `type: message`."""
    error = data.get("error")
    if isinstance(error, dict):
        return f"{error.get('type') or 'error'}: {error.get('message') or '(no message)'}"
    return f"error: {error}"


def _obj(value: Any) -> JSONDict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = [
    "Answer",
    "ToolCall",
    "answer_from_attempt",
    "answer_from_chunks",
    "answer_from_completion",
    "answer_from_response",
    "answering_attempt",
    "decode_answer",
    "describe",
    "recorded_answer",
]
