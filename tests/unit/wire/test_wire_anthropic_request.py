"""Canonical request → Anthropic Messages request (Anthropic as a target)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from seawall.errors import InvalidRequest, UnsupportedFeature
from seawall.ingress._anthropic_translate import canonical_from_anthropic_request
from seawall.providers._anthropic_wire import to_anthropic_request
from tests.unit.wire._wire_testkit import dumps, fixture, fixture_names

PNG = "data:image/png;base64,iVBORw0KGgo="


def req(**fields: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize("name", fixture_names("to_anthropic_"))
def test_golden(name: str) -> None:
    case = fixture(name)
    original = copy.deepcopy(case["canonical"])
    out = to_anthropic_request(case["canonical"], case["model"], **case["options"])
    assert out == case["expected"]
    assert dumps(out) == dumps(case["expected"])
    assert case["canonical"] == original  # translation never mutates its input


@pytest.mark.parametrize("name", fixture_names("to_anthropic_"))
def test_golden_round_trips_through_the_ingress_dialect(name: str) -> None:
    """canonical → Anthropic → canonical → Anthropic is a fixed point after the first step."""
    case = fixture(name)
    wire = to_anthropic_request(case["canonical"], case["model"], **case["options"])
    again = to_anthropic_request(canonical_from_anthropic_request(wire), case["model"], **case["options"])
    assert again == wire


def test_minimal_request_defaults() -> None:
    assert to_anthropic_request(req(), "claude-x") == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
    }
    assert to_anthropic_request(req(), "claude-x", default_max_tokens=77)["max_tokens"] == 77


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_tokens": 10}, 10),
        ({"max_completion_tokens": 20}, 20),
        ({"max_tokens": 10, "max_completion_tokens": 20}, 20),
        ({"max_tokens": None}, 4096),
    ],
)
def test_max_tokens(fields: dict[str, Any], expected: int) -> None:
    assert to_anthropic_request(req(**fields), "m")["max_tokens"] == expected


@pytest.mark.parametrize(("given", "sent"), [(0, 0), (0.7, 0.7), (1, 1), (1.0, 1.0), (1.5, 1), (2, 1)])
def test_temperature_is_clamped_to_anthropic_range(given: float, sent: float) -> None:
    assert to_anthropic_request(req(temperature=given), "m")["temperature"] == sent


def test_sampling_params_can_be_withheld_for_models_without_them() -> None:
    out = to_anthropic_request(req(temperature=0.2, top_p=0.5, top_k=5), "m", sampling_params=False)
    assert not {"temperature", "top_p", "top_k"} & out.keys()
    out = to_anthropic_request(req(temperature=0.2, top_p=0.5, top_k=5), "m")
    assert (out["temperature"], out["top_p"], out["top_k"]) == (0.2, 0.5, 5)


@pytest.mark.parametrize(
    ("stop", "expected"), [("END", ["END"]), (["a", "b"], ["a", "b"]), (None, None), ([], None)]
)
def test_stop_sequences(stop: Any, expected: list[str] | None) -> None:
    assert to_anthropic_request(req(stop=stop), "m").get("stop_sequences") == expected


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    out = to_anthropic_request(req(tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel), "m")
    assert out.get("tool_choice") == expected
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_tool_choice_without_tools() -> None:
    assert "tool_choice" not in to_anthropic_request(req(tool_choice="auto"), "m")
    assert "tool_choice" not in to_anthropic_request(req(tool_choice="none"), "m")
    with pytest.raises(InvalidRequest) as info:
        to_anthropic_request(req(tool_choice="required"), "m")
    assert info.value.param == "tool_choice"


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    out = to_anthropic_request(req(tools=[{"type": "function", "function": {"name": "ping"}}]), "m")
    assert out["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


def test_images() -> None:
    content = [
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "http://x.test/a.gif", "detail": "low"}},
        {"type": "image_url", "image_url": "https://x.test/b.webp"},
    ]
    out = to_anthropic_request({"messages": [{"role": "user", "content": content}]}, "m")
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "http://x.test/a.gif"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/b.webp"}},
    ]


def test_tool_results_merge_into_one_user_turn_before_user_text() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
                {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ],
        },
        {"role": "user", "content": "also this"},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": ""},
    ]
    out = to_anthropic_request({"messages": messages}, "m")["messages"]
    assert out[1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "a", "name": "f", "input": {}},
            {"type": "tool_use", "id": "b", "name": "f", "input": {}},
        ],
    }
    assert out[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "1"},
            {"type": "tool_result", "tool_use_id": "b"},
            {"type": "text", "text": "also this"},
        ],
    }
    assert len(out) == 3


def test_system_variants() -> None:
    one = to_anthropic_request({"messages": [{"role": "developer", "content": "S"}, *req()["messages"]]}, "m")
    assert one["system"] == "S"
    parts = [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    two = to_anthropic_request({"messages": [{"role": "system", "content": parts}, *req()["messages"]]}, "m")
    assert two["system"] == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    none = to_anthropic_request({"messages": [{"role": "system", "content": ""}, *req()["messages"]]}, "m")
    assert "system" not in none


@pytest.mark.parametrize(
    ("effort", "expected"),
    [
        ("none", "low"),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "xhigh"),
    ],
)
def test_reasoning_effort(effort: str, expected: str) -> None:
    assert to_anthropic_request(req(reasoning_effort=effort), "m")["output_config"] == {"effort": expected}


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    out = to_anthropic_request(req(response_format=fmt), "m")
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "output_config" not in to_anthropic_request(req(response_format={"type": "text"}), "m")


def test_user_and_stream() -> None:
    out = to_anthropic_request(req(user="u", safety_identifier="s", stream=True), "m")
    assert out["metadata"] == {"user_id": "u"}
    assert out["stream"] is True
    assert "stream" not in to_anthropic_request(req(stream=False), "m")


@pytest.mark.parametrize(
    "field",
    [
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "verbosity",
        "store",
        "metadata",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prediction",
        "stream_options",
    ],
)
def test_dropped_fields_do_not_reach_the_wire(field: str) -> None:
    value: Any = {"x": "y"} if field in ("metadata", "prediction", "stream_options") else 1
    assert to_anthropic_request(req(**{field: value}), "m") == to_anthropic_request(req(), "m")


def _msg(content: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (req(n=2), "n"),
        (req(logprobs=True), "logprobs"),
        (req(top_logprobs=3), "top_logprobs"),
        (req(logit_bias={"1": 5}), "logit_bias"),
        (req(audio={"voice": "x"}), "audio"),
        (req(modalities=["text", "audio"]), "modalities"),
        (req(web_search_options={}), "web_search_options"),
        (req(functions=[{"name": "f"}]), "functions"),
        (req(function_call="auto"), "function_call"),
        (req(some_future_field=1), "some_future_field"),
        (req(response_format={"type": "json_object"}), "response_format"),
        (req(tools=[{"type": "custom", "custom": {"name": "g"}}]), "tools[0].type"),
        (req(tools=TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": {}}), "tool_choice"),
        (
            _msg([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]),
            "messages[0].content[0]",
        ),
        (_msg([{"type": "file", "file": {"file_id": "file-1"}}]), "messages[0].content[0].file"),
        (
            _msg([{"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}]),
            "messages[0].content[0].file.file_data",
        ),
        (
            _msg([{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA=="}}]),
            "messages[0].content[0].image_url",
        ),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "assistant", "audio": {"id": "a"}}]}, "messages[0].audio"),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "x", "type": "custom", "custom": {}}]}
                ]
            },
            "messages[0].tool_calls[0].type",
        ),
    ],
)
def test_unsupported_features_raise_with_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        to_anthropic_request(body, "m")
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": ["hi"]}, "messages[0]"),
        (_msg([{"type": "video", "url": "x"}]), "messages[0].content[0].type"),
        (_msg([{"type": "text", "text": 3}]), "messages[0].content[0].text"),
        (
            _msg([{"type": "image_url", "image_url": {"url": "ftp://x"}}]),
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (req(max_tokens=0), "max_tokens"),
        (req(max_tokens=True), "max_tokens"),
        (req(temperature=2.5), "temperature"),
        (req(temperature="hot"), "temperature"),
        (req(top_p=1.5), "top_p"),
        (req(stop=[1]), "stop[0]"),
        (req(n="2"), "n"),
        (req(tool_choice=7), "tool_choice"),
        (req(reasoning_effort="extreme"), "reasoning_effort"),
        (req(response_format={"type": "yaml"}), "response_format.type"),
        (req(user=5), "user"),
    ],
)
def test_malformed_input_raises_invalid_request(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_anthropic_request(body, "m")
    assert info.value.param == param
