"""Two answers compared: which fields differ (`diff_answers`), and a side-by-side view (`render_diff`).

The comparison is on `Answer`s (see `_answer`), so a recorded answer and a live one compare alike
whatever dialects they came in. A field *differs* when its values are unequal: the text, the tool
calls (by name and argument; ids are never compared), the finish reason, each token count, the
response model, the `system_fingerprint`, the service tier, the status and the error. Latency and
time to first token are never equal twice, so they are shown with their deltas but never count as
a difference: `AnswerDiff.differs` answers "did the provider's answer change?", not "was it as
fast?". When either side failed without an answer (only an error), only the status and the error
are compared: the rest of a failure is absent, not changed.

A changed response model or fingerprint is a *model identity* change: the provider may have swapped
the model behind the name, and the view says so first, on a line of its own:

    model identity changed: fp_seawall_sim -> fp_v2 (system_fingerprint)

Below it, one row per field with both values (`*` marks the rows that differ), then the details a
row cannot hold: a text diff (by line for multi-line texts, by word otherwise), each tool-call
argument that changed, and the full error messages. Pure: values in, text out.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seawall.replay._answer import Answer, ToolCall

#: The compared fields, in the order the view lists them. Timing is shown, never compared.
FIELDS = (
    "status",
    "error",
    "text",
    "tool_calls",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "response_model",
    "system_fingerprint",
    "service_tier",
)
IDENTITY = ("response_model", "system_fingerprint")
_FAILURE = ("status", "error")
_LABELS = {
    "status": "status",
    "error": "error",
    "text": "text",
    "tool_calls": "tool calls",
    "finish_reason": "finish reason",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "latency_ms": "latency",
    "ttft_ms": "ttft",
    "response_model": "model",
    "system_fingerprint": "fingerprint",
    "service_tier": "service tier",
}
_WORD_CONTEXT = 6  # unchanged words kept on each side of a change in a word diff


@dataclass(frozen=True, slots=True)
class AnswerDiff:
    """How a live answer differs from a recorded one. `changed` names the fields that differ, in
    `FIELDS` order; `tool_call_changes` says how the tool calls differ, one line per change."""

    recorded: Answer
    live: Answer
    changed: tuple[str, ...]
    tool_call_changes: tuple[str, ...] = ()

    @property
    def differs(self) -> bool:
        """Whether anything but timing differs."""
        return bool(self.changed)

    @property
    def identity_changed(self) -> bool:
        """Whether the response model or the `system_fingerprint` changed."""
        return any(name in self.changed for name in IDENTITY)

    @property
    def latency_delta_ms(self) -> float | None:
        return _delta(self.recorded.latency_ms, self.live.latency_ms)

    @property
    def ttft_delta_ms(self) -> float | None:
        return _delta(self.recorded.ttft_ms, self.live.ttft_ms)


def diff_answers(recorded: Answer, live: Answer) -> AnswerDiff:
    """Compare two answers field by field (see the module docstring). When either side failed
    without an answer, only the status and the error are compared: the other fields of a failure
    are absent, not changed (a 503 has no fingerprint, yet the model did not change)."""
    fields = _FAILURE if failed(recorded) or failed(live) else FIELDS
    changed = tuple(name for name in fields if getattr(recorded, name) != getattr(live, name))
    return AnswerDiff(recorded, live, changed, tool_call_changes(recorded.tool_calls, live.tool_calls))


def failed(answer: Answer) -> bool:
    """An answer that is only an error: nothing said, no finish reason."""
    return answer.error is not None and not (answer.text or answer.tool_calls or answer.finish_reason)


def tool_call_changes(recorded: tuple[ToolCall, ...], live: tuple[ToolCall, ...]) -> tuple[str, ...]:
    """Tool calls compared position by position: a renamed call, each argument added, removed or
    changed (by key, when both sides' arguments are objects), and calls only one side made."""
    out: list[str] = []
    for i in range(max(len(recorded), len(live))):
        if i >= len(live):
            out.append(f"#{i} {recorded[i].name}: only in the recorded answer")
            continue
        if i >= len(recorded):
            out.append(f"#{i} {live[i].name}: only in the live answer")
            continue
        old, new = recorded[i], live[i]
        if old.name != new.name:
            out.append(f"#{i} name: {old.name} -> {new.name}")
        if old.arguments == new.arguments:
            continue
        if isinstance(old.arguments, dict) and isinstance(new.arguments, dict):
            for key in sorted(old.arguments.keys() | new.arguments.keys()):
                before, after = old.arguments.get(key, _ABSENT), new.arguments.get(key, _ABSENT)
                if before != after:
                    out.append(f"#{i} {new.name}({key}): {_json(before)} -> {_json(after)}")
        else:
            out.append(f"#{i} {new.name} arguments: {_json(old.arguments)} -> {_json(new.arguments)}")
    return tuple(out)


# -- the view ----------------------------------------------------------------------------------------
def render_diff(diff: AnswerDiff, *, width: int = 100, labels: tuple[str, str] = ("recorded", "live")) -> str:
    """The side-by-side view of `diff`, about `width` columns wide (see the module docstring)."""
    recorded, live = diff.recorded, diff.live
    lines = [
        f"model identity changed: {_value(getattr(recorded, name))} -> {_value(getattr(live, name))}"
        f" ({'system_fingerprint' if name == 'system_fingerprint' else 'response model'})"
        for name in IDENTITY
        if name in diff.changed
    ]
    if lines:
        lines.append("")
    label_w = 15
    col = max(12, (width - label_w - 6) // 2)
    lines.append(f"  {'':<{label_w}} {labels[0]:<{col}}  {labels[1]}".rstrip())
    for name, show in _ROWS:
        old, new = getattr(recorded, name), getattr(live, name)
        if name == "error" and old is None and new is None:
            continue
        mark = "*" if name in diff.changed else " "
        left, right = show(old), show(new)
        if name in _DELTAS:
            right += _DELTAS[name](old, new)
        lines.append(f"{mark} {_LABELS[name]:<{label_w}} {_cell(left, col)}  {_cell(right, col)}".rstrip())
    details = _details(diff, col)
    for side, answer in (("recorded", recorded), ("live", live)):
        if failed(answer):
            details.append(f"the {side} attempt failed: only status and error are compared")
    if details:
        lines += ["", *details]
    lines += ["", _summary(diff)]
    return "\n".join(lines)


def _details(diff: AnswerDiff, col: int) -> list[str]:
    recorded, live = diff.recorded, diff.live
    out: list[str] = []
    if "text" in diff.changed and _needs_detail(recorded.text, live.text, col):
        out += ["text:", *(f"  {line}" for line in text_diff(recorded.text, live.text))]
    if diff.tool_call_changes and "tool_calls" in diff.changed:
        out += ["tool calls:", *(f"  {line}" for line in diff.tool_call_changes)]
    if "error" in diff.changed:
        for side, answer in (("recorded", recorded), ("live", live)):
            if answer.error is not None and len(answer.error) > col:
                out.append(f"{side} error: {answer.error}")
    return out


def text_diff(old: str, new: str) -> list[str]:
    """Two texts' differences: a unified diff by line when either has several lines, else one line
    by word, `[-removed-]{+added+}` (as `git diff --word-diff`), long unchanged runs elided."""
    if "\n" in old or "\n" in new:
        return list(
            difflib.unified_diff(old.splitlines(), new.splitlines(), "recorded", "live", n=1, lineterm="")
        )
    a, b = old.split(), new.split()
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    words: list[str] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = a[i1:i2]
            head = same[:_WORD_CONTEXT] if n else []
            tail = same[-_WORD_CONTEXT:] if n < len(opcodes) - 1 else []
            if len(head) + len(tail) < len(same):
                words += [*head, "…", *tail]
            else:
                words += same
            continue
        if i2 > i1:
            words.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            words.append("{+" + " ".join(b[j1:j2]) + "+}")
    return [" ".join(words)]


def _summary(diff: AnswerDiff) -> str:
    if not diff.differs:
        return "no difference (timing aside)"
    names = [_LABELS[name] for name in diff.changed if name not in IDENTITY]
    if diff.identity_changed:
        names.append("model identity")
    return f"differs: {', '.join(names)}"


def _needs_detail(old: str, new: str, col: int) -> bool:
    return "\n" in old or "\n" in new or len(_quoted(old)) > col or len(_quoted(new)) > col


# -- cells -------------------------------------------------------------------------------------------
class _Absent:
    """A tool-call argument one side did not pass."""


_ABSENT = _Absent()


def _json(value: Any) -> str:
    if isinstance(value, _Absent):
        return "(absent)"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) if text else "-"


def _calls(calls: tuple[ToolCall, ...]) -> str:
    if not calls:
        return "-"
    return ", ".join(f"{c.name}({_json(c.arguments)})" for c in calls)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _cell(text: str, width: int) -> str:
    return f"{text:<{width}}" if len(text) <= width else text[: width - 1] + "…"


def _delta(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else new - old


def _ms_delta(old: float | None, new: float | None) -> str:
    delta = _delta(old, new)
    return "" if delta is None else f" ({round(delta, 1) or 0.0:+.1f} ms)"  # never "-0.0"


def _count_delta(old: int | None, new: int | None) -> str:
    if old is None or new is None or old == new:
        return ""
    return f" ({new - old:+d})"


_ROWS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("status", _value),
    ("error", _value),
    ("text", _quoted),
    ("tool_calls", _calls),
    ("finish_reason", _value),
    ("input_tokens", _value),
    ("output_tokens", _value),
    ("latency_ms", _ms),
    ("ttft_ms", _ms),
    ("response_model", _value),
    ("system_fingerprint", _value),
    ("service_tier", _value),
)
_DELTAS: dict[str, Callable[[Any, Any], str]] = {
    "input_tokens": _count_delta,
    "output_tokens": _count_delta,
    "latency_ms": _ms_delta,
    "ttft_ms": _ms_delta,
}

__all__ = [
    "FIELDS",
    "IDENTITY",
    "AnswerDiff",
    "diff_answers",
    "failed",
    "render_diff",
    "text_diff",
    "tool_call_changes",
]
