"""The whole gateway on injected seams: a MockTransport instead of the network, a ManualClock, seeded ids
and draws. Two runs of the same requests give byte-identical trace records, and the records hold what
replay will need: the upstream's bytes read by read, the bytes the client was sent, clock-driven times."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import orjson

from seawall import Gateway
from seawall._clock import ManualClock, RandomIds
from seawall._types import AttemptOutcome
from seawall.config import ProviderConfig
from seawall.providers import MockResponse, MockTransport, UpstreamRequest
from seawall.trace import TraceRecord, encode
from seawall.trace._schema import Backoff, Gated

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def _event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18"}
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _config(tmp_path: Path) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "primary", "kind": "openai", "base_url": "https://up.example/v1", "api_key": "sk-1"},
            {"name": "backup", "kind": "simulated"},
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "primary", "model": "gpt-4o-mini"},
                    {"provider": "backup", "model": "b"},
                ],
            }
        ],
        "traces": {"store": f"sqlite:///{tmp_path}/traces.db"},
    }


async def _run(tmp_path: Path) -> list[TraceRecord]:
    clock = ManualClock()
    seen: list[UpstreamRequest] = []

    def primary(request: UpstreamRequest) -> MockResponse:
        seen.append(request)
        clock.advance(0.02)
        body = orjson.loads(request.body)
        if body.get("stream"):

            def reads() -> Any:
                yield _event({"role": "assistant", "content": ""})
                clock.advance(0.01)
                yield _event({"content": "4"}) + _event({"content": "2"})
                clock.advance(0.01)
                yield _event({}, "stop") + b"data: [DONE]\n\n"

            return MockResponse(200, {"content-type": "text/event-stream"}, reads())
        if len(seen) == 1:
            return MockResponse.json({"error": {"message": "busy", "type": "server_error"}}, status=503)
        return MockResponse.json(ANSWER)

    def backup(request: UpstreamRequest) -> MockResponse:
        return MockResponse.json({**ANSWER, "model": "b"})

    transports = {"primary": MockTransport(primary), "backup": MockTransport(backup)}
    outcomes: list[AttemptOutcome] = []

    class Observer:
        def attempt_ended(self, outcome: AttemptOutcome) -> None:
            outcomes.append(outcome)

    def transport_for(pc: ProviderConfig) -> MockTransport:
        return transports[pc.name]

    gateway = Gateway.from_config(
        _config(tmp_path),
        clock=clock,
        ids=RandomIds(clock, random.Random(1)),
        rng=random.Random(2),
        transports=transport_for,
        observers=[Observer()],
    )
    messages = [{"role": "user", "content": "What is 6*7?"}]
    async with gateway as gw:
        fell_back = await gw.chat(model="chat", messages=messages)  # primary 503 → backup
        answer = await gw.chat(model="chat", messages=messages)
        chunks = [c async for c in await gw.chat(model="chat", messages=messages, stream=True)]
        assert gw.recorder.flush(5)
        assert gw.store is not None
        ids = [row.id for row in gw.store.list(limit=10)][::-1]
        records = [gw.store.get(i) for i in ids]
    assert fell_back["model"] == "b" and answer["choices"][0]["message"]["content"] == "42"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "42"
    assert all(b"sk-1" not in encode(r) for r in records if r is not None)  # the key never reaches a trace
    # the observer saw every attempt, as the traces did
    assert [(o.target.provider, o.committed) for o in outcomes] == [
        (a.provider, a.committed) for r in records if r is not None for a in r.attempts
    ]
    return [r for r in records if r is not None]


async def test_every_source_of_time_ids_and_bytes_is_injected(tmp_path: Path) -> None:
    first = await _run(tmp_path / "a")
    second = await _run(tmp_path / "b")
    # nothing came from outside (the configs differ only in where traces go, which the hash leaves out)
    assert first[0].config_hash is not None and first[0].config_hash == second[0].config_hash
    assert [encode(r) for r in first] == [encode(r) for r in second]

    fallback, plain, stream = first
    assert [a.status for a in fallback.attempts] == [503, 200]
    assert fallback.attempts[0].response_body is not None and "busy" in fallback.attempts[0].response_body
    assert fallback.attempts[1].provider == "backup"
    assert (fallback.ts, fallback.id[:12]) == (
        ManualClock().wall(),
        f"{int(ManualClock().wall() * 1000):012x}",
    )
    assert plain.attempts[0].latency_ms == 20.0 and plain.attempts[0].head_ms == 20.0
    assert plain.attempts[0].response_model == "gpt-4o-mini-2024-07-18"

    attempt = stream.attempts[0]
    assert attempt.committed and attempt.reads == (
        (20.0, len(_event({"role": "assistant", "content": ""}))),
        (30.0, 2 * len(_event({"content": "4"}))),
        (40.0, len(_event({}, "stop")) + len(b"data: [DONE]\n\n")),
    )
    assert attempt.response_body is not None and attempt.response_body.endswith("data: [DONE]\n\n")
    assert stream.response.body is not None and stream.response.writes is not None
    assert sum(size for _t, size in stream.response.writes) == len(stream.response.body.encode())
    assert msgspec.json.decode(encode(stream), type=TraceRecord) is not None


async def test_gate_decisions_are_recorded_with_what_they_consulted(tmp_path: Path) -> None:
    """One `gate` event per target considered: a first attempt consults the breaker, the limiter and
    the throttle (no budget: it deposits); a retry at the same target also the retry budget, and
    its backoff is the jittered delay the clearance drew."""
    clock = ManualClock()
    calls: list[int] = []

    def flaky(request: UpstreamRequest) -> MockResponse:
        calls.append(1)
        if len(calls) == 1:
            return MockResponse.json({"error": {"message": "busy", "type": "server_error"}}, status=503)
        return MockResponse.json(ANSWER)

    config = _config(tmp_path)
    config["models"][0]["targets"] = [{"provider": "primary", "model": "gpt-4o-mini"}]
    gateway = Gateway.from_config(
        config,
        clock=clock,
        ids=RandomIds(clock, random.Random(1)),
        rng=random.Random(2),
        transports=lambda pc: MockTransport(flaky),
    )
    async with gateway as gw:
        await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert gw.recorder.flush(5) and gw.store is not None
        record = gw.store.get(gw.store.list(limit=1)[0].id)
    assert record is not None and [a.status for a in record.attempts] == [503, 200]
    gates = [e for e in record.events if isinstance(e, Gated)]
    backoffs = [e for e in record.events if isinstance(e, Backoff)]
    first, retry = gates
    assert (first.target, first.result, first.go, first.budget) == ("primary/gpt-4o-mini", "ok", True, None)
    assert (first.breaker, first.inflight, first.delay_ms) == ("closed", 1, 0.0)  # its own slot taken
    assert retry.go is True and retry.budget is not None and retry.budget > 0
    assert retry.delay_ms > 0 and backoffs[0].delay_ms == round(retry.delay_ms, 1)
    assert b'"budget"' not in msgspec.json.encode(first)  # not consulted: not in the record
