"""Online signals: what one finished request says about the target that answered it.

`signals_of(record)` reads a `TraceRecord` and returns its `Signals`: the target (`answered_by`), one
True/False per rate signal the answer can be judged on, and the continuous values it has. The
answer is read from `response.body`, the bytes the client got in its own dialect (OpenAI or
Anthropic, JSON or SSE), so every upstream dialect is covered by the ingress translation:

    EMPTY_ANSWER       no text (outer whitespace aside), no refusal text and no tool call
    FINISH_LENGTH      stopped by the token limit: OpenAI `length`; Anthropic `max_tokens` (and
                       `model_context_window_exceeded`); Gemini `MAX_TOKENS` reaches clients as these
    REFUSAL            OpenAI `message.refusal` text or finish `content_filter`; Anthropic stop
                       `refusal`; a Gemini block (SAFETY, RECITATION, PROHIBITED_CONTENT...): see below
    INVALID_JSON       only when an OpenAI client asked for JSON (`response_format` `json_object` or
                       `json_schema`): the text is not JSON (a ```json fenced block is accepted, as
                       the canary verifiers accept it) or not valid against the schema
    INVALID_TOOL_ARGS  only when the answer called tools: a call names no offered tool, or its
                       arguments are not a JSON object valid against that tool's schema
    OUTPUT_TOKENS      the request's usage (`completion_tokens`), else what the answer reported
    TTFT_MS            streams: the request's time to first token
    LATENCY_MS         non-streamed: the answering attempt's latency

Each problem is counted under one signal: INVALID_JSON and INVALID_TOOL_ARGS judge only answers that
finished on their own (not cut by the token limit, not refused), and INVALID_JSON only a text answer
(not a tool call), so a truncated or refused answer does not also count as malformed.

A Gemini block never reaches a client as an answer: the adapter turns it into a `content_filter`
error (the client gets a 400, or the next target answers). When the request failed that way and
the upstream had answered 200, the blocking target gets `Signals` with `REFUSAL` True and nothing
else. Every other request that is not a successful answer (status not 200, no `answered_by`, a
stream that ended in an error or lost its client, a body not recorded or unreadable) gives None.

Tool and response schemas are compiled once per distinct schema (a bounded LRU keyed by the
schema's JSON); a schema that is not valid JSON Schema is not held against the model (only JSON-ness
is checked). Runs off the event loop (`OnlineFeed`'s thread). Must not: do I/O, read a clock, or
raise on what a record holds.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import msgspec
import orjson
from jsonschema.protocols import Validator

from seawall.providers._anthropic_stream import FINISH_REASON
from seawall.quality._detect._online import OnlineSignal
from seawall.quality._verify import parse_json
from seawall.trace._schema import Attempt, TraceRecord
from seawall.trace._text import sse_data

SCHEMA_CACHE_SIZE = 256
"""Distinct JSON schemas (tools' `parameters`, `response_format` schemas) kept compiled."""

_JSON_FORMATS = frozenset({"json_object", "json_schema"})
_DATA_LINE = re.compile(r"^data: ?(\{.*)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Signals:
    """What one answer said about `target` ("provider/model"): a verdict per rate signal it could
    be judged on (True: the problem was seen) and the values it carried, in `OnlineSignal` order."""

    target: str
    rates: tuple[tuple[OnlineSignal, bool], ...]
    values: tuple[tuple[OnlineSignal, float], ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as the client read it (the first choice)."""

    text: str = ""
    refusal: str = ""
    """OpenAI's `refusal` text (Anthropic has none: its refusal is a stop reason)."""
    tool_calls: tuple[tuple[str, Any], ...] = ()
    """(name, arguments): a JSON text (OpenAI, an Anthropic stream) or the object (Anthropic)."""
    finish: str | None = None
    """Canonical: `stop`, `length`, `tool_calls`, `content_filter`."""
    output_tokens: int | None = None


# -- the client's bytes, decoded leniently (unknown fields skipped, missing ones None) -----------------
class _Function(msgspec.Struct, gc=False):
    name: Any = None
    arguments: Any = None


class _Call(msgspec.Struct, gc=False):
    index: Any = None
    function: _Function | None = None


class _Message(msgspec.Struct, gc=False):
    content: Any = None
    refusal: Any = None
    tool_calls: list[_Call] | None = None


class _Choice(msgspec.Struct, gc=False):
    index: Any = 0
    message: _Message | None = None
    delta: _Message | None = None
    finish_reason: Any = None


class _Usage(msgspec.Struct, gc=False):
    completion_tokens: Any = None
    output_tokens: Any = None


class _OpenAI(msgspec.Struct, gc=False):
    """A `chat.completion`, or one `chat.completion.chunk` of a stream."""

    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: Any = None


class _Block(msgspec.Struct, gc=False):
    type: Any = None
    text: Any = None
    name: Any = None
    input: Any = None
    partial_json: Any = None
    stop_reason: Any = None


class _Anthropic(msgspec.Struct, gc=False):
    """A `message`, or one stream event (`message` is `message_start`'s)."""

    type: Any = None
    content: list[_Block] | None = None
    stop_reason: Any = None
    usage: _Usage | None = None
    index: Any = None
    content_block: _Block | None = None
    delta: _Block | None = None
    message: _Anthropic | None = None
    error: Any = None


class _Request(msgspec.Struct, gc=False):
    """The two fields of a client request the signals need (the rest is skipped unread)."""

    response_format: Any = None
    tools: Any = None


_openai = msgspec.json.Decoder(_OpenAI)
_openai_events = msgspec.json.Decoder(list[_OpenAI])
_anthropic = msgspec.json.Decoder(_Anthropic)
_anthropic_events = msgspec.json.Decoder(list[_Anthropic])
_request = msgspec.json.Decoder(_Request)
_BAD = (msgspec.DecodeError, msgspec.ValidationError)


class _Unreadable(Exception):
    """The answer's bytes are not an answer this module can read."""


# -- the entry point -------------------------------------------------------------------------------------
def signals_of(record: TraceRecord) -> Signals | None:
    """The online signals of one finished request, or None when it was no answer (module docstring)."""
    if record.status != 200:
        return _blocked(record)
    target = record.answered_by
    body = record.response.body
    if target is None or record.error is not None or not isinstance(body, str):
        return None
    if record.stream and record.response.terminal not in (None, "done"):
        return None
    reply = read_reply(record.ingress, body, stream=record.stream)
    if reply is None:
        return None
    return Signals(target, _rates(record, reply), _values(record, reply))


def read_reply(ingress: str, body: str, *, stream: bool) -> Reply | None:
    """The answer in a client's response `body` (dialect `ingress`; `stream`: an SSE body), or None
    for bytes that are not one or that carry an error."""
    try:
        if ingress == "anthropic":
            return _anthropic_stream(body) if stream else _anthropic_message(_anthropic.decode(body))
        if ingress == "openai":
            return _openai_stream(body) if stream else _openai_completion(_openai.decode(body))
    except (*_BAD, _Unreadable):
        return None
    return None


# -- rates and values ------------------------------------------------------------------------------------
def _rates(record: TraceRecord, reply: Reply) -> tuple[tuple[OnlineSignal, bool], ...]:
    refused = bool(reply.refusal) or reply.finish == "content_filter"
    rates = [
        (OnlineSignal.EMPTY_ANSWER, not reply.text.strip() and not reply.refusal and not reply.tool_calls),
        (OnlineSignal.FINISH_LENGTH, reply.finish == "length"),
        (OnlineSignal.REFUSAL, refused),
    ]
    if refused or reply.finish == "length":
        return tuple(rates)  # a cut or refused answer is judged by those signals alone
    if reply.tool_calls:
        request = _request_fields(record)
        if request is not None:
            tools = _tool_schemas(record.ingress, request.tools)
            bad = any(not _call_ok(name, arguments, tools) for name, arguments in reply.tool_calls)
            rates.append((OnlineSignal.INVALID_TOOL_ARGS, bad))
    elif reply.text.strip() and _may_ask_json(record):
        request = _request_fields(record)
        json_format = _json_format(record.ingress, request.response_format if request else None)
        if json_format is not None:
            rates.append((OnlineSignal.INVALID_JSON, not _json_ok(reply.text, json_format)))
    return tuple(rates)


def _values(record: TraceRecord, reply: Reply) -> tuple[tuple[OnlineSignal, float], ...]:
    values: list[tuple[OnlineSignal, float]] = []
    tokens = _int((record.usage or {}).get("completion_tokens"))
    tokens = reply.output_tokens if tokens is None else tokens
    if tokens is not None:
        values.append((OnlineSignal.OUTPUT_TOKENS, float(tokens)))
    if record.stream:
        if record.ttft_ms is not None:
            values.append((OnlineSignal.TTFT_MS, record.ttft_ms))
    else:
        attempt = _answering(record)
        if attempt is not None:
            values.append((OnlineSignal.LATENCY_MS, attempt.latency_ms))
    return tuple(values)


def _blocked(record: TraceRecord) -> Signals | None:
    """A request failed by a content filter on an answer the upstream gave (200): a refusal."""
    if record.error is None or record.error.error_class != "content_filter" or not record.attempts:
        return None
    last = record.attempts[-1]
    if last.status != 200 or last.error_class != "content_filter":
        return None
    return Signals(f"{last.provider}/{last.model}", ((OnlineSignal.REFUSAL, True),), ())


def _answering(record: TraceRecord) -> Attempt | None:
    """The attempt whose answer the client got (the last one of `answered_by` that succeeded)."""
    for attempt in reversed(record.attempts):
        if f"{attempt.provider}/{attempt.model}" == record.answered_by and attempt.error_class is None:
            return attempt
    return None


# -- what the request asked for --------------------------------------------------------------------------
def _may_ask_json(record: TraceRecord) -> bool:
    """Cheap: can this request have asked for JSON? (Most requests are not parsed at all.)"""
    body = record.request.body
    return record.ingress == "openai" and isinstance(body, str) and '"response_format"' in body


def _request_fields(record: TraceRecord) -> _Request | None:
    body = record.request.body
    if not isinstance(body, str):
        return None
    try:
        return _request.decode(body)
    except _BAD:
        return None


def _json_format(ingress: str, response_format: Any) -> dict[str, Any] | None:
    """The JSON answer an OpenAI client asked for: `{}` (any JSON) or `{"schema": ...}`; else None.
    (Anthropic's Messages API has no JSON mode.)"""
    if ingress != "openai" or not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in _JSON_FORMATS:
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if kind == "json_schema" and isinstance(spec, dict) else None
    return {"schema": schema} if isinstance(schema, dict | bool) else {}


def _tool_schemas(ingress: str, tools: Any) -> dict[str, Any]:
    """Offered tool name → its parameter schema (None: none given). OpenAI `{type: function,
    function: {name, parameters}}`, Anthropic `{name, input_schema}`."""
    out: dict[str, Any] = {}
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        if ingress == "openai":
            function = tool.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                out[function["name"]] = function.get("parameters")
        elif isinstance(tool.get("name"), str):
            out[tool["name"]] = tool.get("input_schema")
    return out


# -- judging ---------------------------------------------------------------------------------------------
def _json_ok(text: str, json_format: dict[str, Any]) -> bool:
    try:
        value = parse_json(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be an answer
        return False
    return "schema" not in json_format or _valid(json_format["schema"], value)


def _call_ok(name: str, arguments: Any, tools: dict[str, Any]) -> bool:
    if name not in tools:
        return False
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            return False
    return isinstance(arguments, dict) and _valid(tools[name], arguments)


def _valid(schema: Any, value: Any) -> bool:
    """Is `value` valid against `schema`? A missing or unusable schema accepts everything."""
    if not isinstance(schema, dict | bool):
        return True
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
        return True
    validator = _validator(key)
    if validator is None:
        return True
    try:
        return bool(validator.is_valid(value))
    except Exception:  # an unresolvable `$ref`, a pattern Python cannot compile: the schema's fault
        return True


@functools.lru_cache(maxsize=SCHEMA_CACHE_SIZE)
def _validator(schema_json: bytes) -> Validator | None:
    """The compiled validator of one schema (by its sorted-key JSON), or None if it is no schema."""
    schema = orjson.loads(schema_json)
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        return cls(schema)
    except Exception:  # not a JSON Schema (SchemaError), or an odd `$schema`
        return None


# -- OpenAI ----------------------------------------------------------------------------------------------
def _openai_completion(body: _OpenAI) -> Reply:
    if body.error is not None:
        raise _Unreadable("an error body")
    choice = _first(body.choices)
    message = choice.message if choice is not None else None
    if message is None:
        return Reply(output_tokens=_tokens(body.usage))
    calls = tuple(
        (call.function.name, call.function.arguments)
        for call in message.tool_calls or ()
        if call.function is not None and isinstance(call.function.name, str)
    )
    return Reply(
        text=_text(message.content),
        refusal=_text(message.refusal),
        tool_calls=calls,
        finish=_str(choice.finish_reason) if choice is not None else None,
        output_tokens=_tokens(body.usage),
    )


def _openai_stream(body: str) -> Reply:
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, tuple[str, list[str]]] = {}
    finish: str | None = None
    tokens: int | None = None
    for event in _events(body, _openai_events, _openai):
        if event.error is not None:
            raise _Unreadable("an error event")
        if event.usage is not None:
            tokens = _tokens(event.usage)
        for choice in event.choices or ():
            if choice.index not in (0, None):
                continue
            if choice.finish_reason is not None:
                finish = _str(choice.finish_reason) or finish
            delta = choice.delta
            if delta is None:
                continue
            if isinstance(delta.content, str):  # the common case first: a stream is mostly text
                text.append(delta.content)
            if delta.refusal is not None:
                refusal.append(_text(delta.refusal))
            if not delta.tool_calls:
                continue
            for position, call in enumerate(delta.tool_calls):
                key = call.index if isinstance(call.index, int) else position
                _name, arguments = calls.setdefault(key, ("", []))
                if call.function is not None:
                    if isinstance(call.function.name, str) and call.function.name:
                        calls[key] = (call.function.name, arguments)
                    arguments.append(_text(call.function.arguments))
    return Reply(
        text="".join(text),
        refusal="".join(refusal),
        tool_calls=tuple((name, "".join(parts)) for _key, (name, parts) in sorted(calls.items())),
        finish=finish,
        output_tokens=tokens,
    )


# -- Anthropic -------------------------------------------------------------------------------------------
def _anthropic_message(body: _Anthropic) -> Reply:
    if body.type == "error" or body.error is not None:
        raise _Unreadable("an error body")
    text: list[str] = []
    calls: list[tuple[str, Any]] = []
    for block in body.content or ():
        if block.type == "text":
            text.append(_text(block.text))
        elif block.type == "tool_use" and isinstance(block.name, str):
            calls.append((block.name, block.input if block.input is not None else {}))
    return Reply(
        text="".join(text),
        tool_calls=tuple(calls),
        finish=_stop(body.stop_reason),
        output_tokens=_tokens(body.usage),
    )


def _anthropic_stream(body: str) -> Reply:
    text: list[str] = []
    calls: dict[int, tuple[str, Any, list[str]]] = {}
    stop: Any = None
    tokens: int | None = None
    for event in _events(body, _anthropic_events, _anthropic):
        kind = event.type
        if kind == "error" or event.error is not None:
            raise _Unreadable("an error event")
        if kind == "message_start" and event.message is not None:
            tokens = _tokens(event.message.usage)
        elif kind == "content_block_start" and event.content_block is not None:
            block = event.content_block
            if block.type == "text":
                text.append(_text(block.text))
            elif block.type == "tool_use" and isinstance(block.name, str) and isinstance(event.index, int):
                calls[event.index] = (block.name, block.input, [])
        elif kind == "content_block_delta" and event.delta is not None:
            delta = event.delta
            if delta.type == "text_delta":
                text.append(_text(delta.text))
            elif delta.type == "input_json_delta" and event.index in calls:
                calls[event.index][2].append(_text(delta.partial_json))
        elif kind == "message_delta":
            if event.delta is not None:
                stop = event.delta.stop_reason or stop
            tokens = _tokens(event.usage) if event.usage is not None else tokens
    return Reply(
        text="".join(text),
        tool_calls=tuple(
            (name, "".join(parts) if parts else (start if start is not None else {}))
            for _index, (name, start, parts) in sorted(calls.items())
        ),
        finish=_stop(stop),
        output_tokens=tokens,
    )


# -- helpers ---------------------------------------------------------------------------------------------
def _events(body: str, many: msgspec.json.Decoder[list[Any]], one: msgspec.json.Decoder[Any]) -> list[Any]:
    """An SSE body's JSON events. Each event's data is one line as every provider and Seawall write
    it, so all of them decode at once; else event by event (`[DONE]` and non-JSON data skipped)."""
    try:
        events: list[Any] = many.decode("[" + ",".join(_DATA_LINE.findall(body)) + "]")
        return events
    except _BAD:
        pass
    out = []
    for data in sse_data(body):
        try:
            out.append(one.decode(data))
        except _BAD:
            continue
    return out


def _first(choices: list[_Choice] | None) -> _Choice | None:
    if not choices:
        return None
    return next((c for c in choices if c.index in (0, None)), choices[0])


def _stop(stop_reason: Any) -> str | None:
    """Anthropic's stop reason in canonical words (as the adapters map it)."""
    return FINISH_REASON.get(stop_reason, "stop") if isinstance(stop_reason, str) else None


def _tokens(usage: _Usage | None) -> int | None:
    if usage is None:
        return None
    tokens = _int(usage.completion_tokens)
    return _int(usage.output_tokens) if tokens is None else tokens


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["SCHEMA_CACHE_SIZE", "Reply", "Signals", "read_reply", "signals_of"]
