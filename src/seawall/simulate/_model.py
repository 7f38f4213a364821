"""The simulated model: decides *what* to answer, independent of any wire format.

Each dialect parses its request into one `Prompt`; `answer()` turns it into one `Answer`; the
dialect renders that back to its own JSON or event stream. Keeping the decision here means the
three dialects cannot drift apart: the same question gets the same answer everywhere.

Rules, first match wins:

1. the conversation ends with a tool result  → ``Tool result received: <result text>``
2. tools are offered, the conversation ends with a user message and tool choice is not "none"
   → a call of the forced tool, else the first tool, with arguments built from its JSON schema
3. the user's text starts with ``echo:``        → the rest, verbatim (leading blanks dropped);
   ``echo-system:``                              → the system prompt as received
4. a JSON answer was asked for                  → valid JSON (schema-shaped when a schema is given)
5. "What is 17+25?" (``+ - * x ×``)              → ``42`` (off by a small offset when told to be wrong)
6. anything else                                → a fixed sentence of `reply_words` words

A max-token limit cuts a text answer to that many words (finish `LENGTH`). Token counts are
estimates: characters // 4, at least 1.

Must not: do I/O, read clocks or draw random numbers (the caller passes in any drawn fault).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_ARITHMETIC = re.compile(r"\bwhat\s+is\s+(-?\d+)\s*([-+*x×])\s*(-?\d+)", re.IGNORECASE)
_PLACE = re.compile(r"\bin\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")
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
    """A tool the request offers: its name and the JSON schema of its arguments."""

    name: str
    schema: Mapping[str, Any]


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


def arithmetic(text: str) -> int | None:
    """The value of a "What is A op B" question in `text`, or None when there is none."""
    match = _ARITHMETIC.search(text)
    if match is None:
        return None
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def canned_reply(words: int) -> str:
    """The fixed sentence of `words` words."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(words))


def schema_value(schema: Mapping[str, Any], *, hint_text: str = "", answer: str | int | None = None) -> Any:
    """A value valid for a (simple) JSON schema, built deterministically.

    Objects get their required properties; strings a place named in `hint_text` ("weather in
    Paris" → "Paris") or "example"; numbers 1 (within minimum/maximum); booleans true; enums and
    consts their first value; arrays one item. Local ``$ref``s are followed. When `answer` is
    given, a property called "answer" gets it (used for JSON answers, not for tool arguments).
    Gemini's upper-case type names are accepted.
    """
    place = _PLACE.search(hint_text)
    return _Filler(schema, place.group(1) if place else "example", answer).value(schema, 0)


class _Filler:
    def __init__(self, root: Mapping[str, Any], text: str, answer: str | int | None) -> None:
        self.root = root
        self.text = text
        self.answer = answer

    def value(self, schema: Any, depth: int, name: str = "") -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_SCHEMA_DEPTH:
            return None
        if isinstance(schema.get("$ref"), str):
            return self.value(self.resolve(schema["$ref"]), depth + 1, name)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for key in ("anyOf", "oneOf", "allOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                usable = [o for o in options if not (isinstance(o, Mapping) and _kind(o) == "null")]
                return self.value((usable or options)[0], depth + 1, name)
        kind = _kind(schema)
        if name == "answer" and self.answer is not None and kind in ("string", "integer", "number"):
            if kind == "string":
                return str(self.answer)
            if isinstance(self.answer, int):
                return self.answer
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
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        fmt = schema.get("format")
        return _STRING_FORMATS.get(fmt, self.text) if isinstance(fmt, str) else self.text

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part.replace("~1", "/").replace("~0", "~"))
        return node


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

    `wrong_offset` is added to arithmetic results: a drawn "wrong answer" fault.
    """
    if prompt.tool_result is not None:
        return _text(prompt, f"Tool result received: {prompt.tool_result}")
    if prompt.tools and prompt.ends_with_user and prompt.tool_choice is not ToolChoice.NONE:
        return _tool_call(prompt)
    text = prompt.user_text.lstrip()
    if text.startswith("echo-system:"):
        return _text(prompt, prompt.system)
    if text.startswith("echo:"):
        return _text(prompt, text[len("echo:") :].lstrip())
    result = arithmetic(prompt.user_text)
    value: str | int = canned_reply(reply_words) if result is None else result + wrong_offset
    if prompt.json_mode:
        obj = (
            schema_value(prompt.json_schema, hint_text=prompt.user_text, answer=value)
            if (prompt.json_schema)
            else {"answer": str(value)}
        )
        return _text(prompt, json.dumps(obj, ensure_ascii=False))
    return _text(prompt, str(value))


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


def _tool_call(prompt: Prompt) -> Answer:
    tool = next((t for t in prompt.tools if t.name == prompt.forced_tool), prompt.tools[0])
    args = schema_value(tool.schema, hint_text=prompt.user_text) if tool.schema else {}
    if not isinstance(args, dict):
        args = {}
    args_json = json.dumps(args, ensure_ascii=False)
    call = ToolCall(tool.name, args, args_json)
    return Answer("", Finish.TOOL_CALL, prompt.prompt_tokens, estimate_tokens(tool.name + args_json), call)
