"""Replaying recorded traces, two ways.

Offline (`replay`, in `_offline`): re-run a recorded request through the real gateway with no
network, every nondeterministic input handed back from the recording (`_recorded`) on virtual time
(`_virtual`), and say whether it came out byte for byte the same, or where it first diverged.

Live re-run: send a recorded request again, now, to the target that answered it (or another), and
compare the answers side by side: "did the provider change?".

`_answer` reduces any recorded or live answer (any dialect, whole or streamed) to a comparable
`Answer`; `_diff` compares two of them (`diff_answers`) and renders the side-by-side view
(`render_diff`); `_live` makes the one live attempt (`rerun_live`); `_cli` is the command line's
part (`run_live_cli`). `_answer` and `_diff` are pure; the I/O is in `_live` and `_cli`.
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
from seawall.replay._cli import load_record, open_trace_store, render_live, replay_live_command, run_live_cli
from seawall.replay._diff import AnswerDiff, diff_answers, render_diff, text_diff
from seawall.replay._live import (
    LiveResult,
    ReplayError,
    TransportFor,
    choose_target,
    rebuild_request,
    rerun_live,
)
from seawall.replay._offline import ReplayResult, replay

__all__ = [
    "Answer",
    "AnswerDiff",
    "LiveResult",
    "ReplayError",
    "ReplayResult",
    "ToolCall",
    "TransportFor",
    "answer_from_attempt",
    "answer_from_chunks",
    "answer_from_completion",
    "answer_from_response",
    "answering_attempt",
    "choose_target",
    "decode_answer",
    "diff_answers",
    "load_record",
    "open_trace_store",
    "rebuild_request",
    "recorded_answer",
    "render_diff",
    "render_live",
    "replay",
    "replay_live_command",
    "rerun_live",
    "run_live_cli",
    "text_diff",
]
