"""Canary suites: YAML files of verifiable probes, loaded and checked once, up front.

A suite file is ``suite: NAME`` plus ``probes:``, a list of probes::

    suite: arith
    probes:
      - id: sum-1
        prompt: "What is 17 + 25? Answer with only the number."
        expect: {number: 42}

A probe has an `id`, a `prompt` (one user message) or `messages` (OpenAI chat format), an
optional `system` prompt, `tools`, `response_format` and `max_tokens`, an `expect` verifier (see
`seawall.quality._verify`) and, for balance reporting, an optional `category` and `label`.

Every problem in a file is reported at once, one line each, naming the file, the probe and the
field: ``suites/arith.yaml: probes[3] (id 'sum-1'): expect.number: expected a number, got 'forty'``.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from seawall.errors import ConfigError
from seawall.quality._verify import (
    VERIFIERS,
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
    Verdict,
    regex_flags,
    verify,
)

DEFAULT_MAX_TOKENS = 64
"""Completion tokens a probe may use unless it says otherwise: canary answers are short."""
BUILTIN = "builtin"
"""The name of the suite shipped with Seawall (`builtin.yaml` in this package)."""

_ROLES = ("system", "developer", "user", "assistant", "tool")
_PROBE_KEYS = (
    "id",
    "prompt",
    "messages",
    "system",
    "tools",
    "response_format",
    "max_tokens",
    "expect",
    "label",
    "category",
)
_MODIFIERS = {"tolerance": ("number",), "flags": ("regex",), "ignore_case": ("contains", "not_contains")}
_TEXT_VERIFIERS: dict[str, type[Exact] | type[Normalized]] = {"exact": Exact, "normalized": Normalized}
_PYTHON_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True, slots=True)
class Probe:
    """One verifiable question: what to send (OpenAI chat format) and how to check the answer."""

    id: str
    messages: tuple[Mapping[str, Any], ...]
    expect: Expect
    tools: tuple[Mapping[str, Any], ...] = ()
    response_format: Mapping[str, Any] | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    label: str | None = None
    """The expected answer class for balance reporting, e.g. "yes" or "no"."""
    category: str | None = None

    def body(self, model: str) -> dict[str, Any]:
        """The OpenAI chat completions request body that asks this probe of `model`."""
        body: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in self.messages],
            "max_tokens": self.max_tokens,
        }
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        if self.response_format is not None:
            body["response_format"] = dict(self.response_format)
        return body

    def verify(self, answer: ProbeAnswer) -> Verdict:
        """Check an answer to this probe."""
        return verify(self.expect, answer)


@dataclass(frozen=True, slots=True)
class Suite:
    """A named list of probes, and where it was read from."""

    name: str
    probes: tuple[Probe, ...]
    source: str = ""


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and check a suite file; raises `ConfigError` naming the file, probe and field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the suite file: {exc.strerror or exc}") from None
    return parse_suite(text, source)


@functools.cache
def builtin_suite() -> Suite:
    """The suite shipped with Seawall (docs/quality.md#the-builtin-suite)."""
    text = resources.files("seawall.quality").joinpath("builtin.yaml").read_text(encoding="utf-8")
    return parse_suite(text, "builtin.yaml (shipped with seawall)")


def resolve_suites(
    paths: Mapping[str, str | os.PathLike[str]], *, base: str | os.PathLike[str] | None = None
) -> dict[str, Suite]:
    """The suites a configuration names (`name → file`), plus `builtin`.

    Relative paths are read from `base` (the configuration file's folder) when given. Problems in
    every file are reported together in one `ConfigError`.
    """
    suites = {BUILTIN: builtin_suite()}
    errors: list[str] = []
    for name, path in paths.items():
        if name == BUILTIN:
            errors.append(f"suite {name!r}: the name is reserved for the shipped suite; pick another")
            continue
        full = Path(path)
        if base is not None and not full.is_absolute():
            full = Path(base) / full
        try:
            suites[name] = load_suite(full)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return suites


def parse_suite(text: str, source: str) -> Suite:
    """Parse and check the YAML text of a suite file; `source` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    errors: list[str] = []
    suite = _suite(data, _Report(source, errors))
    if errors or suite is None:
        raise ConfigError("\n".join(errors))
    return suite


class _Report:
    """Collects errors, each prefixed with the file and the place in it."""

    def __init__(self, source: str, errors: list[str], where: str = "") -> None:
        self.source = source
        self.errors = errors
        self.where = where

    def at(self, where: str) -> _Report:
        return _Report(self.source, self.errors, where)

    def error(self, field: str, message: str) -> None:
        place = ": ".join(p for p in (self.source, self.where, field) if p)
        self.errors.append(f"{place}: {message}")


def _suite(data: Any, report: _Report) -> Suite | None:
    if data is None:
        report.error("", "the file is empty (expected keys 'suite' and 'probes')")
        return None
    if not isinstance(data, dict):
        report.error("", f"expected a mapping with keys 'suite' and 'probes', got {_kind(data)}")
        return None
    for key in data:
        if key not in ("suite", "probes", "description"):
            report.error(str(key), "unknown key (expected: suite, probes, description)")
    name = data.get("suite")
    if not isinstance(name, str) or not name.strip():
        report.error("suite", f"expected the suite's name, got {_show(name)}")
    probes_data = data.get("probes")
    if not isinstance(probes_data, list) or not probes_data:
        report.error("probes", f"expected a non-empty list of probes, got {_show(probes_data)}")
        return None
    probes: list[Probe] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(probes_data):
        probe_id = item.get("id") if isinstance(item, dict) else None
        where = f"probes[{index}]" + (f" (id {probe_id!r})" if isinstance(probe_id, str) else "")
        probe = _probe(item, report.at(where))
        if isinstance(probe_id, str) and probe_id in seen:
            report.at(where).error("id", f"duplicate id (probes[{seen[probe_id]}] has it too)")
            continue
        if isinstance(probe_id, str):
            seen[probe_id] = index
        if probe is not None:
            probes.append(probe)
    if not isinstance(name, str) or not name.strip():
        return None
    return Suite(name.strip(), tuple(probes), report.source)


def _probe(data: Any, report: _Report) -> Probe | None:
    if not isinstance(data, dict):
        report.error("", f"expected a mapping with id, prompt and expect, got {_kind(data)}")
        return None
    before = len(report.errors)
    for key in data:
        if key not in _PROBE_KEYS:
            report.error(str(key), f"unknown key (expected: {', '.join(_PROBE_KEYS)})")
    probe_id = data.get("id")
    if not isinstance(probe_id, str) or not probe_id.strip() or probe_id != probe_id.strip():
        report.error("id", f"expected a non-empty string without outer spaces, got {_show(probe_id)}")
    messages = _messages(data, report)
    tools = _tools(data.get("tools"), report)
    response_format = _response_format(data.get("response_format"), report)
    max_tokens = data.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        report.error("max_tokens", f"expected an integer >= 1, got {_show(max_tokens)}")
    label = _optional_string(data, "label", report)
    category = _optional_string(data, "category", report)
    if "expect" not in data:
        report.error("expect", "required: the verifier of the answer, e.g. {number: 42}")
        expect = None
    else:
        expect = _expect(data["expect"], tools, report)
    if len(report.errors) > before or expect is None or messages is None or tools is None:
        return None
    return Probe(
        id=str(probe_id),
        messages=messages,
        expect=expect,
        tools=tools,
        response_format=response_format,
        max_tokens=max_tokens,
        label=label,
        category=category,
    )


def _messages(data: Mapping[str, Any], report: _Report) -> tuple[Mapping[str, Any], ...] | None:
    system = data.get("system")
    if system is not None and not _is_text(system):
        report.error("system", f"expected a string, got {_show(system)}")
        return None
    head: tuple[Mapping[str, Any], ...] = ({"role": "system", "content": system},) if system else ()
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt and has_messages:
        report.error("prompt", "give either prompt or messages, not both")
        return None
    if has_prompt:
        prompt = data["prompt"]
        if not _is_text(prompt):
            report.error("prompt", f"expected a non-empty string, got {_show(prompt)}")
            return None
        return (*head, {"role": "user", "content": prompt})
    if not has_messages:
        report.error("prompt", "required: the question (or messages, a list of chat messages)")
        return None
    messages = data["messages"]
    if not isinstance(messages, list) or not messages:
        report.error("messages", f"expected a non-empty list of chat messages, got {_show(messages)}")
        return None
    ok = True
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            report.error(f"messages[{i}]", f"expected a mapping with role and content, got {_kind(msg)}")
            ok = False
            continue
        if msg.get("role") not in _ROLES:
            report.error(
                f"messages[{i}].role", f"expected one of {', '.join(_ROLES)}, got {_show(msg.get('role'))}"
            )
            ok = False
        content = msg.get("content")
        if not (isinstance(content, str | list) or (content is None and msg.get("tool_calls"))):
            report.error(
                f"messages[{i}].content", f"expected a string or a list of parts, got {_show(content)}"
            )
            ok = False
    return (*head, *(dict(m) for m in messages)) if ok else None


def _tools(value: Any, report: _Report) -> tuple[Mapping[str, Any], ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list):
        report.error("tools", f"expected a list of tools, got {_show(value)}")
        return None
    ok = True
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            report.error(
                f"tools[{i}]",
                "expected {type: function, function: {name, description, parameters}}, "
                f"got {_show(tool)}",
            )
            ok = False
            continue
        params = fn.get("parameters")
        if params is not None and not _schema_ok(params, f"tools[{i}].function.parameters", report):
            ok = False
    return tuple(dict(t) for t in value) if ok else None


def _response_format(value: Any, report: _Report) -> Mapping[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        report.error(
            "response_format",
            f"expected {{type: text | json_object | json_schema, ...}}, got {_show(value)}",
        )
        return None
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            report.error("response_format.json_schema", f"expected {{name, schema}}, got {_show(spec)}")
            return None
        if not _schema_ok(spec.get("schema"), "response_format.json_schema.schema", report):
            return None
    return dict(value)


def _expect(value: Any, tools: tuple[Mapping[str, Any], ...] | None, report: _Report) -> Expect | None:
    if not isinstance(value, dict):
        report.error(
            "expect", f"expected a mapping with one verifier ({', '.join(VERIFIERS)}), got {_show(value)}"
        )
        return None
    kinds = [k for k in value if k in VERIFIERS]
    unknown = [str(k) for k in value if k not in VERIFIERS and k not in _MODIFIERS]
    for key in unknown:
        report.error(f"expect.{key}", f"unknown verifier (expected one of: {', '.join(VERIFIERS)})")
    if len(kinds) != 1:
        if not unknown:
            got = " and ".join(map(repr, kinds)) if kinds else "none"
            report.error("expect", f"expected exactly one verifier ({', '.join(VERIFIERS)}), got {got}")
        return None
    kind = kinds[0]
    for key in value:
        if key in _MODIFIERS and kind not in _MODIFIERS[key]:
            report.error(f"expect.{key}", f"applies only to {' and '.join(_MODIFIERS[key])}, not {kind}")
            return None
    spec, field = value[kind], f"expect.{kind}"
    if kind == "number":
        return _number(spec, value.get("tolerance", 0), report)
    if kind in _TEXT_VERIFIERS:
        if not isinstance(spec, str):
            report.error(field, f"expected a string, got {_show(spec)}{_quote_hint(spec)}")
            return None
        return _TEXT_VERIFIERS[kind](spec)
    if kind in ("contains", "not_contains"):
        ignore_case = value.get("ignore_case", False)
        if not isinstance(spec, str) or not spec:
            report.error(field, f"expected a non-empty string, got {_show(spec)}{_quote_hint(spec)}")
            return None
        if not isinstance(ignore_case, bool):
            report.error("expect.ignore_case", f"expected true or false, got {_show(ignore_case)}")
            return None
        return Contains(spec, ignore_case) if kind == "contains" else NotContains(spec, ignore_case)
    if kind == "regex":
        return _regex(spec, value.get("flags", ""), report)
    if kind == "json_schema":
        return JsonSchema(spec) if _schema_ok(spec, field, report) else None
    if kind == "tool_call":
        return _tool_call(spec, tools or (), report)
    return _python(spec, report)


def _number(spec: Any, tolerance: Any, report: _Report) -> Number | None:
    ok = True
    if isinstance(spec, bool) or not isinstance(spec, int | float) or not math.isfinite(spec):
        report.error("expect.number", f"expected a number, got {_show(spec)}")
        ok = False
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < math.inf:
        report.error("expect.tolerance", f"expected a number >= 0, got {_show(tolerance)}")
        ok = False
    return Number(Decimal(str(spec)), Decimal(str(tolerance))) if ok else None


def _regex(spec: Any, flags: Any, report: _Report) -> Regex | None:
    if not isinstance(spec, str) or not spec:
        report.error("expect.regex", f"expected a regular expression, got {_show(spec)}")
        return None
    if not isinstance(flags, str):
        report.error("expect.flags", f"expected letters among i, m, s, x, got {_show(flags)}")
        return None
    try:
        regex_flags(flags)
    except ValueError as exc:
        report.error("expect.flags", str(exc))
        return None
    try:
        re.compile(spec, regex_flags(flags))
    except re.error as exc:
        report.error("expect.regex", f"not a valid regular expression: {exc}")
        return None
    return Regex(spec, flags)


def _tool_call(spec: Any, tools: tuple[Mapping[str, Any], ...], report: _Report) -> ToolCallSpec | None:
    if not isinstance(spec, dict):
        report.error("expect.tool_call", f"expected {{name, arguments}}, got {_show(spec)}")
        return None
    for key in spec:
        if key not in ("name", "arguments"):
            report.error(f"expect.tool_call.{key}", "unknown key (expected: name, arguments)")
            return None
    name, arguments = spec.get("name"), spec.get("arguments", {})
    if not isinstance(name, str) or not name:
        report.error("expect.tool_call.name", f"expected the tool's name, got {_show(name)}")
        return None
    if not isinstance(arguments, dict):
        report.error(
            "expect.tool_call.arguments",
            f"expected a mapping (a subset of the arguments), got {_show(arguments)}",
        )
        return None
    offered = [t["function"]["name"] for t in tools]
    if name not in offered:
        have = f"the probe's tools are {', '.join(offered)}" if offered else "the probe offers no tools"
        report.error("expect.tool_call.name", f"{name!r} is not offered ({have})")
        return None
    return ToolCallSpec(name, arguments)


def _python(spec: Any, report: _Report) -> Python | None:
    if not isinstance(spec, str) or not _PYTHON_REF.match(spec):
        report.error("expect.python", f"expected 'module:function', got {_show(spec)}")
        return None
    module_name, function_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        report.error("expect.python", f"cannot import module {module_name!r}: {exc}")
        return None
    function = getattr(module, function_name, None)
    if not callable(function):
        report.error("expect.python", f"module {module_name!r} has no function {function_name!r}")
        return None
    return Python(spec, function)


def _schema_ok(schema: Any, field: str, report: _Report) -> bool:
    if not isinstance(schema, dict):
        report.error(field, f"expected a JSON Schema (a mapping), got {_show(schema)}")
        return False
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in exc.absolute_path)
        report.error(field + where, f"not a valid JSON Schema: {exc.message}")
        return False
    return True


def _optional_string(data: Mapping[str, Any], key: str, report: _Report) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        report.error(key, f"expected a string, got {_show(value)}{_quote_hint(value)}")
        return None
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return " (YAML reads yes/no/true/false as booleans: quote it, e.g. 'yes')"
    if isinstance(value, int | float):
        return " (quote it to make it a string)"
    return ""


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
