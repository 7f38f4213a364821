"""The same engine in-process: `async with seawall.Gateway.from_config(...)`, no HTTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

import seawall
from tests.integration._procs import Sim
from tests.integration.conftest import gateway_config


async def test_chat_and_stream_in_process(tmp_path: Path, sims: tuple[Sim, Sim]) -> None:
    config = gateway_config(*sims)
    config["traces"] = {"store": f"sqlite:///{tmp_path / 'lib.db'}"}
    async with seawall.Gateway.from_config(config) as gw:
        answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "What is 6*7?"}])
        assert answer["choices"][0]["message"]["content"] == "42"
        sims[0].control(error_rate=1, error_status=503)
        stream = await gw.chat(
            model="chat",
            messages=[{"role": "user", "content": "What is 1+1?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == "2"
        assert chunks[-1]["usage"]["total_tokens"] > 0
        with pytest.raises(seawall.ModelNotFound):
            await gw.chat(model="nope", messages=[{"role": "user", "content": "x"}])
        assert gw.recorder.flush(5)
        rows = gw.store.list(limit=10) if gw.store else []
    assert [r.status for r in rows] == [404, 200, 200]
    assert rows[1].answered_by == "secondary/gpt-secondary"


async def test_builtin_defaults_need_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with seawall.Gateway.from_config() as gw:
        answer = await gw.chat(model="demo", messages=[{"role": "user", "content": "What is 2+2?"}])
    assert answer["choices"][0]["message"]["content"] == "4"
    assert (tmp_path / "seawall-traces.db").exists()
