"""Verifiers: does one answer to a canary probe say what the probe expects?

A probe's `expect` is one of the frozen specs below; `verify(expect, answer)` returns a `Verdict`
whose `detail` says briefly what was expected and what came back (it is shown as evidence of a
failure, so it is short and quotes at most `_QUOTE` characters of the answer).

    Number       the last number in the text, within `tolerance`      "1,234", "-3.5", "42."
    Exact        the text with outer whitespace stripped
    Normalized   casefolded, punctuation dropped, whitespace collapsed "Yes." == "yes"
    Regex        `re.search` with the spec's flags
    Contains / NotContains   a substring (optionally case-insensitive)
    JsonSchema   the text parsed as JSON (a ```json fenced block is tolerated) and validated
    ToolCallSpec some tool call has the name and its arguments include the subset
    Python       a `module:function` called with the answer; returns bool or (bool, detail)

An answer with no text and no tool call fails every verifier with the detail "empty answer".

Must not: do I/O. (A `Python` verifier runs user code, which is its author's business.)
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema

_QUOTE = 60
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation + "“”‘’«»…–—", " "))


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """What a target answered to a probe: its text, its tool calls, why it stopped."""

    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()
    """(name, arguments as the JSON text sent on the wire) per call."""
    finish_reason: str | None = None

    @classmethod
    def from_completion(cls, body: Mapping[str, Any]) -> ProbeAnswer:
        """The answer in an OpenAI chat completion body (its first choice)."""
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        message = choice.get("message") if isinstance(choice, Mapping) else None
        message = message if isinstance(message, Mapping) else {}
        content = message.get("content")
        calls: list[tuple[str, str]] = []
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                arguments = fn.get("arguments")
                calls.append((fn["name"], arguments if isinstance(arguments, str) else ""))
        finish = choice.get("finish_reason") if isinstance(choice, Mapping) else None
        return cls(
            text=content if isinstance(content, str) else "",
            tool_calls=tuple(calls),
            finish_reason=finish if isinstance(finish, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an answer passed, and a short expected-versus-got `detail`."""

    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Number:
    value: Decimal
    tolerance: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Exact:
    text: str


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    flags: str = ""
    """Any of ``i`` (ignore case), ``m`` (multiline), ``s`` (dot matches newline), ``x`` (verbose)."""

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, regex_flags(self.flags))


@dataclass(frozen=True, slots=True)
class Contains:
    text: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class NotContains:
    text: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class JsonSchema:
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """A subset: each key must be present in the call's arguments with an equal value."""


PythonCheck = Callable[[ProbeAnswer], bool | tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class Python:
    ref: str
    """``module:function`` as written in the suite."""
    function: PythonCheck = field(compare=False, repr=False)


Expect = Number | Exact | Normalized | Regex | Contains | NotContains | JsonSchema | ToolCallSpec | Python

VERIFIERS = (
    "number",
    "exact",
    "normalized",
    "regex",
    "contains",
    "not_contains",
    "json_schema",
    "tool_call",
    "python",
)
"""The verifier keys an `expect` mapping may use, one per probe."""

_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def regex_flags(letters: str) -> re.RegexFlag:
    """The `re` flags for letters such as ``"im"``; raises `ValueError` for an unknown letter."""
    flags = re.RegexFlag(0)
    for letter in letters:
        if letter not in _REGEX_FLAGS:
            raise ValueError(f"unknown regex flag {letter!r} (expected any of: i, m, s, x)")
        flags |= _REGEX_FLAGS[letter]
    return flags


def normalize(text: str) -> str:
    """Casefolded, punctuation turned into spaces, whitespace collapsed."""
    return " ".join(text.casefold().translate(_PUNCTUATION).split())


def last_number(text: str) -> Decimal | None:
    """The last number written in `text` ("1,234" reads 1234), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern only matches valid numbers
        return None


def parse_json(text: str) -> Any:
    """The JSON value in `text`, or in its first ```json fenced block; raises `ValueError`."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        fenced = _FENCE.search(stripped)
        if fenced is None:
            raise
        return json.loads(fenced.group(1))


def verify(expect: Expect, answer: ProbeAnswer) -> Verdict:
    """Check `answer` against `expect`."""
    if not answer.text.strip() and not answer.tool_calls:
        return Verdict(False, "empty answer")
    text = answer.text
    match expect:
        case Number(value, tolerance):
            got = last_number(text)
            want = f"{value}" + (f" ±{tolerance}" if tolerance else "")
            if got is None:
                return Verdict(False, f"expected {want}, got no number in {_quote(text)}")
            return Verdict(abs(got - value) <= tolerance, f"expected {want}, got {got}")
        case Exact(want):
            return Verdict(text.strip() == want, f"expected {_quote(want)}, got {_quote(text.strip())}")
        case Normalized(want):
            got_n = normalize(text)
            return Verdict(got_n == normalize(want), f"expected {_quote(want)}, got {_quote(got_n)}")
        case Regex(pattern, _):
            if expect.compiled().search(text) is not None:
                return Verdict(True, f"/{pattern}/ matches {_quote(text)}")
            return Verdict(False, f"expected /{pattern}/ to match, got {_quote(text)}")
        case Contains(needle, ignore_case):
            found = _contains(text, needle, ignore_case=ignore_case)
            verb = "contains" if found else "does not contain"
            return Verdict(found, f"expected {_quote(needle)} in the answer; {_quote(text)} {verb} it")
        case NotContains(needle, ignore_case):
            found = _contains(text, needle, ignore_case=ignore_case)
            verb = "contains" if found else "does not contain"
            return Verdict(not found, f"expected no {_quote(needle)}; {_quote(text)} {verb} it")
        case JsonSchema(schema):
            return _json_schema(schema, text)
        case ToolCallSpec(name, arguments):
            return _tool_call(name, arguments, answer.tool_calls)
        case Python(ref, function):
            try:
                result = function(answer)
            except Exception as exc:  # a broken check fails its probe, not the canary run
                return Verdict(False, f"{ref} raised {_clip(repr(exc))}")
            if isinstance(result, tuple):
                return Verdict(bool(result[0]), str(result[1]))
            return Verdict(bool(result), f"{ref} {'accepted' if result else 'rejected'} {_quote(text)}")
    raise TypeError(f"not a verifier: {expect!r}")  # pragma: no cover - the union is exhaustive


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _contains(text: str, needle: str, *, ignore_case: bool) -> bool:
    return needle.casefold() in text.casefold() if ignore_case else needle in text


def _json_schema(schema: Mapping[str, Any], text: str) -> Verdict:
    try:
        value = parse_json(text)
    except ValueError:
        return Verdict(False, f"expected JSON, got {_quote(text)}")
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return Verdict(True, f"valid JSON: {_quote(json.dumps(value, ensure_ascii=False))}")
    where = "".join(f"[{p!r}]" for p in error.absolute_path) or "(top level)"
    return Verdict(False, f"{where}: {_clip(error.message)}")


def _tool_call(name: str, subset: Mapping[str, Any], calls: tuple[tuple[str, str], ...]) -> Verdict:
    want = f"{name}({json.dumps(dict(subset), ensure_ascii=False)})" if subset else f"{name}(…)"
    if not calls:
        return Verdict(False, f"expected a call of {want}, got no tool call")
    for called, arguments in calls:
        if called != name:
            continue
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            continue
        if isinstance(parsed, dict) and all(
            k in parsed and same_json(parsed[k], v) for k, v in subset.items()
        ):
            return Verdict(True, f"called {name}({_clip(arguments)})")
    got = ", ".join(f"{n}({a})" for n, a in calls)
    return Verdict(False, f"expected {want}, got {_clip(got)}")


def _clip(text: str) -> str:
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1] + "…"


def _quote(text: str) -> str:
    return repr(_clip(text))
