"""Pure helpers shared by every adapter (`seawall.providers._wire_common`)."""

from seawall.providers._wire_common import chunk_has_content


def test_chunk_content_detection() -> None:
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    text = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    tool = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}, "finish_reason": None}]}
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"total_tokens": 3}}
    assert not chunk_has_content(role)
    assert all(chunk_has_content(c) for c in (text, tool, finish, usage))
