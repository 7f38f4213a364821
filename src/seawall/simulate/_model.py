"""The simulated model: decides *what* to answer, independent of any wire format.

Each dialect parses its request into one `Prompt`; `answer()` turns it into one `Answer`; the
dialect renders that back to its own JSON or event stream. Keeping the decision here means the
three dialects cannot drift apart: the same question gets the same answer everywhere.

Rules, first match wins:

1. the conversation ends with a tool result  → ``Tool result received: <result text>``
2. tools are offered, the conversation ends with a user message and tool choice is not "none"
   → a call of the forced tool, else of the tool whose name and description share the most words
   with the user's text (ties: the first), with arguments built from its JSON schema and the text
3. the user's text starts with ``echo:``        → the rest, verbatim (leading blanks dropped);
   ``echo-system:``                              → the system prompt as received
4. a JSON answer was asked for                  → valid JSON (schema-shaped when a schema is given)
5. a question `_solve` knows: "What is 17+25?" → ``42``, "Is 221 a prime number?" → ``No``,
   "Extract the email address from …", "Reply with only the word X in capital letters", …
6. anything else                                → a fixed sentence of `reply_words` words

Schema-shaped values (tool arguments, JSON fields) are read off the user's text (`_solve.clues`):
a property called "answer" gets the answer of rule 5; email- and date-like strings the emails and
dates in the text; other strings a quoted string, else a place ("in Paris"); numbers the numbers
in the text; enums the value the text mentions. A drawn "wrong answer" fault (`wrong_offset`, not
0) makes every verifiable answer wrong: numbers shifted by it, yes/no flipped, extracted values
altered, another tool called (or the forced tool with altered arguments).

A max-token limit cuts a text answer to that many words (finish `LENGTH`). Token counts are
estimates: characters // 4, at least 1.

Must not: do I/O, read clocks or draw random numbers (the caller passes in any drawn fault).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeGuard, TypeVar

from seawall.simulate._solve import Clues, Value, clues, render, solve

_TOOL_STOPWORDS = frozenset(
    ("the", "and", "for", "with", "from", "into", "that", "this", "what", "how", "you", "your", "are", "can")
)
_WORDS = [
    "The",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "the",
    "gateway",
    "under",
    "test",
    "forwards",
    "every",
    "token",
    "without",
    "adding",
    "much",
    "latency",
    "at",
    "all",
]
_MAX_SCHEMA_DEPTH = 8
_STRING_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class ToolChoice(StrEnum):
    """Whether the model may, must or must not call a tool."""

    AUTO = "auto"
    REQUIRED = "required"
    NONE = "none"


class Finish(StrEnum):
    """Why an answer ended. Each dialect spells it its own way."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALL = "tool_call"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the request offers: its name, the JSON schema of its arguments, its description."""

    name: str
    schema: Mapping[str, Any]
    description: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a request asks, in dialect-neutral terms."""

    user_text: str = ""
    """Text of the last user message."""
    system: str = ""
    tool_result: str | None = None
    """Text of the tool result(s) when the conversation ends with them."""
    ends_with_user: bool = True
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice.AUTO
    forced_tool: str | None = None
    json_mode: bool = False
    json_schema: Mapping[str, Any] | None = None
    max_tokens: int | None = None
    prompt_chars: int = 0
    """Characters of prompt text (system, messages, tool definitions) behind the token estimate."""

    @property
    def prompt_tokens(self) -> int:
        return estimate_tokens(self.prompt_chars)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call of a tool, with its arguments as an object and as the JSON text sent on the wire."""

    name: str
    arguments: Mapping[str, Any]
    arguments_json: str

    @property
    def fragments(self) -> tuple[str, ...]:
        """The argument JSON in the 2-3 pieces a stream sends it in."""
        return split_fragments(self.arguments_json)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model says. `text` is empty for a tool call or a blocked answer."""

    text: str
    finish: Finish
    prompt_tokens: int
    completion_tokens: int
    tool_call: ToolCall | None = None

    @property
    def pieces(self) -> tuple[str, ...]:
        """The text as stream chunks, one word each; they concatenate back to `text` exactly."""
        return split_words(self.text)


def estimate_tokens(text: str | int) -> int:
    """Estimated tokens of a text (or of that many characters): length // 4, at least 1."""
    chars = text if isinstance(text, int) else len(text)
    return max(1, chars // 4)


def split_words(text: str) -> tuple[str, ...]:
    """Split into words, each with its leading whitespace, so that ``"".join`` gives `text` back."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return (text,) if text else ()
    rest = text[sum(map(len, pieces)) :]
    if rest:
        pieces[-1] += rest
    return tuple(pieces)


def split_fragments(text: str) -> tuple[str, ...]:
    """Split a string into 3 pieces (2 when it is short, 1 when it is a single character)."""
    count = 3 if len(text) >= 6 else min(len(text), 2)
    if count <= 1:
        return (text,)
    size = -(-len(text) // count)
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def canned_reply(words: int) -> str:
    """The fixed sentence of `words` words."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(words))


def schema_value(
    schema: Mapping[str, Any], *, hint_text: str = "", answer: Value | None = None, wrong: int = 0
) -> Any:
    """A value valid for a (simple) JSON schema, built deterministically from `hint_text`.

    Objects get their required properties. Strings: email-like ones (by name, description or
    format) the emails in `hint_text`, date-like ones its dates (YYYY-MM-DD), others a quoted
    string, else a place ("weather in Paris" → "Paris"), else "example" (or a sample of their
    format). Numbers: the numbers in the text in turn, else 1 (within minimum/maximum). Enums: the
    value the text mentions, else the first; consts their value; booleans true; arrays one item.
    Local ``$ref``s are followed. When `answer` is given, a property called "answer" gets it (used
    for JSON answers, not for tool arguments). `wrong` alters the emails, dates and numbers read.
    Gemini's upper-case type names are accepted.
    """
    return _Filler(schema, clues(hint_text, wrong=wrong), answer).value(schema, 0)


_NO_FIT = object()
_T = TypeVar("_T")


class _Filler:
    def __init__(self, root: Mapping[str, Any], found: Clues, answer: Value | None) -> None:
        self.root = root
        self.found = found
        self.answer = answer
        self.taken: dict[str, int] = {}
        self.mentioned: set[str] = set()

    def value(self, schema: Any, depth: int, name: str = "") -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_SCHEMA_DEPTH:
            return None
        if isinstance(schema.get("$ref"), str):
            return self.value(self.resolve(schema["$ref"]), depth + 1, name)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self.choose(enum)
        for key in ("anyOf", "oneOf", "allOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                usable = [o for o in options if not (isinstance(o, Mapping) and _kind(o) == "null")]
                return self.value((usable or options)[0], depth + 1, name)
        kind = _kind(schema)
        if name == "answer" and self.answer is not None:
            fitted = _fit(self.answer, kind)
            if fitted is not _NO_FIT:
                return fitted
        if kind == "object":
            props = schema.get("properties")
            props = props if isinstance(props, Mapping) else {}
            required = schema.get("required")
            names = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
            if self.answer is not None and "answer" in props and "answer" not in names:
                names.append("answer")
            return {n: self.value(props.get(n, {"type": "string"}), depth + 1, n) for n in names}
        if kind == "array":
            count = schema.get("minItems")
            count = count if isinstance(count, int) and count > 1 else 1
            item = self.value(schema.get("items", {"type": "string"}), depth + 1)
            return [item] * count
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(schema, name)

    def string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        fmt = fmt if isinstance(fmt, str) else ""
        words = set(re.findall(r"[a-z]+", f"{name} {schema.get('description', '')} {fmt}".lower()))
        if words & {"email", "mail"}:
            email = self.take("emails", self.found.emails)
            if email is not None:
                return email
        if "date" in words and fmt in ("", "date"):
            date = self.take("dates", self.found.dates)
            if date is not None:
                return date
        if fmt in _STRING_FORMATS:
            return _STRING_FORMATS[fmt]
        quoted = self.take("quoted", self.found.quoted)
        if quoted is not None:
            return quoted
        return self.found.places[0] if self.found.places else "example"

    def number(self, schema: Mapping[str, Any], *, integer: bool) -> int | float:
        fallback = _number(schema, integer=integer)
        found = self.take("numbers", self.found.numbers)
        if found is None or (integer and found != found.to_integral_value()):
            return fallback
        value = _json_number(found)
        low, high = schema.get("minimum"), schema.get("maximum")
        if (_is_number(low) and value < low) or (_is_number(high) and value > high):
            return fallback
        return value

    def take(self, key: str, items: Sequence[_T]) -> _T | None:
        """The next of `items` (the facts of kind `key`) not handed out yet, or None."""
        index = self.taken.get(key, 0)
        if index >= len(items):
            return None
        self.taken[key] = index + 1
        return items[index]

    def choose(self, enum: list[Any]) -> Any:
        """The enum value the text mentions first (each mention used once), else the first value."""
        best: tuple[int, str] | None = None
        for option in enum:
            if not isinstance(option, str) or len(option) < 2 or option in self.mentioned:
                continue
            match = re.search(rf"(?<!\w){re.escape(option)}(?!\w)", self.found.text, re.IGNORECASE)
            if match is not None and (best is None or match.start() < best[0]):
                best = (match.start(), option)
        if best is None:
            return enum[0]
        self.mentioned.add(best[1])
        return best[1]

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part.replace("~1", "/").replace("~0", "~"))
        return node


def _fit(answer: Value, kind: str) -> Any:
    """The answer as a value of JSON type `kind`, or `_NO_FIT`."""
    if isinstance(answer, bool):
        return answer if kind == "boolean" else ("yes" if answer else "no") if kind == "string" else _NO_FIT
    if kind == "string":
        return str(answer)
    if isinstance(answer, int) and kind in ("integer", "number"):
        return answer
    if isinstance(answer, Decimal) and kind in ("integer", "number"):
        if kind == "integer" and answer != answer.to_integral_value():
            return _NO_FIT
        return _json_number(answer)
    return _NO_FIT


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [k for k in kind if isinstance(k, str) and k.lower() != "null"]
        kind = named[0] if named else "null"
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    value: int | float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and not isinstance(low, bool) and low > value:
        value = low
    if isinstance(high, int | float) and not isinstance(high, bool) and high < value:
        value = high
    return int(value) if integer and float(value).is_integer() else value


def answer(prompt: Prompt, *, reply_words: int = 12, wrong_offset: int = 0) -> Answer:
    """Decide the answer to `prompt` (see the module docstring for the rules).

    `wrong_offset` is a drawn "wrong answer" fault: 0 answers right; any other value makes every
    verifiable answer wrong (numbers are shifted by it).
    """
    if prompt.tool_result is not None:
        return _text(prompt, f"Tool result received: {prompt.tool_result}")
    if prompt.tools and prompt.ends_with_user and prompt.tool_choice is not ToolChoice.NONE:
        return _tool_call(prompt, wrong_offset)
    text = prompt.user_text.lstrip()
    if text.startswith("echo-system:"):
        return _text(prompt, prompt.system)
    if text.startswith("echo:"):
        return _text(prompt, text[len("echo:") :].lstrip())
    solved = solve(prompt.user_text, wrong=wrong_offset)
    value: Value = canned_reply(reply_words) if solved is None else solved
    if prompt.json_mode:
        obj = (
            schema_value(prompt.json_schema, hint_text=prompt.user_text, answer=value, wrong=wrong_offset)
            if (prompt.json_schema)
            else {"answer": render(value)}
        )
        return _text(prompt, json.dumps(obj, ensure_ascii=False))
    return _text(prompt, render(value))


def blocked(prompt: Prompt) -> Answer:
    """The answer to a request that a safety filter stops: no content."""
    return Answer("", Finish.BLOCKED, prompt.prompt_tokens, 0)


def _text(prompt: Prompt, text: str) -> Answer:
    finish = Finish.STOP
    if prompt.max_tokens is not None:
        words = split_words(text)
        if len(words) > prompt.max_tokens:
            text = "".join(words[: max(prompt.max_tokens, 0)])
            finish = Finish.LENGTH
    return Answer(text, finish, prompt.prompt_tokens, estimate_tokens(text))


def _tool_call(prompt: Prompt, wrong: int) -> Answer:
    index = next((i for i, t in enumerate(prompt.tools) if t.name == prompt.forced_tool), None)
    forced = index is not None
    if index is None:
        index = pick_tool(prompt.tools, prompt.user_text)
    if wrong and not forced and len(prompt.tools) > 1:
        tool = prompt.tools[(index + 1) % len(prompt.tools)]  # the wrong tool
        args = _arguments(tool, prompt.user_text, wrong)
    else:
        tool = prompt.tools[index]
        args = _arguments(tool, prompt.user_text, wrong)
        if wrong and args and args == _arguments(tool, prompt.user_text, 0):
            first = next(iter(args))  # nothing read off the text changed: alter an argument
            args[first] = _skew(args[first], wrong)
    args_json = json.dumps(args, ensure_ascii=False)
    call = ToolCall(tool.name, args, args_json)
    return Answer("", Finish.TOOL_CALL, prompt.prompt_tokens, estimate_tokens(tool.name + args_json), call)


def pick_tool(tools: Sequence[Tool], text: str) -> int:
    """The index of the tool whose name (counted twice) and description share the most words with
    `text`; the first tool on a tie."""
    said = _tool_words(text)
    scores = [2 * len(_tool_words(t.name) & said) + len(_tool_words(t.description) & said) for t in tools]
    return scores.index(max(scores))


def _tool_words(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.replace("_", " ").lower())
    return {w.removesuffix("s") for w in words if len(w) > 2 and w not in _TOOL_STOPWORDS}


def _arguments(tool: Tool, text: str, wrong: int) -> dict[str, Any]:
    args = schema_value(tool.schema, hint_text=text, wrong=wrong) if tool.schema else {}
    return args if isinstance(args, dict) else {}


def _skew(value: Any, wrong: int) -> Any:
    """A different value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + wrong
    if isinstance(value, str):
        return f"{value} {abs(wrong)}"
    return None
