"""Replaying recorded traces. Live re-run: send a recorded request again, now, to the target that
answered it (or another), and compare the answers side by side: "did the provider change?".

`_answer` reduces any recorded or live answer (any dialect, whole or streamed) to a comparable
`Answer`. Pure: no I/O.
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

__all__ = [
    "Answer",
    "ToolCall",
    "answer_from_attempt",
    "answer_from_chunks",
    "answer_from_completion",
    "answer_from_response",
    "answering_attempt",
    "decode_answer",
    "recorded_answer",
]
