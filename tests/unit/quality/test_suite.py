"""Loading suite files: the happy path, and errors that name the file, the probe and the field."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.quality import (
    BUILTIN,
    DEFAULT_MAX_TOKENS,
    Contains,
    JsonSchema,
    Number,
    ProbeAnswer,
    Python,
    Regex,
    ToolCallSpec,
    builtin_suite,
    load_suite,
    parse_suite,
    resolve_suites,
)

TOOL = """
    tools:
      - type: function
        function:
          name: set_timer
          description: Start a timer.
          parameters: {type: object, properties: {minutes: {type: integer}}, required: [minutes]}
"""


def write(tmp_path: Path, text: str, name: str = "arith.yaml") -> Path:
    path = tmp_path / "suites" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_suite_file_loads() -> None:
    suite = parse_suite(
        textwrap.dedent(
            """
            suite: arith
            probes:
              - id: sum-1
                prompt: "What is 17 + 25? Answer with only the number."
                expect: {number: 42}
              - id: pi
                system: Be terse.
                prompt: What is pi to two decimals?
                max_tokens: 8
                expect: {number: 3.14, tolerance: 0.005}
                category: arithmetic
              - id: chat
                messages:
                  - {role: user, content: Say hi}
                  - {role: assistant, content: hi}
                  - {role: user, content: Again, in capitals}
                expect: {regex: "^HI\\\\b", flags: i}
              - id: timer
                prompt: Set a timer for 25 minutes.
            """
        )
        + textwrap.indent(textwrap.dedent(TOOL), "    ")
        + """    expect: {tool_call: {name: set_timer, arguments: {minutes: 25}}}
  - id: json
    prompt: Give JSON.
    response_format: {type: json_schema, json_schema: {name: a, schema: {type: object}}}
    expect: {json_schema: {type: object, required: [a]}}
    label: "yes"
  - id: polite
    prompt: Say no politely.
    expect: {contains: sorry, ignore_case: true}
""",
        "arith.yaml",
    )
    assert suite.name == "arith"
    assert [p.id for p in suite.probes] == ["sum-1", "pi", "chat", "timer", "json", "polite"]
    first, pi, chat, timer, json_probe, polite = suite.probes
    assert first.messages == ({"role": "user", "content": "What is 17 + 25? Answer with only the number."},)
    assert first.expect == Number(Decimal(42))
    assert first.max_tokens == DEFAULT_MAX_TOKENS
    assert pi.messages[0] == {"role": "system", "content": "Be terse."}
    assert pi.expect == Number(Decimal("3.14"), Decimal("0.005"))
    assert (pi.max_tokens, pi.category) == (8, "arithmetic")
    assert len(chat.messages) == 3
    assert chat.expect == Regex(r"^HI\b", "i")
    assert timer.expect == ToolCallSpec("set_timer", {"minutes": 25})
    assert json_probe.expect == JsonSchema({"type": "object", "required": ["a"]})
    assert json_probe.label == "yes"
    assert polite.expect == Contains("sorry", ignore_case=True)
    body = timer.body("gpt-4o-mini")
    assert body["model"] == "gpt-4o-mini"
    assert body["tools"][0]["function"]["name"] == "set_timer"
    assert "response_format" not in body
    assert json_probe.body("m")["response_format"]["type"] == "json_schema"
    assert first.verify(ProbeAnswer("42")).passed


def errors_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return str(info.value)


def probe_errors(tmp_path: Path, body: str) -> str:
    return errors_of(tmp_path, "suite: arith\nprobes:\n" + textwrap.indent(textwrap.dedent(body), "  "))


OK = "- id: ok\n  prompt: hi\n  expect: {exact: hi}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "- id: sum-1\n  prompt: What is 40+2?\n  expect: {number: forty}",
            "probes[0] (id 'sum-1'): expect.number: expected a number, got 'forty'",
        ),
        (OK + OK, "probes[1] (id 'ok'): id: duplicate id (probes[0] has it too)"),
        (
            "- id: a\n  prompt: hi\n  expect: {equals: hi}",
            "probes[0] (id 'a'): expect.equals: unknown verifier",
        ),
        ("- id: a\n  expect: {exact: hi}", "probes[0] (id 'a'): prompt: required"),
        (
            "- id: a\n  prompt: hi\n  messages: [{role: user, content: hi}]\n  expect: {exact: hi}",
            "probes[0] (id 'a'): prompt: give either prompt or messages, not both",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {regex: '(unclosed'}",
            "probes[0] (id 'a'): expect.regex: not a valid regular",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {json_schema: {type: objekt}}",
            "probes[0] (id 'a'): expect.json_schema.type: not a valid JSON Schema",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {python: 'no_such_module_xyz:check'}",
            "probes[0] (id 'a'): expect.python: cannot import module 'no_such_module_xyz'",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {python: 'json:no_such_function'}",
            "probes[0] (id 'a'): expect.python: module 'json' has no function 'no_such_function'",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {python: 'json.loads'}",
            "expect.python: expected 'module:function'",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {normalized: yes}",
            "expect.normalized: expected a string, got True (YAML",
        ),
        (
            "- id: a\n  prompt: hi\n  label: no\n  expect: {exact: x}",
            "probes[0] (id 'a'): label: expected a string",
        ),
        ("- id: a\n  prompt: hi\n  expect: {exact: a, contains: b}", "expect: expected exactly one verifier"),
        ("- id: a\n  prompt: hi\n  expect: {}", "expect: expected exactly one verifier"),
        ("- id: a\n  prompt: hi", "probes[0] (id 'a'): expect: required"),
        (
            "- id: a\n  prompt: hi\n  expect: {exact: a, tolerance: 1}",
            "expect.tolerance: applies only to number",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {number: 1, tolerance: -1}",
            "expect.tolerance: expected a number >= 0",
        ),
        ("- id: a\n  prompt: hi\n  expect: {regex: a, flags: q}", "expect.flags: unknown regex flag 'q'"),
        (
            "- id: a\n  prompt: hi\n  expect: {contains: a, ignore_case: maybe}",
            "expect.ignore_case: expected true",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {tool_call: {name: f}}",
            "expect.tool_call.name: 'f' is not offered",
        ),
        ("- id: a\n  prompt: hi\n  expect: {tool_call: {nam: f}}", "expect.tool_call.nam: unknown key"),
        (
            "- id: a\n  prompt: hi\n  max_tokens: 0\n  expect: {exact: x}",
            "max_tokens: expected an integer >= 1",
        ),
        (
            "- id: a\n  prompt: hi\n  temperature: 0\n  expect: {exact: x}",
            "probes[0] (id 'a'): temperature: unknown key",
        ),
        ("- prompt: hi\n  expect: {exact: x}", "probes[0]: id: expected a non-empty string"),
        ("- just a string", "probes[0]: expected a mapping with id, prompt and expect, got str"),
        ("- id: a\n  prompt: ''\n  expect: {exact: x}", "prompt: expected a non-empty string"),
        (
            "- id: a\n  messages: [{role: robot, content: hi}]\n  expect: {exact: x}",
            "messages[0].role: expected one of",
        ),
        (
            "- id: a\n  messages: [{role: user}]\n  expect: {exact: x}",
            "messages[0].content: expected a string",
        ),
        (
            "- id: a\n  prompt: hi\n  tools: [{name: f}]\n  expect: {exact: x}",
            "probes[0] (id 'a'): tools[0]: expected",
        ),
        (
            "- id: a\n  prompt: hi\n  response_format: {type: yaml}\n  expect: {exact: x}",
            "response_format: expected {type: text | json_object | json_schema",
        ),
        (
            "- id: a\n  prompt: hi\n  expect: {exact: x}\n"
            "  response_format: {type: json_schema, json_schema: {name: a, schema: {type: 3}}}",
            "response_format.json_schema.schema.type: not a valid JSON Schema",
        ),
    ],
)
def test_errors_name_the_file_the_probe_and_the_field(tmp_path: Path, body: str, message: str) -> None:
    error = probe_errors(tmp_path, body)
    assert error.startswith(str(tmp_path / "suites" / "arith.yaml") + ": ")
    assert message in error


def test_a_duplicate_of_a_bad_probe_is_still_a_duplicate(tmp_path: Path) -> None:
    error = probe_errors(tmp_path, "- id: a\n  prompt: hi\n  expect: {number: x}\n" + OK.replace("ok", "a"))
    assert error.splitlines()[1].endswith("probes[1] (id 'a'): id: duplicate id (probes[0] has it too)")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = probe_errors(
        tmp_path,
        OK + "- id: b\n  prompt: hi\n  expect: {number: x}\n- id: c\n  expect: {exact: y}\n",
    )
    lines = error.splitlines()
    assert len(lines) == 2
    assert "(id 'b'): expect.number" in lines[0]
    assert "(id 'c'): prompt: required" in lines[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "expected a mapping with keys 'suite' and 'probes', got list"),
        ("probes: []\n", "suite: expected the suite's name"),
        ("suite: a\nprobes: []\n", "probes: expected a non-empty list of probes"),
        ("suite: a\nprobe: []\n", "probe: unknown key"),
        ("suite: a\nprobes: [\n", "not valid YAML (line"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, message: str) -> None:
    assert message in errors_of(tmp_path, text)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the suite file"):
        load_suite(tmp_path / "missing.yaml")


def check_answer(answer: ProbeAnswer) -> bool:
    return answer.text == "ok"


def test_python_verifier_is_resolved_at_load_time(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        suite: py
        probes:
          - id: a
            prompt: say ok
            expect: {python: "tests.unit.quality.test_suite:check_answer"}
        """,
    )
    probe = load_suite(path).probes[0]
    assert isinstance(probe.expect, Python)
    assert probe.expect.function is check_answer
    assert probe.verify(ProbeAnswer("ok")).passed


def test_resolve_suites_adds_builtin_and_reads_relative_paths(tmp_path: Path) -> None:
    write(tmp_path, "suite: arith\nprobes:\n" + textwrap.indent(OK, "  "))
    suites = resolve_suites({"arith": "suites/arith.yaml"}, base=tmp_path)
    assert set(suites) == {BUILTIN, "arith"}
    assert suites[BUILTIN] is builtin_suite()
    assert suites["arith"].name == "arith"
    assert set(resolve_suites({})) == {BUILTIN}


def test_resolve_suites_reports_every_bad_file_and_the_reserved_name(tmp_path: Path) -> None:
    write(tmp_path, "suite: a\nprobes: 3\n", "bad.yaml")
    with pytest.raises(ConfigError) as info:
        resolve_suites(
            {"builtin": "x.yaml", "bad": "suites/bad.yaml", "gone": "suites/gone.yaml"}, base=tmp_path
        )
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert "reserved" in lines[0]
    assert "bad.yaml: probes: expected a non-empty list" in lines[1]
    assert "gone.yaml: cannot read" in lines[2]
