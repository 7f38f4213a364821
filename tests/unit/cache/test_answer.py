"""One stored form: a stream assembles into a completion, a completion replays as a stream."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.cache import chunks_from_completion, completion_from_chunks
from seawall.providers._wire_common import chunk, usage_chunk

HEAD: dict[str, Any] = {"id": "chatcmpl-1", "created": 1700000000, "model": "gpt-4o-2024-08-06"}
USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def _text_stream() -> list[dict[str, Any]]:
    return [
        {**chunk(**HEAD, delta={"role": "assistant", "content": ""}), "system_fingerprint": "fp_1"},
        chunk(**HEAD, delta={"content": "Hel"}),
        chunk(**HEAD, delta={"content": "lo"}),
        chunk(**HEAD, delta={}, finish_reason="stop"),
        usage_chunk(**HEAD, usage=USAGE),
    ]


def test_a_text_stream_assembles() -> None:
    assert completion_from_chunks(_text_stream()) == {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
        "system_fingerprint": "fp_1",
    }


def test_tool_call_pieces_assemble() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": ""}}
    stream = [
        chunk(**HEAD, delta={"role": "assistant", "content": None, "tool_calls": [call]}),
        chunk(**HEAD, delta={"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk(**HEAD, delta={"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk(**HEAD, delta={}, finish_reason="tool_calls"),
    ]
    done = completion_from_chunks(stream)
    assert done is not None
    message = done["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"a":1}'}}
    ]


@pytest.mark.parametrize(
    "stream",
    [
        [],
        _text_stream()[:3],  # cut before the finish reason
        [*_text_stream()[:3], {"error": {"message": "overloaded"}}],
        [
            chunk(**HEAD, delta={"function_call": {"name": "f"}}),
            chunk(**HEAD, delta={}, finish_reason="stop"),
        ],
        [chunk(**HEAD, delta={"tool_calls": [{"id": "x"}]}), chunk(**HEAD, delta={}, finish_reason="stop")],
    ],
)
def test_incomplete_or_unkept_streams_do_not_assemble(stream: list[dict[str, Any]]) -> None:
    assert completion_from_chunks(stream) is None


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_completion_replays_as_a_stream_that_assembles_back(include_usage: bool) -> None:
    done = completion_from_chunks(_text_stream())
    assert done is not None
    chunks = chunks_from_completion(done, include_usage=include_usage)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    assert all(c["system_fingerprint"] == "fp_1" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    again = completion_from_chunks(chunks)
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"] == USAGE
        assert all(c["usage"] is None for c in chunks[:-1])
        assert again == done
    else:
        assert all("usage" not in c for c in chunks)
        assert again == {**done, "usage": None}


def test_tool_calls_replay_whole() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{}"}}
    done = {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]},
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    }
    chunks = chunks_from_completion(done, include_usage=False)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [{"index": 0, **call}]},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert completion_from_chunks(chunks) == {**done, "usage": None}
