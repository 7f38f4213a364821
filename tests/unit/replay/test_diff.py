"""The diff of two answers: which fields differ, and the side-by-side view a person reads."""

from __future__ import annotations

import dataclasses

from seawall.replay import Answer, ToolCall, diff_answers, render_diff, text_diff
from seawall.replay._diff import tool_call_changes

BASE = Answer(
    text="The answer is 42.",
    finish_reason="stop",
    input_tokens=12,
    output_tokens=5,
    response_model="gpt-x",
    system_fingerprint="fp_a",
    service_tier="default",
    latency_ms=120.0,
    ttft_ms=30.0,
    status=200,
)


def live(**changes: object) -> Answer:
    return dataclasses.replace(BASE, **changes)


def row(view: str, label: str) -> str:
    """The view's row for `label` (its first line starting, after the marker, with the label)."""
    return next(line for line in view.splitlines() if line[2:].startswith(label + " "))


def cells(view: str, label: str) -> tuple[str, str, str]:
    """(marker, recorded cell, live cell) of a row, cut where the header puts its column titles."""
    header = next(line for line in view.splitlines() if line.strip().startswith("recorded"))
    left, right = header.index("recorded"), header.index("live")
    line = row(view, label)
    assert line[left - 1] == " " and line[right - 2 : right] == "  ", line  # the columns line up
    return line[0], line[left:right].rstrip(), line[right:]


def test_identical_answers_differ_in_nothing_but_timing() -> None:
    diff = diff_answers(BASE, live(latency_ms=80.0, ttft_ms=45.5))
    assert not diff.differs and diff.changed == () and not diff.identity_changed
    assert (diff.latency_delta_ms, diff.ttft_delta_ms) == (-40.0, 15.5)
    view = render_diff(diff)
    assert "model identity changed" not in view
    assert cells(view, "latency") == (" ", "120.0 ms", "80.0 ms (-40.0 ms)")
    assert cells(view, "ttft") == (" ", "30.0 ms", "45.5 ms (+15.5 ms)")
    assert not any(line.startswith("*") for line in view.splitlines())
    assert view.endswith("no difference (timing aside)")


def test_a_changed_text_is_marked_and_its_words_diffed() -> None:
    long = "The quick brown fox jumps over the lazy dog while the gateway under test forwards every token"
    diff = diff_answers(live(text=long), live(text=long.replace("jumps", "leaps")))
    assert diff.changed == ("text",) and diff.differs
    view = render_diff(diff)
    assert cells(view, "text")[0] == "*"
    assert "\ntext:\n  The quick brown fox [-jumps-] {+leaps+} over the lazy dog while the …\n" in view
    assert view.endswith("differs: text")


def test_a_short_changed_text_fits_its_row() -> None:
    view = render_diff(diff_answers(BASE, live(text="The answer is 43.")))
    assert cells(view, "text") == ("*", '"The answer is 42."', '"The answer is 43."')
    assert "\ntext:" not in view  # nothing the row cannot show


def test_multi_line_texts_are_diffed_by_line() -> None:
    old = "first line\nsecond line\nthird line"
    new = "first line\nsecond line, changed\nthird line"
    assert text_diff(old, new) == [
        "--- recorded",
        "+++ live",
        "@@ -1,3 +1,3 @@",
        " first line",
        "-second line",
        "+second line, changed",
        " third line",
    ]
    assert "text:\n  --- recorded\n  +++ live" in render_diff(diff_answers(live(text=old), live(text=new)))


def test_word_diff_elides_long_unchanged_runs_on_both_sides() -> None:
    words = [f"w{i}" for i in range(40)]
    changed = [*words[:20], "NEW", *words[21:]]
    assert text_diff(" ".join(words), " ".join(changed)) == [
        "… w14 w15 w16 w17 w18 w19 [-w20-] {+NEW+} w21 w22 w23 w24 w25 w26 …"
    ]


def test_tool_call_arguments_are_compared_by_key() -> None:
    recorded = (ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}), ToolCall("search", {"q": "x"}))
    changed = (ToolCall("get_weather", {"city": "Lyon", "days": 3}), ToolCall("lookup", {"q": "x"}))
    assert tool_call_changes(recorded, changed) == (
        '#0 get_weather(city): "Paris" -> "Lyon"',
        "#0 get_weather(days): (absent) -> 3",
        '#0 get_weather(unit): "celsius" -> (absent)',
        "#1 name: search -> lookup",
    )
    diff = diff_answers(live(tool_calls=recorded), live(tool_calls=changed))
    assert diff.changed == ("tool_calls",)
    view = render_diff(diff)
    marker, old, new = cells(view, "tool calls")
    assert (marker, old[:30], new[:30]) == (
        "*",
        'get_weather({"city":"Paris","u',
        'get_weather({"city":"Lyon","da',
    )
    assert old.endswith("…") and new.endswith("…")  # too long for a cell: the details say it all
    assert '\ntool calls:\n  #0 get_weather(city): "Paris" -> "Lyon"\n' in view


def test_tool_calls_one_side_made_and_arguments_that_are_not_objects() -> None:
    one = (ToolCall("f", "{broken"),)
    assert tool_call_changes(one, ()) == ("#0 f: only in the recorded answer",)
    assert tool_call_changes((), one) == ("#0 f: only in the live answer",)
    assert tool_call_changes(one, (ToolCall("f", {"a": 1}),)) == ('#0 f arguments: "{broken" -> {"a":1}',)
    # ids are not part of a ToolCall: the same call twice is the same
    assert tool_call_changes(one, (ToolCall("f", "{broken"),)) == ()


def test_finish_reason_and_usage_changes() -> None:
    diff = diff_answers(BASE, live(finish_reason="length", output_tokens=9, input_tokens=12))
    assert diff.changed == ("finish_reason", "output_tokens")
    view = render_diff(diff)
    assert cells(view, "finish reason") == ("*", "stop", "length")
    assert cells(view, "output tokens") == ("*", "5", "9 (+4)")
    assert cells(view, "input tokens") == (" ", "12", "12")
    assert view.endswith("differs: finish reason, output tokens")


def test_a_changed_fingerprint_is_called_out_first_on_its_own_line() -> None:
    diff = diff_answers(BASE, live(system_fingerprint="fp_b"))
    assert diff.changed == ("system_fingerprint",) and diff.identity_changed and diff.differs
    view = render_diff(diff)
    assert view.splitlines()[0] == "model identity changed: fp_a -> fp_b (system_fingerprint)"
    assert cells(view, "fingerprint") == ("*", "fp_a", "fp_b")
    assert cells(view, "model") == (" ", "gpt-x", "gpt-x")
    assert view.endswith("differs: model identity")


def test_a_changed_response_model_is_a_model_identity_change_too() -> None:
    diff = diff_answers(BASE, live(response_model="gpt-x-2026", system_fingerprint="fp_b", output_tokens=6))
    assert diff.identity_changed
    lines = render_diff(diff).splitlines()
    assert lines[:2] == [
        "model identity changed: gpt-x -> gpt-x-2026 (response model)",
        "model identity changed: fp_a -> fp_b (system_fingerprint)",
    ]
    assert lines[-1] == "differs: output tokens, model identity"


def test_a_fingerprint_that_appears_or_disappears_is_a_change() -> None:
    diff = diff_answers(live(system_fingerprint=None), BASE)
    assert diff.identity_changed
    assert render_diff(diff).startswith("model identity changed: - -> fp_a (system_fingerprint)")


def test_a_live_error_beside_a_recorded_answer() -> None:
    error = "server_error: upstream 503: The server is overloaded or not ready yet, please try again later."
    failed = Answer(status=503, error=error, latency_ms=3.0)
    diff = diff_answers(BASE, failed)
    # a failure has no model, tokens or text: absent, not changed; no identity line
    assert diff.changed == ("status", "error") and diff.differs and not diff.identity_changed
    view = render_diff(diff)
    assert "model identity changed" not in view
    assert cells(view, "status") == ("*", "200", "503")
    marker, old, new = cells(view, "error")
    assert (marker, old, new[:31]) == ("*", "-", "server_error: upstream 503: The")
    assert cells(view, "model") == (" ", "gpt-x", "-")  # absent, not marked
    assert f"\nlive error: {error}\n" in view
    assert "the live attempt failed: only status and error are compared" in view
    assert view.endswith("differs: status, error")


def test_an_error_row_only_when_a_side_has_an_error() -> None:
    assert "error" not in [
        line[2:].split(" ")[0] for line in render_diff(diff_answers(BASE, BASE)).splitlines()
    ]


def test_a_partial_stream_that_failed_is_compared_whole() -> None:
    cut = live(
        text="The answer", finish_reason=None, error="stream_cut: upstream closed the connection mid-stream"
    )
    diff = diff_answers(BASE, cut)
    assert diff.changed == ("error", "text", "finish_reason")


def test_the_table_keeps_to_its_width() -> None:
    long = live(text="x" * 500, tool_calls=(ToolCall("f", {"k": "v" * 300}),), error="e" * 300)
    labels = ("status", "error", "text", "tool calls", "finish reason", "latency", "fingerprint")
    for width in (80, 100, 140):
        view = render_diff(diff_answers(BASE, long), width=width)
        assert max(len(row(view, label)) for label in labels) <= width
        assert cells(view, "text")[2].endswith("…")
