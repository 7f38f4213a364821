"""`seawall serve` with no config serves the built-in simulated models: no API key, no upstream."""

from __future__ import annotations

import sys
from pathlib import Path

import openai

from tests.integration._procs import Proc, free_port, wait_http


def test_serve_without_config_answers_the_openai_sdk(tmp_path: Path) -> None:
    port = free_port()
    proc = Proc(
        [sys.executable, "-m", "seawall.cli", "serve", "--port", str(port)], tmp_path / "gw.log", cwd=tmp_path
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready", proc.proc, proc.log)
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0) as c:
            assert [m.id for m in c.models.list()] == ["demo", "demo-small"]
            answer = c.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "What is 3*4?"}]
            )
            assert answer.choices[0].message.content == "12"
            streamed = "".join(
                ch.choices[0].delta.content or ""
                for ch in c.chat.completions.create(
                    model="demo", messages=[{"role": "user", "content": "Hello!"}], stream=True
                )
                if ch.choices
            )
            assert len(streamed.split()) >= 5
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text()
