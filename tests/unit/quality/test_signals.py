"""`signals_of`: online signals read from real records (requests through the gateway to embedded
simulators, in both ingress dialects, whole and streamed), and from real records with their answer
edited where the simulator cannot misbehave that way."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings

import seawall
from seawall._exchange import Relay
from seawall.ingress import ANTHROPIC, OPENAI
from seawall.quality._detect._online import OnlineSignal
from seawall.quality._signals import SCHEMA_CACHE_SIZE, Signals, _validator, read_reply, signals_of
from seawall.trace._schema import ErrorInfo, RequestPart, ResponsePart, TraceRecord
from tests.unit.trace.records import trace_records

S = OnlineSignal
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "weather", "parameters": WEATHER}}
]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "weather", "input_schema": WEATHER}]
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "a", "schema": ANSWER_SCHEMA, "strict": True},
}
DIALECTS = ("openai", "anthropic", "gemini")
PROVIDERS = [
    *({"name": d, "kind": "simulated", "dialect": d} for d in DIALECTS),
    *(
        {"name": f"blocked-{d}", "kind": "simulated", "dialect": d, "simulate": {"blocked_rate": 1}}
        for d in DIALECTS
    ),
    {"name": "failing", "kind": "simulated", "simulate": {"error_rate": 1}},
    {"name": "breaking", "kind": "simulated", "simulate": {"stream_error_rate": 1, "stream_error_after": 2}},
]
CONFIG = {
    "providers": PROVIDERS,
    "models": [{"name": p["name"], "targets": [{"provider": p["name"], "model": "sim"}]} for p in PROVIDERS],
    "traces": {"store": "none"},
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


async def _discard(data: bytes) -> None:
    return None


async def _ask(gw: seawall.Gateway, ingress: str, body: dict[str, Any]) -> TraceRecord:
    """One request through the gateway's request lifecycle, as the server makes it; its record."""
    records: list[TraceRecord] = []
    body = {"messages": QUESTION, **body}
    if ingress == "anthropic":
        body.setdefault("max_tokens", 200)
    elif body.get("stream"):
        body["stream_options"] = {"include_usage": True}
    exchange = gw.exchange(
        ANTHROPIC if ingress == "anthropic" else OPENAI, orjson.dumps(body), {}, record=records.append
    )
    if body.get("stream"):
        relay = await exchange.open_stream()
        if isinstance(relay, Relay):
            await relay.pump(_discard)
            await relay.close()
    else:
        await exchange.complete()
    (record,) = records
    return record


CASES: dict[str, tuple[str, dict[str, Any]]] = {
    # name: (ingress, body)
    **{
        f"{ingress}-{kind}-{'stream' if stream else 'json'}": (ingress, {"model": kind, "stream": stream})
        for ingress in ("openai", "anthropic")
        for kind in DIALECTS
        for stream in (False, True)
    },
    **{
        f"{ingress}-tools-{kind}-{'stream' if stream else 'json'}": (
            ingress,
            {
                "model": kind,
                "stream": stream,
                "tools": OPENAI_TOOLS if ingress == "openai" else ANTHROPIC_TOOLS,
            },
        )
        for ingress in ("openai", "anthropic")
        for kind in DIALECTS
        for stream in (False, True)
    },
    **{
        f"{ingress}-length-{'stream' if stream else 'json'}": (
            ingress,
            {"model": "anthropic", "stream": stream, "max_tokens": 3},
        )
        for ingress in ("openai", "anthropic")
        for stream in (False, True)
    },
    **{
        f"{ingress}-blocked-{kind}": (ingress, {"model": f"blocked-{kind}"})
        for ingress in ("openai", "anthropic")
        for kind in DIALECTS
    },
    "json-schema": ("openai", {"model": "openai", "response_format": JSON_SCHEMA_FORMAT}),
    "json-schema-stream": (
        "openai",
        {"model": "gemini", "stream": True, "response_format": JSON_SCHEMA_FORMAT},
    ),
    "json-object": ("openai", {"model": "openai", "response_format": {"type": "json_object"}}),
    "failed": ("openai", {"model": "failing"}),
    "broken-stream": ("openai", {"model": "breaking", "stream": True}),
}


@pytest.fixture(scope="module")
def records() -> dict[str, TraceRecord]:
    """Every case's record, made once through one gateway."""

    async def make() -> dict[str, TraceRecord]:
        async with seawall.Gateway.from_config(CONFIG) as gw:
            return {name: await _ask(gw, ingress, body) for name, (ingress, body) in CASES.items()}

    return asyncio.run(make())


def _signals(record: TraceRecord) -> Signals:
    signals = signals_of(record)
    assert signals is not None, record.response.body
    return signals


def _rates(record: TraceRecord) -> dict[OnlineSignal, bool]:
    return dict(_signals(record).rates)


def _edited(record: TraceRecord, old: str, new: str) -> TraceRecord:
    """`record` with `old` replaced by `new` in the answer its client got."""
    body = record.response.body
    assert isinstance(body, str) and old in body, (old, body)
    return msgspec.structs.replace(
        record, response=msgspec.structs.replace(record.response, body=body.replace(old, new))
    )


HEALTHY = {S.EMPTY_ANSWER: False, S.FINISH_LENGTH: False, S.REFUSAL: False}


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", DIALECTS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_healthy_answer(records: dict[str, TraceRecord], ingress: str, kind: str, stream: bool) -> None:
    record = records[f"{ingress}-{kind}-{'stream' if stream else 'json'}"]
    signals = _signals(record)
    assert signals.target == f"{kind}/sim" == record.answered_by
    assert dict(signals.rates) == HEALTHY  # no JSON asked for, no tool called: those are left out
    values = dict(signals.values)
    assert values[S.OUTPUT_TOKENS] == (record.usage or {})["completion_tokens"] > 0
    if stream:
        assert set(values) == {S.OUTPUT_TOKENS, S.TTFT_MS} and values[S.TTFT_MS] == record.ttft_ms
    else:
        assert set(values) == {S.OUTPUT_TOKENS, S.LATENCY_MS}
        assert values[S.LATENCY_MS] == record.attempts[-1].latency_ms


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", DIALECTS)
@pytest.mark.parametrize("stream", [False, True])
def test_valid_tool_calls(records: dict[str, TraceRecord], ingress: str, kind: str, stream: bool) -> None:
    record = records[f"{ingress}-tools-{kind}-{'stream' if stream else 'json'}"]
    reply = read_reply(record.ingress, str(record.response.body), stream=stream)
    assert reply is not None and [name for name, _ in reply.tool_calls] == ["get_weather"]
    assert _rates(record) == {**HEALTHY, S.INVALID_TOOL_ARGS: False}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Paris", 'Paris\\", \\"country\\": \\"FR'),  # a property the schema forbids
        ('\\"city\\": \\"Paris\\"', '\\"city\\": 75'),  # the wrong type
        ("get_weather", "get_wether"),  # a tool that was not offered
        ("{\\", "{{\\"),  # not JSON
    ],
)
def test_invalid_openai_tool_arguments(records: dict[str, TraceRecord], old: str, new: str) -> None:
    record = _edited(records["openai-tools-openai-json"], old, new)
    assert _rates(record)[S.INVALID_TOOL_ARGS] is True


@pytest.mark.parametrize(
    ("case", "old", "new"),
    [
        ("anthropic-tools-openai-json", '"city":"Paris"', '"city":["Paris"]'),  # `input` is an object
        ("anthropic-tools-openai-json", '"name":"get_weather"', '"name":"get_wether"'),
        ("anthropic-tools-gemini-stream", "Paris", 'Paris\\"}}'),  # the joined `partial_json` is no JSON
        ("openai-tools-anthropic-stream", '{\\"city', '{\\"town'),  # a required property missing
    ],
)
def test_invalid_tool_arguments_in_every_shape(
    records: dict[str, TraceRecord], case: str, old: str, new: str
) -> None:
    assert _rates(_edited(records[case], old, new))[S.INVALID_TOOL_ARGS] is True


def test_tool_calls_without_the_request_tools_are_invalid(records: dict[str, TraceRecord]) -> None:
    record = records["openai-tools-openai-json"]
    bare = msgspec.structs.replace(
        record, request=RequestPart(headers={}, body=orjson.dumps({"model": "openai"}).decode())
    )
    assert _rates(bare)[S.INVALID_TOOL_ARGS] is True
    unknown = msgspec.structs.replace(record, request=RequestPart(headers={}, body=None))
    assert S.INVALID_TOOL_ARGS not in _rates(unknown)  # nothing to judge by: left out


def test_json_mode(records: dict[str, TraceRecord]) -> None:
    for case in ("json-schema", "json-schema-stream", "json-object"):
        assert _rates(records[case]) == {**HEALTHY, S.INVALID_JSON: False}, case
    schema = records["json-schema"]
    reply = read_reply("openai", str(schema.response.body), stream=False)
    assert reply is not None
    text = orjson.dumps(reply.text).decode()[1:-1]  # as it is written inside the body
    assert _rates(_edited(schema, text, "no JSON here"))[S.INVALID_JSON] is True
    wrong_type = orjson.dumps(orjson.dumps({"answer": "many"}).decode()).decode()[1:-1]
    assert _rates(_edited(schema, text, wrong_type))[S.INVALID_JSON] is True
    fenced = orjson.dumps("```json\n" + reply.text + "\n```").decode()[1:-1]
    assert _rates(_edited(schema, text, fenced))[S.INVALID_JSON] is False
    # json_object: any JSON passes, even what the schema above forbids
    obj = records["json-object"]
    reply = read_reply("openai", str(obj.response.body), stream=False)
    assert reply is not None
    text = orjson.dumps(reply.text).decode()[1:-1]
    assert _rates(_edited(obj, text, "[1, 2]"))[S.INVALID_JSON] is False
    assert _rates(_edited(obj, text, "{oops"))[S.INVALID_JSON] is True


def test_no_json_judgement_unless_asked(records: dict[str, TraceRecord]) -> None:
    record = records["openai-openai-json"]
    assert S.INVALID_JSON not in _rates(record)  # the answer is prose, but nobody asked for JSON
    body = orjson.loads(str(record.request.body))
    asked = msgspec.structs.replace(
        record,
        request=RequestPart(
            headers={}, body=orjson.dumps({**body, "response_format": {"type": "text"}}).decode()
        ),
    )
    assert S.INVALID_JSON not in _rates(asked)


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_finish_length(records: dict[str, TraceRecord], ingress: str, stream: bool) -> None:
    record = records[f"{ingress}-length-{'stream' if stream else 'json'}"]
    assert _rates(record) == {**HEALTHY, S.FINISH_LENGTH: True}
    assert dict(_signals(record).values)[S.OUTPUT_TOKENS] == 3


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_refusals(records: dict[str, TraceRecord], ingress: str, kind: str) -> None:
    """OpenAI's `content_filter` finish and Anthropic's `refusal` stop, seen from either client."""
    record = records[f"{ingress}-blocked-{kind}"]
    assert record.status == 200
    assert _rates(record) == {S.EMPTY_ANSWER: True, S.FINISH_LENGTH: False, S.REFUSAL: True}


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_a_gemini_block_is_a_refusal_of_that_target(records: dict[str, TraceRecord], ingress: str) -> None:
    record = records[f"{ingress}-blocked-gemini"]
    assert record.status == 400 and record.answered_by is None  # the client got a content_filter error
    assert signals_of(record) == Signals("blocked-gemini/sim", ((S.REFUSAL, True),), ())


def test_an_openai_refusal_message(records: dict[str, TraceRecord]) -> None:
    record = records["openai-openai-json"]
    reply = read_reply("openai", str(record.response.body), stream=False)
    assert reply is not None and reply.text
    edited = _edited(
        record,
        f'"content":{orjson.dumps(reply.text).decode()},"refusal":null',
        '"content":null,"refusal":"I can\'t help with that."',
    )
    assert _rates(edited) == {S.EMPTY_ANSWER: False, S.FINISH_LENGTH: False, S.REFUSAL: True}
    schema = records["json-schema"]  # a structured-output refusal is not also invalid JSON
    reply = read_reply("openai", str(schema.response.body), stream=False)
    assert reply is not None
    edited = _edited(
        schema,
        f'"content":{orjson.dumps(reply.text).decode()},"refusal":null',
        '"content":null,"refusal":"No."',
    )
    assert _rates(edited) == {S.EMPTY_ANSWER: False, S.FINISH_LENGTH: False, S.REFUSAL: True}


@pytest.mark.parametrize(
    "case", ["openai-openai-json", "anthropic-openai-json", "openai-gemini-stream", "anthropic-gemini-stream"]
)
def test_an_empty_answer(records: dict[str, TraceRecord], case: str) -> None:
    record = records[case]
    reply = read_reply(record.ingress, str(record.response.body), stream=record.stream)
    assert reply is not None and reply.text
    body = str(record.response.body)
    for word in reply.text.split():  # every text piece of the answer, however it is split up
        body = body.replace(f'"{word}', '"').replace(f" {word}", "")
    emptied = msgspec.structs.replace(
        record,
        response=ResponsePart(body=body, writes=record.response.writes, terminal=record.response.terminal),
    )
    reply = read_reply(record.ingress, body, stream=record.stream)
    assert reply is not None and not reply.text.strip()
    assert _rates(emptied)[S.EMPTY_ANSWER] is True


@pytest.mark.parametrize("case", ["failed", "broken-stream"])
def test_no_answer_no_signals(records: dict[str, TraceRecord], case: str) -> None:
    assert signals_of(records[case]) is None


def test_unreadable_answers_give_none(records: dict[str, TraceRecord]) -> None:
    record = records["openai-openai-json"]
    assert signals_of(msgspec.structs.replace(record, response=ResponsePart(body="{not json"))) is None
    assert (
        signals_of(msgspec.structs.replace(record, response=ResponsePart(body=None))) is None
    )  # not recorded
    assert signals_of(msgspec.structs.replace(record, response=ResponsePart(body='{"choices": 3}'))) is None
    assert signals_of(msgspec.structs.replace(record, answered_by=None)) is None
    assert signals_of(msgspec.structs.replace(record, ingress="bedrock")) is None
    error = ErrorInfo(type="server_error", message="boom", status=500)
    assert signals_of(msgspec.structs.replace(record, status=500, error=error)) is None
    cut = records["openai-openai-stream"]
    assert (
        signals_of(
            msgspec.structs.replace(
                cut, response=msgspec.structs.replace(cut.response, terminal="client_disconnect")
            )
        )
        is None
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_any_prefix_of_a_body_never_raises(records: dict[str, TraceRecord], case: str) -> None:
    record = records[case]
    body = record.response.body
    assert isinstance(body, str)
    for end in range(0, len(body), max(1, len(body) // 97)):
        cut = msgspec.structs.replace(
            record, response=msgspec.structs.replace(record.response, body=body[:end])
        )
        signals_of(cut)  # a Signals or None, never an exception


@settings(max_examples=200, deadline=None)
@given(trace_records())
def test_any_record_never_raises(record: TraceRecord) -> None:
    signals = signals_of(record)
    assert signals is None or isinstance(signals, Signals)


def test_schemas_are_compiled_once(records: dict[str, TraceRecord]) -> None:
    record = records["openai-tools-openai-json"]
    _signals(record)
    before = _validator.cache_info()
    for _ in range(5):
        _signals(record)
    after = _validator.cache_info()
    assert after.hits == before.hits + 5 and after.misses == before.misses
    assert after.maxsize == SCHEMA_CACHE_SIZE


@pytest.mark.parametrize(
    "schema",
    [
        '{"type": "objekt"}',  # not a JSON Schema
        '{"$schema": ["x"], "type": "object"}',
        '{"$schema": "https://example.com/unknown", "type": "object"}',
        '{"type": "object", "maximum": 123456789012345678901234567890}',  # beyond 64 bits
        '{"$ref": "https://example.com/remote.json"}',  # never fetched
        "[]",
    ],
)
def test_a_broken_schema_is_not_held_against_the_model(records: dict[str, TraceRecord], schema: str) -> None:
    record = records["openai-tools-openai-json"]
    body = str(record.request.body).replace(orjson.dumps(WEATHER).decode(), schema)
    assert body != record.request.body
    broken = msgspec.structs.replace(record, request=RequestPart(headers={}, body=body))
    assert _rates(broken)[S.INVALID_TOOL_ARGS] is False
