"""Verifiers: each passes the right answer and fails a wrong one with a short detail."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from seawall.quality import (
    Contains,
    Exact,
    Expect,
    JsonSchema,
    Normalized,
    NotContains,
    Number,
    ProbeAnswer,
    Python,
    Regex,
    ToolCallSpec,
    verify,
)
from seawall.quality._verify import last_number, normalize, parse_json, same_json


def text(t: str) -> ProbeAnswer:
    return ProbeAnswer(text=t, finish_reason="stop")


def num(value: str, tolerance: str = "0") -> Number:
    return Number(Decimal(value), Decimal(tolerance))


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("42", "42"),
        ("The answer is 42.", "42"),
        ("17 + 25 = 42", "42"),
        ("1,234", "1234"),
        ("It costs $1,249.99 now", "1249.99"),
        ("-7", "-7"),
        ("minus: -3.5", "-3.5"),
        ("12,345,678 people", "12345678"),
    ],
)
def test_number_reads_the_last_number(answer: str, value: str) -> None:
    assert last_number(answer) == Decimal(value)
    assert verify(num(value), text(answer)).passed


def test_number_fails_on_another_number_or_none() -> None:
    verdict = verify(num("42"), text("44"))
    assert not verdict.passed
    assert verdict.detail == "expected 42, got 44"
    verdict = verify(num("42"), text("forty-two"))
    assert not verdict.passed
    assert "no number" in verdict.detail


def test_number_tolerance() -> None:
    assert verify(num("3.14", "0.01"), text("3.1416")).passed
    verdict = verify(num("3.14", "0.01"), text("3.2"))
    assert not verdict.passed
    assert verdict.detail == "expected 3.14 ±0.01, got 3.2"


def test_exact_strips_only_outer_whitespace() -> None:
    assert verify(Exact("BANANA"), text("  BANANA\n")).passed
    verdict = verify(Exact("BANANA"), text("Banana"))
    assert not verdict.passed
    assert verdict.detail == "expected 'BANANA', got 'Banana'"


def test_normalized_ignores_case_space_and_punctuation() -> None:
    assert normalize("  Yes!  ") == "yes"
    assert normalize("apple,  mango,pear.") == "apple mango pear"
    assert verify(Normalized("yes"), text("Yes.")).passed
    assert verify(Normalized("apple mango pear"), text("Apple, mango, pear")).passed
    assert not verify(Normalized("yes"), text("No.")).passed
    assert not verify(Normalized("yes"), text("Yes, it is prime.")).passed


def test_regex_searches_with_flags() -> None:
    assert verify(Regex(r"^\s*yes\b", "i"), text("YES, it is")).passed
    assert not verify(Regex(r"^\s*yes\b"), text("YES, it is")).passed
    assert verify(Regex(r"^b$", "m"), text("a\nb\nc")).passed
    verdict = verify(Regex(r"\d{4}-\d{2}-\d{2}"), text("March 7"))
    assert not verdict.passed
    assert verdict.detail.startswith("expected /")


def test_contains_and_not_contains() -> None:
    assert verify(Contains("Paris"), text("It is Paris.")).passed
    assert not verify(Contains("paris"), text("It is Paris.")).passed
    assert verify(Contains("paris", ignore_case=True), text("It is Paris.")).passed
    assert verify(NotContains("sorry"), text("Here you go")).passed
    assert not verify(NotContains("sorry", ignore_case=True), text("Sorry, I can't")).passed


SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"const": 42}},
}


@pytest.mark.parametrize(
    "answer",
    [
        '{"answer": 42}',
        '  {"answer": 42.0}\n',
        'Here:\n```json\n{"answer": 42}\n```',
        '```\n{"answer":42}\n```',
    ],
)
def test_json_schema_parses_plain_and_fenced_json(answer: str) -> None:
    assert verify(JsonSchema(SCHEMA), text(answer)).passed


def test_json_schema_failures_say_where() -> None:
    verdict = verify(JsonSchema(SCHEMA), text('{"answer": 41}'))
    assert not verdict.passed
    assert verdict.detail.startswith("['answer']: 42 was expected")
    verdict = verify(JsonSchema(SCHEMA), text("{}"))
    assert not verdict.passed
    assert "'answer' is a required property" in verdict.detail
    verdict = verify(JsonSchema(SCHEMA), text("answer: 42"))
    assert not verdict.passed
    assert verdict.detail.startswith("expected JSON")


def call(name: str, args: object) -> ProbeAnswer:
    return ProbeAnswer(tool_calls=((name, json.dumps(args)),), finish_reason="tool_calls")


def test_tool_call_name_and_argument_subset() -> None:
    spec = ToolCallSpec("convert_currency", {"amount": 250, "to_currency": "EUR"})
    assert verify(
        spec, call("convert_currency", {"amount": 250.0, "from_currency": "USD", "to_currency": "EUR"})
    ).passed
    assert verify(ToolCallSpec("get_weather"), call("get_weather", {})).passed
    wrong_tool = verify(spec, call("get_weather", {"city": "Oslo"}))
    assert not wrong_tool.passed
    assert "get_weather" in wrong_tool.detail
    assert not verify(spec, call("convert_currency", {"amount": 25, "to_currency": "EUR"})).passed
    assert not verify(spec, call("convert_currency", {"amount": 250})).passed
    no_call = verify(spec, text("I would convert it"))
    assert not no_call.passed
    assert "no tool call" in no_call.detail


def test_tool_call_any_of_several_calls_and_bad_arguments() -> None:
    answer = ProbeAnswer(tool_calls=(("set_timer", "{not json"), ("set_timer", '{"minutes": 25}')))
    assert verify(ToolCallSpec("set_timer", {"minutes": 25}), answer).passed
    assert not verify(
        ToolCallSpec("set_timer", {"minutes": 25}), ProbeAnswer(tool_calls=(("set_timer", "{"),))
    ).passed


def test_same_json_keeps_types_apart() -> None:
    assert same_json(1, 1.0)
    assert not same_json(True, 1)
    assert not same_json("1", 1)
    assert same_json({"a": [1, "x"]}, {"a": [1.0, "x"]})
    assert not same_json({"a": 1}, {"a": 1, "b": 2})


def is_short(answer: ProbeAnswer) -> bool:
    return len(answer.text) < 5


def with_detail(answer: ProbeAnswer) -> tuple[bool, str]:
    return answer.text == "ok", f"saw {answer.text}"


def broken(answer: ProbeAnswer) -> bool:
    raise RuntimeError("boom")


def test_python_verifier_returns_bool_or_detail_and_survives_errors() -> None:
    assert verify(Python("t:is_short", is_short), text("hi")).passed
    verdict = verify(Python("t:is_short", is_short), text("a long answer"))
    assert not verdict.passed
    assert verdict.detail.startswith("t:is_short rejected")
    assert verify(Python("t:d", with_detail), text("nope")) == verify(
        Python("t:d", with_detail), text("nope")
    )
    assert verify(Python("t:d", with_detail), text("nope")).detail == "saw nope"
    failed = verify(Python("t:broken", broken), text("x"))
    assert not failed.passed
    assert "boom" in failed.detail


@pytest.mark.parametrize(
    "expect",
    [
        num("0"),
        Exact(""),
        Normalized("x"),
        Regex(".*"),
        Contains("x"),
        NotContains("x"),
        JsonSchema({}),
        ToolCallSpec("f"),
        Python("t:is_short", is_short),
    ],
)
def test_an_empty_answer_fails_every_verifier(expect: Expect) -> None:
    for empty in (ProbeAnswer(), text("   \n"), ProbeAnswer(finish_reason="content_filter")):
        assert verify(expect, empty).passed is False
        assert verify(expect, empty).detail == "empty answer"


def test_long_answers_are_clipped_in_details() -> None:
    verdict = verify(Exact("short"), text("x" * 500))
    assert len(verdict.detail) < 160


def test_parse_json_raises_for_no_json() -> None:
    with pytest.raises(ValueError):
        parse_json("no json here")


def test_answer_from_an_openai_completion() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    assert ProbeAnswer.from_completion(body) == ProbeAnswer("", (("f", "{}"),), "tool_calls")
    plain = {"choices": [{"message": {"content": "42"}, "finish_reason": "stop"}]}
    assert ProbeAnswer.from_completion(plain) == ProbeAnswer("42", (), "stop")
    assert ProbeAnswer.from_completion({}) == ProbeAnswer()
