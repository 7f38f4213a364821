"""`providers[].sampling_params` (anthropic): from the config file to the body sent upstream."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Target
from seawall.config import load_config
from seawall.errors import ConfigError
from seawall.providers import build_provider
from tests.unit._fake_upstream import FakeUpstream, Reply

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
CONFIG = """
providers:
  - name: an
    kind: anthropic
    base_url: {url}
    api_key: k
{extra}
models:
  - name: m
    targets: [{{provider: an, model: claude}}]
"""


async def _sent_body(tmp_path: Path, extra: str) -> dict[str, object]:
    async with FakeUpstream(Reply(body=orjson.dumps(MESSAGE))) as up:
        path = tmp_path / "seawall.yaml"
        path.write_text(CONFIG.format(url=up.url, extra=extra))
        provider = build_provider(load_config(path).providers[0])
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "top_p": 0.9,
        }
        await provider.complete(
            ChatRequest(body=body, model="m"), Target("an", "claude"), AttemptTimeouts(), AttemptInfo()
        )
        await provider.aclose()
    sent: dict[str, object] = up.requests[0].body
    return sent


async def test_sampling_params_false_leaves_them_out(tmp_path: Path) -> None:
    sent = await _sent_body(tmp_path, "    sampling_params: false")
    assert not {"temperature", "top_p", "top_k"} & set(sent)


async def test_sampling_params_default_keeps_them(tmp_path: Path) -> None:
    sent = await _sent_body(tmp_path, "")
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9


def test_sampling_params_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "seawall.yaml"
    path.write_text(CONFIG.format(url="http://a:1", extra="    sampling_params: sometimes"))
    with pytest.raises(
        ConfigError, match=r"providers\[0\]\.sampling_params: Input should be a valid boolean"
    ):
        load_config(path)
