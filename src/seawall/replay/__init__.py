"""Replaying recorded traces. Live re-run: send a recorded request again, now, to the target that
answered it (or another), and compare the answers side by side: "did the provider change?".

`_answer` reduces any recorded or live answer (any dialect, whole or streamed) to a comparable
`Answer`; `_diff` compares two of them (`diff_answers`) and renders the side-by-side view
(`render_diff`). Both are pure: no I/O.
"""

from seawall.replay._answer import (
    Answer,
    ToolCall,
    answer_from_attempt,
    answer_from_chunks,
    answer_from_completion,
    answer_from_response,
    answering_attempt,
    decode_answer,
    recorded_answer,
)
from seawall.replay._diff import AnswerDiff, diff_answers, render_diff, text_diff

__all__ = [
    "Answer",
    "AnswerDiff",
    "ToolCall",
    "answer_from_attempt",
    "answer_from_chunks",
    "answer_from_completion",
    "answer_from_response",
    "answering_attempt",
    "decode_answer",
    "diff_answers",
    "recorded_answer",
    "render_diff",
    "text_diff",
]
