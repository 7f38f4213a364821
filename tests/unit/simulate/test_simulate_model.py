"""The simulated model: what it answers, independent of any wire format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.simulate._model import (
    Finish,
    Prompt,
    Tool,
    ToolChoice,
    answer,
    canned_reply,
    estimate_tokens,
    schema_value,
    split_fragments,
    split_words,
)
from seawall.simulate._solve import arithmetic

WEATHER = Tool(
    "get_weather",
    {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "optional_note": {"type": "string"},
        },
        "required": ["location", "unit", "days"],
    },
)
LOOKUP = Tool(
    "lookup", {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is 17+25? Answer with the number only.", "42"),
        ("what is 6 x 7", "42"),
        ("What is 6×7?", "42"),
        ("What is 3 * 4?", "12"),
        ("What is 10-15?", "-5"),
        ("Quick one: WHAT IS -2 + 5", "3"),
    ],
)
def test_arithmetic_is_answered_right(question: str, expected: str) -> None:
    result = answer(Prompt(user_text=question))
    assert result.text == expected
    assert result.finish is Finish.STOP


def test_wrong_offset_shifts_the_arithmetic_answer_only() -> None:
    assert answer(Prompt(user_text="What is 17+25?"), wrong_offset=2).text == "44"
    assert answer(Prompt(user_text="hello"), wrong_offset=2).text == canned_reply(12)


def test_no_arithmetic_without_a_question() -> None:
    assert arithmetic("released 2024-11-26") is None


@pytest.mark.parametrize("words", [1, 5, 12, 30])
def test_canned_reply_has_reply_words_words(words: int) -> None:
    result = answer(Prompt(user_text="Tell me a story"), reply_words=words)
    assert len(result.text.split()) == words
    assert len(result.pieces) == words


def test_max_tokens_truncates_to_that_many_words() -> None:
    result = answer(Prompt(user_text="hi", max_tokens=3), reply_words=12)
    assert result.text == "The quick brown"
    assert result.finish is Finish.LENGTH
    untouched = answer(Prompt(user_text="hi", max_tokens=12), reply_words=12)
    assert untouched.finish is Finish.STOP


def test_echo_repeats_the_rest_verbatim() -> None:
    assert answer(Prompt(user_text="echo: Hello,  World!\nline two")).text == "Hello,  World!\nline two"


def test_echo_system_repeats_the_system_prompt() -> None:
    prompt = Prompt(user_text="echo-system:", system="You are terse.\nBe kind.")
    assert answer(prompt).text == "You are terse.\nBe kind."


def test_tool_call_uses_the_first_tool_with_schema_arguments() -> None:
    result = answer(Prompt(user_text="What's the weather in Paris today?", tools=(WEATHER, LOOKUP)))
    assert result.finish is Finish.TOOL_CALL
    assert result.text == ""
    assert result.tool_call is not None
    assert result.tool_call.name == "get_weather"
    assert result.tool_call.arguments == {"location": "Paris", "unit": "celsius", "days": 1}
    assert json.loads(result.tool_call.arguments_json) == result.tool_call.arguments


def test_forced_tool_wins_over_the_first() -> None:
    prompt = Prompt(
        user_text="find it", tools=(WEATHER, LOOKUP), tool_choice=ToolChoice.REQUIRED, forced_tool="lookup"
    )
    result = answer(prompt)
    assert result.tool_call is not None
    assert result.tool_call.name == "lookup"
    assert result.tool_call.arguments == {"query": "example"}


def test_tool_choice_none_answers_in_text() -> None:
    result = answer(Prompt(user_text="What is 2+2?", tools=(WEATHER,), tool_choice=ToolChoice.NONE))
    assert result.tool_call is None
    assert result.text == "4"


def test_no_tool_call_when_the_conversation_ends_with_the_assistant() -> None:
    result = answer(Prompt(user_text="What is 2+2?", tools=(WEATHER,), ends_with_user=False))
    assert result.tool_call is None


def test_tool_result_is_acknowledged() -> None:
    result = answer(Prompt(user_text="weather in Paris", tool_result="18°C and sunny", tools=(WEATHER,)))
    assert result.text == "Tool result received: 18°C and sunny"
    assert result.tool_call is None


def test_json_mode_without_schema_answers_an_object() -> None:
    result = answer(Prompt(user_text="What is 17+25?", json_mode=True))
    assert json.loads(result.text) == {"answer": "42"}


def test_json_mode_with_schema_fills_required_properties_and_answer() -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "integer"},
            "confident": {"type": "boolean"},
            "city": {"type": "string"},
        },
        "required": ["confident", "city"],
    }
    result = answer(Prompt(user_text="What is 17+25 in Berlin?", json_mode=True, json_schema=schema))
    assert json.loads(result.text) == {"confident": True, "city": "Berlin", "answer": 42}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "example"),
        ({"type": "string", "format": "date"}, "2025-01-01"),
        ({"type": "number", "minimum": 5}, 5),
        ({"type": "integer", "maximum": 0}, 0),
        ({"type": "boolean"}, True),
        ({"type": ["string", "null"]}, "example"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 1),
        ({"const": "fixed"}, "fixed"),
        ({"type": "array", "items": {"type": "integer"}}, [1]),
        ({"type": "array", "items": {"type": "boolean"}, "minItems": 2}, [True, True]),
        ({"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}}, "required": ["n"]}, {"n": 1}),
        ({"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"a": "example"}),
        ({}, "example"),
    ],
)
def test_schema_values(schema: dict[str, Any], expected: Any) -> None:
    assert schema_value(schema) == expected


def test_schema_refs_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {"address": {"$ref": "#/$defs/Address"}},
        "required": ["address"],
        "$defs": {
            "Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        },
    }
    assert schema_value(schema, hint_text="ship it to the office in New York") == {
        "address": {"city": "New York"}
    }


def test_recursive_schema_terminates() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}, "required": ["next"]}
        },
    }
    value = schema_value(schema)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["next"], depth + 1
    assert depth < 10


def test_blocked_and_usage_estimates() -> None:
    prompt = Prompt(user_text="x" * 40, prompt_chars=40)
    result = answer(prompt)
    assert result.prompt_tokens == 10
    assert result.completion_tokens == estimate_tokens(result.text)
    assert estimate_tokens("") == 1
    assert estimate_tokens(9) == 2


@given(st.text())
def test_split_words_concatenates_back(text: str) -> None:
    pieces = split_words(text)
    assert "".join(pieces) == text
    assert all(p.strip() for p in pieces[:-1])


@given(st.text(min_size=1, max_size=200))
def test_fragments_concatenate_back_in_two_or_three(text: str) -> None:
    pieces = split_fragments(text)
    assert "".join(pieces) == text
    assert len(pieces) <= 3
    if len(text) >= 2:
        assert len(pieces) >= 2
