"""Offline replay of real recorded requests: a real `seawall serve` records them (official SDKs, real
`seawall simulate` upstreams speaking all three dialects, faults injected at runtime), then each
trace is replayed from the store with no network and must come out byte-identical — status, every
byte the client got, every decision, every request sent upstream. A changed recorded byte, and a
changed config (what-if), must be reported as exactly that divergence."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest
import yaml

from seawall.config import load_config
from seawall.replay._offline import ReplayResult, replay
from seawall.trace._schema import TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.integration._procs import GatewayProc, Sim

MESSAGES = [{"role": "user", "content": "What is 17+25?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _config(primary: Sim, secondary: Sim) -> dict[str, Any]:
    quick = {"attempt_timeout_s": 1.5, "first_token_timeout_s": 1.5, "idle_timeout_s": 1.5}
    return {
        "providers": [
            {
                "name": "primary",
                "kind": "openai",
                "base_url": primary.url + "/v1",
                "api_key": "sk-primary-SECRET",
            },
            {
                "name": "secondary",
                "kind": "openai",
                "base_url": secondary.url + "/v1",
                "api_key": "sk-second-SECRET",
            },
            {"name": "claude", "kind": "anthropic", "base_url": primary.url, "api_key": "sk-ant-SECRET"},
            {"name": "gem", "kind": "gemini", "base_url": primary.url, "api_key": "gm-SECRET"},
        ],
        "models": [
            {
                "name": "chat",
                "targets": [{"provider": "primary", "model": "p"}, {"provider": "secondary", "model": "s"}],
                **quick,
            },
            {"name": "solo", "targets": [{"provider": "primary", "model": "p"}], "timeout_s": 5},
            {
                "name": "via-claude",
                "targets": [{"provider": "claude", "model": "c"}, {"provider": "secondary", "model": "s"}],
                **quick,
            },
            {
                "name": "via-gemini",
                "targets": [{"provider": "gem", "model": "g"}, {"provider": "secondary", "model": "s"}],
                **quick,
            },
            {
                "name": "midstream",  # its own targets: breakers opened by other tests stay out
                "targets": [{"provider": "primary", "model": "pm"}, {"provider": "secondary", "model": "sm"}],
                **quick,
            },
            {
                "name": "hedged",  # its own targets: the first model naming a target sets its policies
                "targets": [{"provider": "primary", "model": "ph"}, {"provider": "secondary", "model": "sh"}],
                "resilience": {"hedging": {"enabled": True, "min_samples": 3, "quantile": 0.5}},
            },
        ],
    }


@pytest.fixture(scope="module")
def gw(session_tmp: Path, _sims: tuple[Sim, Sim]) -> Iterator[GatewayProc]:
    proc = GatewayProc(session_tmp, _config(*_sims), name="replay-gw")
    yield proc
    proc.stop()


@pytest.fixture
def clients(gw: GatewayProc, sims: tuple[Sim, Sim]) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0) as oai,
        anthropic.Anthropic(base_url=gw.url, api_key="sk-client", max_retries=0) as claude,
    ):
        yield oai, claude


def _stored(gw: GatewayProc, trace_id: str) -> TraceRecord:
    deadline = time.monotonic() + 10
    while True:
        try:
            gw.trace(trace_id)  # the admin API flushes the writer before it reads
            break
        except urllib.error.HTTPError as exc:
            exc.close()
            assert time.monotonic() < deadline, "the trace never reached the store"
            time.sleep(0.05)
    store = SQLiteTraceStore(str(gw.db))
    try:
        record = store.get(trace_id)
    finally:
        store.close()
    assert record is not None
    return record


def _replay(gw: GatewayProc, trace_id: str) -> tuple[TraceRecord, ReplayResult]:
    record = _stored(gw, trace_id)
    return record, replay(record, load_config(gw.config_path))


def _identical(gw: GatewayProc, trace_id: str) -> TraceRecord:
    record, result = _replay(gw, trace_id)
    assert result.identical, result.divergences
    assert result.notes == [], result.notes
    return record


def _id(response: Any) -> str:
    return str(response.headers["x-seawall-trace-id"])


def test_plain_streamed_and_tool_call_requests_replay_byte_identically(
    gw: GatewayProc, clients: tuple[openai.OpenAI, anthropic.Anthropic]
) -> None:
    oai, _ = clients
    plain = oai.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    _identical(gw, _id(plain))
    with oai.chat.completions.with_streaming_response.create(
        model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as stream:
        trace_id = _id(stream)
        list(stream.iter_lines())
    record = _identical(gw, trace_id)
    assert record.stream and record.response.terminal == "done"
    tools = oai.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS
    )
    assert tools.parse().choices[0].message.tool_calls
    _identical(gw, _id(tools))


def test_fallback_retries_timeouts_and_a_mid_stream_cut_replay(
    gw: GatewayProc, sims: tuple[Sim, Sim], clients: tuple[openai.OpenAI, anthropic.Anthropic]
) -> None:
    oai, _ = clients
    primary = sims[0]
    primary.control(error_rate=1, error_status=503)
    fallback = oai.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    record = _identical(gw, _id(fallback))
    assert [a.status for a in record.attempts][-1] == 200 and record.answered_by == "secondary/s"

    with pytest.raises(openai.APIStatusError) as failed:  # one target: retried, then given up
        oai.chat.completions.create(model="solo", messages=MESSAGES)
    record = _identical(gw, failed.value.response.headers["x-seawall-trace-id"])
    assert record.status >= 500

    primary.control(error_rate=0, hang_rate=1)  # the attempt times out (1.5 s), the fallback answers
    timed_out = oai.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    record = _identical(gw, _id(timed_out))
    assert record.attempts[0].error_class == "timeout"

    for sim in sims:  # whichever target streams (the primary's breaker may be open by now) cuts it
        sim.control(hang_rate=0, disconnect_rate=1, disconnect_after=2)
    with oai.chat.completions.with_streaming_response.create(
        model="chat", messages=MESSAGES, stream=True
    ) as cut:
        trace_id = _id(cut)
        lines = list(cut.iter_lines())
    assert any('"error"' in line for line in lines)  # a terminal error event, not a clean end
    record = _identical(gw, trace_id)
    assert record.response.terminal == "error" and record.attempts[-1].error_class == "stream_cut"


def test_a_stream_that_fell_back_mid_stream_replays(
    gw: GatewayProc, sims: tuple[Sim, Sim], clients: tuple[openai.OpenAI, anthropic.Anthropic]
) -> None:
    """The primary's stream starts (200, the role chunk) and is cut before any content: the client
    has been sent nothing yet, so the engine falls back and the secondary's stream is what it gets."""
    oai, _ = clients
    sims[0].control(disconnect_rate=1, disconnect_after=0, only_models=["pm"])
    with oai.chat.completions.with_streaming_response.create(
        model="midstream", messages=MESSAGES, stream=True
    ) as response:
        trace_id = _id(response)
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    record = _identical(gw, trace_id)
    cut, answered = record.attempts
    assert (cut.provider, cut.status, cut.error_class, cut.committed) == ("primary", 200, "stream_cut", False)
    assert cut.reads and answered.committed and record.answered_by == "secondary/sm"


def test_both_ingress_dialects_and_every_adapter_replay(
    gw: GatewayProc, clients: tuple[openai.OpenAI, anthropic.Anthropic]
) -> None:
    _, claude = clients
    for model in ("chat", "via-claude"):  # translated, and passed through to an Anthropic upstream
        message = claude.messages.with_raw_response.create(model=model, max_tokens=64, messages=MESSAGES)
        _identical(gw, _id(message))
        with claude.messages.with_streaming_response.create(
            model=model, max_tokens=64, messages=MESSAGES, stream=True
        ) as stream:
            trace_id = _id(stream)
            list(stream.iter_lines())
        _identical(gw, trace_id)
    for stream_it in (False, True):  # the Gemini adapter, JSON and SSE
        body = {"model": "via-gemini", "messages": MESSAGES, "stream": stream_it}
        response = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
        assert response.status_code == 200
        record = _identical(gw, response.headers["x-seawall-trace-id"])
        assert record.attempts[0].kind == "gemini"


def test_rejected_requests_replay(gw: GatewayProc) -> None:
    for body, status in (
        (b"{not json", 400),
        (b'{"model":"nope","messages":[]}', 400),
        (b'{"model":"nope","messages":[{"role":"user","content":"x"}]}', 404),
    ):
        response = httpx.post(gw.url + "/v1/chat/completions", content=body, timeout=10)
        assert response.status_code == status
        _identical(gw, response.headers["x-seawall-trace-id"])
    response = httpx.post(gw.url + "/v1/messages", content=b"[]", timeout=10)  # Anthropic-shaped 400
    assert response.status_code == 400
    _identical(gw, response.headers["x-seawall-trace-id"])
    big = b'{"model":"chat","messages":[{"role":"user","content":"' + b"x" * 11_000_000 + b'"}]}'
    response = httpx.post(gw.url + "/v1/chat/completions", content=big, timeout=30)
    assert response.status_code == 413
    _identical(gw, response.headers["x-seawall-trace-id"])


def test_a_hedged_request_replays(
    session_tmp: Path, sims: tuple[Sim, Sim], request: pytest.FixtureRequest
) -> None:
    proc = GatewayProc(session_tmp, _config(*sims), name="replay-hedge")  # fresh breakers and samples
    try:
        oai = openai.OpenAI(base_url=proc.url + "/v1", api_key="sk-client", max_retries=0)
        request.addfinalizer(oai.close)
        for _ in range(4):  # latency samples for the hedge delay (p50 of ~0 ms)
            oai.chat.completions.create(model="hedged", messages=MESSAGES)
        sims[0].control(latency_ms=800)
        hedged = oai.chat.completions.with_raw_response.create(
            model="hedged", messages=MESSAGES, extra_headers={"x-seawall-hedge": "1"}
        )
        record = _identical(proc, _id(hedged))
        types = [e.type for e in record.events]
        assert "hedge" in types and "attempt_cancelled" in types and record.answered_by == "secondary/sh"
    finally:
        proc.stop()


def test_a_client_that_leaves_mid_stream_replays(gw: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    for sim in sims:  # whichever target streams, it streams slowly
        sim.control(chunk_delay_ms=100, reply_words=40)
    story = [{"role": "user", "content": "Tell me a long story"}]  # the canned reply: 40 slow words
    body = {"model": "chat", "messages": story, "stream": True}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", gw.url + "/v1/chat/completions", json=body) as r,
    ):
        trace_id = r.headers["x-seawall-trace-id"]
        for line in r.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                break  # real content: hang up
    deadline = time.monotonic() + 10
    seen = None
    while seen != "client_disconnect":
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
        try:
            seen = gw.trace(trace_id)["response"]["terminal"]
        except urllib.error.HTTPError as exc:
            exc.close()
    _identical(gw, trace_id)


def test_a_changed_recorded_byte_is_reported_exactly(
    gw: GatewayProc, clients: tuple[openai.OpenAI, anthropic.Anthropic]
) -> None:
    oai, _ = clients
    response = oai.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    record = _stored(gw, _id(response))
    attempt = record.attempts[-1]
    assert attempt.response_body is not None and '"42"' in attempt.response_body
    at = attempt.response_body.index('"content":"') + len('"content":"')
    changed = attempt.response_body[:at] + "X" + attempt.response_body[at + 1 :]
    tampered = msgspec.structs.replace(
        record, attempts=(*record.attempts[:-1], msgspec.structs.replace(attempt, response_body=changed))
    )
    result = replay(tampered, load_config(gw.config_path))
    assert not result.identical
    body = record.response.body
    assert isinstance(body, str)
    expected_at = body.index('"content":"') + len('"content":"')
    assert result.divergences[0].startswith(f"response body differs at byte {expected_at} ")
    assert "expected b'" in result.divergences[0] and "X" in result.divergences[0]


def test_a_what_if_config_and_the_cli(
    gw: GatewayProc, sims: tuple[Sim, Sim], clients: tuple[openai.OpenAI, anthropic.Anthropic], tmp_path: Path
) -> None:
    oai, _ = clients
    sims[0].control(error_rate=1, error_status=503)
    trace_id = _id(oai.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES))
    _stored(gw, trace_id)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seawall.cli", *args], capture_output=True, text=True, check=False
        )

    same = cli("replay", trace_id, "--config", str(gw.config_path))
    assert (same.returncode, same.stdout.strip()) == (0, "identical"), same.stderr
    before = cli("replay", "--config", str(gw.config_path), trace_id)  # options before the id
    assert before.returncode == 0, before.stderr

    # what-if: the secondary first — would the fallback order have saved a round trip?
    config = yaml.safe_load(gw.config_path.read_text())
    chat = config["models"][0]
    chat["targets"].reverse()
    what_if = tmp_path / "what-if.yaml"
    what_if.write_text(yaml.safe_dump(config))
    diverged = cli("replay", trace_id, "--config", str(what_if), "--store", f"sqlite:///{gw.db}")
    assert diverged.returncode == 1
    assert "what-if" in diverged.stdout and "diverged: " in diverged.stdout
    assert "secondary/s" in diverged.stdout

    missing = cli("replay", "0123456789abcdef", "--config", str(gw.config_path))
    assert missing.returncode == 2 and "no trace" in missing.stderr and "Traceback" not in missing.stderr


def test_shed_requests_replay(session_tmp: Path, sims: tuple[Sim, Sim]) -> None:
    primary, secondary = sims
    primary.reset()
    primary.control(latency_ms=400)
    config = _config(primary, secondary)
    config["resilience"] = {"admission": {"max_concurrency": 1, "max_queue": 0}}
    proc = GatewayProc(session_tmp, config, name="replay-shed")
    try:
        results: list[httpx.Response] = []

        def call() -> None:
            body = {"model": "solo", "messages": MESSAGES}
            results.append(httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=10))

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shed = [r for r in results if r.status_code == 503]
        assert shed, [r.status_code for r in results]
        for response in results:
            _identical(proc, response.headers["x-seawall-trace-id"])
        assert json.loads(shed[0].content)["error"]["type"] == "overloaded_error"
    finally:
        proc.stop()
        primary.reset()
