"""A gateway crash (SIGKILL) must not lose the trace of any request whose response was delivered."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import openai

from tests.integration._procs import GatewayProc, Sim
from tests.integration.conftest import gateway_config


def test_sigkill_after_responses_loses_no_trace(session_tmp: Path, sims: tuple[Sim, Sim]) -> None:
    gw = GatewayProc(session_tmp, gateway_config(*sims), name="gw-crash")
    ids: list[str] = []

    def one(i: int) -> str:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0) as c:
            raw = c.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": f"What is {i}+1?"}]
            )
            assert raw.parse().choices[0].message.content == str(i + 1)
            return raw.headers["x-seawall-trace-id"]

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(one, range(200)))
    finally:
        gw.proc.kill()  # no shutdown, no flush
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "seawall.cli",
            "traces",
            "list",
            "-n",
            "1000",
            "--store",
            f"sqlite:///{gw.db}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    missing = [i for i in ids if i not in out]
    assert missing == []
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "seawall.cli",
            "traces",
            "show",
            ids[-1],
            "--json",
            "--store",
            f"sqlite:///{gw.db}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(shown)["status"] == 200
