"""What of a record is searchable (`TraceQuery.text`) and what else a store indexes of it.

- **Request text**: the words of what the client sent: every string under a message's `content` (text
  parts, tool results), `system`, tool calls (name and arguments) and tool `input`, in every message
  of the request, whatever its dialect. JSON keys, roles, ids and media (`url`, `data`, `source`:
  images, files) are left out. A body that is not JSON is searched as it is.
- **Answer text**: what the client was answered: a JSON answer's message text and tool-call arguments
  (or an error's message); a stream's text deltas joined as the client would read them (so a word cut
  across two chunks is still one word), then its tool-call argument deltas, then any error event's
  message. A stream recorded without its body (`traces.record_chunks: false`) has none.
- **Targets**: every `provider/model` an attempt went to, in order, and the one that answered.
- **Error classes**: the class of every attempt's error and of the error the client got, once each.

Computed on the recorder's writer thread (never the event loop) and, for deletes from an index that
keeps no copy of the text, again from the stored record: so each function here must give the same
result for the same record, always. A change to what they return is a change of `TEXT_VERSION`
(stores re-index what they hold).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from seawall.trace._schema import Text, TraceRecord

TEXT_VERSION = 1
"""The version of what `search_text` returns (a store built with another re-indexes)."""

CONVERSATION_HEADER = "x-seawall-conversation-id"
"""The client header that names the conversation a request belongs to."""

_DATA_LINE = re.compile(r"^data: ?(\{.*)", re.MULTILINE)
_TEXT_KEYS = frozenset(
    {
        "content",
        "text",
        "system",
        "tool_calls",
        "function_call",
        "arguments",
        "input",
        "message",
        "partial_json",
    }
)
_SKIP_KEYS = frozenset(
    {
        "type",
        "role",
        "id",
        "index",
        "tool_call_id",
        "tool_use_id",
        "cache_control",
        "media_type",
        "data",
        "url",
        "image_url",
        "input_audio",
        "file",
        "source",
        "signature",
        "model",
        "object",
        "created",
        "usage",
        "finish_reason",
        "stop_reason",
        "logprobs",
    }
)


def conversation_id(record: TraceRecord) -> str | None:
    return record.request.headers.get(CONVERSATION_HEADER) or None


def targets(record: TraceRecord) -> tuple[str, ...]:
    """Every target an attempt went to (in order, once each), and the one that answered."""
    seen = dict.fromkeys(f"{a.provider}/{a.model}" for a in record.attempts)
    if record.answered_by:
        seen.setdefault(record.answered_by)
    return tuple(seen)


def error_classes(record: TraceRecord) -> tuple[str, ...]:
    """Every class of error the attempts had, and the client's error's (`timeout`, ...), once each."""
    seen = dict.fromkeys(a.error_class for a in record.attempts if a.error_class)
    if record.error is not None and record.error.error_class:
        seen.setdefault(record.error.error_class)
    return tuple(seen)


def search_text(record: TraceRecord) -> tuple[str, str]:
    """(request text, answer text) of a record (see the module docstring)."""
    response = record.response.body
    if record.stream:
        answer = stream_text(response) if isinstance(response, str) else ""
    else:
        answer = body_text(response)
    return request_text(record.request.body), answer


# What is read of a body: decoded by msgspec straight into these (every other key is skipped in C);
# a body of another shape is walked as plain JSON (`_collect`) instead.
class _Message(msgspec.Struct, gc=False):
    content: Any = None
    tool_calls: Any = None
    function_call: Any = None


class _Request(msgspec.Struct, gc=False):
    messages: list[_Message] | None = None
    system: Any = None


class _Choice(msgspec.Struct, gc=False):
    message: _Message | None = None
    delta: _Message | None = None


class _Body(msgspec.Struct, gc=False):
    """An answer, an error, or one stream event, of either dialect."""

    choices: list[_Choice] | None = None
    content: Any = None  # Anthropic: the answer's blocks
    type: Any = None
    delta: Any = None  # Anthropic: a content_block_delta's
    error: Any = None


_request = msgspec.json.Decoder(_Request)
_body = msgspec.json.Decoder(_Body)
_events = msgspec.json.Decoder(list[_Body])


def request_text(body: Text) -> str:
    """The words of a request's messages (and `system`), whatever its dialect."""
    if not isinstance(body, str) or not body:
        return ""
    out: list[str] = []
    try:
        request = _request.decode(body)
    except msgspec.ValidationError:
        return _walk(body)  # JSON of another shape
    except msgspec.DecodeError:
        return body  # not JSON: searched as it is
    if request.system is not None:
        _collect(request.system, True, out)
    for message in request.messages or ():
        _message(message, out)
    return " ".join(out)


def _message(message: _Message, out: list[str]) -> None:
    content = message.content
    if isinstance(content, str):
        if content:
            out.append(content)
    elif content is not None:
        _collect(content, True, out)
    if message.tool_calls is not None:
        _collect(message.tool_calls, True, out)
    if message.function_call is not None:
        _collect(message.function_call, True, out)


def body_text(body: Text) -> str:
    """The words of a JSON answer or error (or of a non-JSON body, as it is)."""
    if not isinstance(body, str) or not body:
        return ""
    out: list[str] = []
    try:
        answer = _body.decode(body)
    except msgspec.ValidationError:
        return _walk(body)
    except msgspec.DecodeError:
        return body
    for choice in answer.choices or ():
        if choice.message is not None:
            _message(choice.message, out)
    if answer.content is not None:
        _collect(answer.content, True, out)
    _error(answer.error, out)
    return " ".join(out)


def _walk(body: str) -> str:
    """The words of JSON of no known shape: strings under the keys that hold text."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    out: list[str] = []
    _collect(value, False, out)
    return " ".join(out)


def _error(error: Any, out: list[str]) -> None:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        out.append(error["message"])


def _collect(value: Any, inside: bool, out: list[str]) -> None:
    if isinstance(value, str):
        if inside and value:
            out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _SKIP_KEYS:
                _collect(item, inside or key in _TEXT_KEYS, out)
    elif isinstance(value, list):
        for item in value:
            _collect(item, inside, out)
    elif inside and isinstance(value, int | float) and not isinstance(value, bool):
        out.append(str(value))


def sse_data(body: str) -> Iterator[str]:
    """The `data` of each event of an SSE body (its `data:` lines joined, as a client reads them)."""
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if lines:
            yield "\n".join(lines)


def _sse_events(body: str) -> list[_Body]:
    """The JSON events of an SSE body. Fast when each event's data is one line (as every provider
    and Seawall write them): all of them in one decode; else event by event."""
    try:
        return _events.decode("[" + ",".join(_DATA_LINE.findall(body)) + "]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    events = []
    for data in sse_data(body):
        try:
            events.append(_body.decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # `[DONE]`, or not an event
    return events


def stream_parts(body: str) -> tuple[str, str, str]:
    """(text, tool-call arguments, error messages) of a streamed answer, from the SSE body the client
    got: OpenAI chunks' `content` and `arguments` deltas, Anthropic `text_delta`s and
    `input_json_delta`s, and the message of any error event."""
    text: list[str] = []
    arguments: list[str] = []
    errors: list[str] = []
    for event in _sse_events(body):
        for choice in event.choices or ():
            delta = choice.delta
            if delta is None:
                continue
            if isinstance(delta.content, str):
                text.append(delta.content)
            for call in delta.tool_calls if isinstance(delta.tool_calls, list) else ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    arguments.append(function["arguments"])
        if event.type == "content_block_delta" and isinstance(event.delta, dict):
            kind = event.delta.get("type")
            if kind == "text_delta":
                text.append(str(event.delta.get("text") or ""))
            elif kind == "input_json_delta":
                arguments.append(str(event.delta.get("partial_json") or ""))
        _error(event.error, errors)
    return "".join(text), "".join(arguments), " ".join(errors)


def stream_text(body: str) -> str:
    """Everything searchable of a streamed answer (`stream_parts`, joined)."""
    return " ".join(part for part in stream_parts(body) if part)


__all__ = [
    "CONVERSATION_HEADER",
    "TEXT_VERSION",
    "body_text",
    "conversation_id",
    "error_classes",
    "request_text",
    "search_text",
    "sse_data",
    "stream_parts",
    "stream_text",
    "targets",
]
