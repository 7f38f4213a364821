"""What the simulated model knows: the questions it answers, the facts it reads, and being wrong."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from seawall.simulate._faults import WRONG_OFFSETS
from seawall.simulate._model import Prompt, Tool, ToolChoice, answer, pick_tool, schema_value
from seawall.simulate._solve import Value, clues, is_prime, render, solve


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is 7919 a prime number? Answer with only yes or no.", True),
        ("is 221 prime?", False),
        ("Is 1,001 a prime number?", False),
        ("Is 221 a composite number?", True),
        ('Does the word "rhythm" contain the letter "y"?', True),
        ("Does the word cucumber contain the letter A?", False),
        ("Is the word 'Racecar' a palindrome?", True),
        ('Is the word "window" a palindrome?', False),
        ("Is 7301 greater than 7103?", True),
        ("Is 4096 less than 4069?", False),
        ("Is -3.5 smaller than -3?", True),
        ("What is 347 × 29? Answer with only the number.", 10063),
        ("Reply with only the word banana, written in capital letters.", "BANANA"),
        ("Reply with only the word THUNDER in lowercase letters.", "thunder"),
        ('Reply with only the word "Ocean".', "Ocean"),
        (
            "Sort these words in alphabetical order, separated by commas: pear, Apple, mango.",
            "Apple, mango, pear",
        ),
        (
            "Extract the email address from this: write to a.b+c@mail.example.co.uk today.",
            "a.b+c@mail.example.co.uk",
        ),
        ("Extract the date as YYYY-MM-DD from: signed on March 3, 2025, in Rome.", "2025-03-03"),
        ("Extract the date from: it opened on 14 Sept. 2021.", None),
        ("Extract the date from: it opened on 14 Sep. 2021.", "2021-09-14"),
        ("Extract the price from: it costs $1,249.99 now.", Decimal("1249.99")),
        ("Extract the number from: about 38,500 people came.", Decimal("38500")),
        ("Tell me a story", None),
    ],
)
def test_known_questions_are_answered_right(question: str, expected: Value | None) -> None:
    assert solve(question) == expected


@pytest.mark.parametrize("wrong", WRONG_OFFSETS)
@pytest.mark.parametrize(
    "question",
    [
        "Is 7919 a prime number?",
        'Does the word "rhythm" contain the letter "y"?',
        "Is 4096 less than 4069?",
        "What is 2718 - 3141?",
        "Reply with only the word harbor in capital letters.",
        "Sort these words in alphabetical order: zebra, otter, koala",
        "Extract the email address from: mail ops@example.com now",
        "Extract the date from: due 30 June 2025.",
        "Extract the number from: 2,317 meters.",
    ],
)
def test_every_kind_of_answer_can_be_wrong(question: str, wrong: int) -> None:
    right = solve(question)
    assert right is not None
    assert solve(question, wrong=wrong) not in (None, right)


def test_render_says_yes_and_no() -> None:
    assert [render(True), render(False), render(42), render(Decimal("1249.99"))] == [
        "Yes",
        "No",
        "42",
        "1249.99",
    ]


def test_primes() -> None:
    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert is_prime(7919)
    assert not is_prime(9797)


def test_clues_are_read_in_order_and_apart() -> None:
    found = clues(
        'On November 18, 2026 billing@harbor-tools.com paid 1,980.50 GBP; "urgent" was sent from London '
        "and again on 2026-12-01 for 12 items."
    )
    assert found.emails == ("billing@harbor-tools.com",)
    assert found.dates == ("2026-11-18", "2026-12-01")
    assert found.numbers == (Decimal("1980.50"), Decimal("12"))
    assert found.quoted == ("urgent",)
    assert found.places == ()
    wrong = clues("mail ann@x.org by 1 May 2024 about 7 things", wrong=-2)
    assert (wrong.emails, wrong.dates, wrong.numbers) == (("ann2@x.org",), ("2024-04-29",), (Decimal(5),))


def test_schema_values_come_from_the_text() -> None:
    schema = {
        "type": "object",
        "properties": {
            "amount": {"type": "number"},
            "from_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
            "to_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
            "to": {"type": "string", "description": "Recipient email address"},
            "due_date": {"type": "string"},
            "subject": {"type": "string"},
            "count": {"type": "integer", "maximum": 10},
        },
        "required": ["amount", "from_currency", "to_currency", "to", "due_date", "subject", "count"],
    }
    text = 'Send 42.50 GBP as JPY to kim@example.org by 5 May 2024, subject "Refund", 11 items'
    assert schema_value(schema, hint_text=text) == {
        "amount": 42.5,
        "from_currency": "GBP",
        "to_currency": "JPY",
        "to": "kim@example.org",
        "due_date": "2024-05-05",
        "subject": "Refund",
        "count": 1,  # 11 is over the maximum
    }


def test_json_answers_fit_the_answer_property_type() -> None:
    def json_answer(text: str, kind: str, wrong: int = 0) -> object:
        schema = {"type": "object", "properties": {"answer": {"type": kind}}, "required": ["answer"]}
        result = answer(Prompt(user_text=text, json_mode=True, json_schema=schema), wrong_offset=wrong)
        return json.loads(result.text)["answer"]

    assert json_answer("Is 1217 a prime number?", "boolean") is True
    assert json_answer("Is 1217 a prime number?", "boolean", wrong=1) is False
    assert json_answer("Is 1217 a prime number?", "string") == "yes"
    assert json_answer("Extract the number from: 42.5 kg", "number") == 42.5
    assert json_answer("Extract the number from: 42.5 kg", "integer") == 1  # not an integer: schema default
    assert json_answer("What is 6 x 7?", "integer", wrong=-1) == 41
    plain = answer(Prompt(user_text="Is 1217 a prime number?", json_mode=True))
    assert json.loads(plain.text) == {"answer": "Yes"}


WEATHER = Tool(
    "get_weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "Get the current weather for a city.",
)
TIMER = Tool(
    "set_timer",
    {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
    "Start a countdown timer.",
)
EMAIL = Tool(
    "send_email",
    {
        "type": "object",
        "properties": {
            "to": {"type": "string", "description": "Recipient email"},
            "subject": {"type": "string"},
        },
        "required": ["to", "subject"],
    },
    "Send an email message.",
)


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("What's the weather like in Oslo right now?", "get_weather", {"city": "Oslo"}),
        ("Start a 12 minute countdown for the tea.", "set_timer", {"minutes": 12}),
        (
            'Email dana@example.org with the subject "Lunch"',
            "send_email",
            {"to": "dana@example.org", "subject": "Lunch"},
        ),
    ],
)
def test_the_tool_that_fits_the_request_is_called(text: str, name: str, arguments: dict[str, object]) -> None:
    for tools in ((WEATHER, TIMER, EMAIL), (EMAIL, TIMER, WEATHER), (TIMER, EMAIL, WEATHER)):
        result = answer(Prompt(user_text=text, tools=tools))
        assert result.tool_call is not None
        assert (result.tool_call.name, result.tool_call.arguments) == (name, arguments)
        wrong = answer(Prompt(user_text=text, tools=tools), wrong_offset=2)
        assert wrong.tool_call is not None
        assert wrong.tool_call.name != name


def test_pick_tool_falls_back_to_the_first_and_a_forced_tool_is_kept_when_wrong() -> None:
    assert pick_tool((WEATHER, TIMER), "hello there") == 0
    forced = Prompt(
        user_text="Set a timer for 25 minutes",
        tools=(WEATHER, TIMER),
        tool_choice=ToolChoice.REQUIRED,
        forced_tool="set_timer",
    )
    right, wrong = answer(forced), answer(forced, wrong_offset=-1)
    assert right.tool_call is not None and wrong.tool_call is not None
    assert (right.tool_call.name, right.tool_call.arguments) == ("set_timer", {"minutes": 25})
    assert (wrong.tool_call.name, wrong.tool_call.arguments) == ("set_timer", {"minutes": 24})
    lone = answer(Prompt(user_text="weather in Oslo", tools=(WEATHER,)), wrong_offset=1)
    assert lone.tool_call is not None
    assert lone.tool_call.arguments == {"city": "Oslo 1"}
