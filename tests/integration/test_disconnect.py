"""A client that goes away cancels Seawall's upstream work, and the trace says so."""

from __future__ import annotations

import json
import time
import urllib.error

import httpx

from tests.integration._procs import GatewayProc, Sim, http_json

BODY = {"model": "solo", "messages": [{"role": "user", "content": "Tell me a long story."}]}


def _newest(gateway: GatewayProc, status: int, timeout: float = 10.0) -> dict[str, object]:
    """Poll the admin API until a trace with `status` for model `solo` appears (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = http_json("GET", gateway.url + "/admin/traces?limit=20&model=solo")["data"]
        for row in rows:
            if row["status"] == status:
                return gateway.trace(row["id"])
        time.sleep(0.05)
    raise AssertionError(f"no trace with status {status}")


def test_disconnect_during_a_slow_answer_cancels_the_attempt(
    gateway: GatewayProc, sims: tuple[Sim, Sim]
) -> None:
    sims[0].control(hang_rate=1)
    with httpx.Client(timeout=0.5) as client:
        try:
            client.post(gateway.url + "/v1/chat/completions", json=BODY)
        except httpx.ReadTimeout:
            pass  # the client gives up and closes its connection
        else:
            raise AssertionError("expected the client to time out")
    record = _newest(gateway, 499)
    kinds = [event["type"] for event in record["events"]]  # type: ignore[union-attr,index]
    assert "attempt_cancelled" in kinds
    assert "client_disconnect" in kinds
    assert sims[0].calls() == 1  # cancelled, not retried


def test_disconnect_mid_stream_closes_the_upstream_stream(
    gateway: GatewayProc, sims: tuple[Sim, Sim]
) -> None:
    sims[0].control(chunk_delay_ms=200, reply_words=50)
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST", gateway.url + "/v1/chat/completions", json={**BODY, "stream": True}
        ) as response,
    ):
        trace_id = response.headers["x-seawall-trace-id"]
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                break  # got real content: now hang up
    deadline = time.monotonic() + 10
    while True:
        try:
            record = gateway.trace(trace_id)
        except urllib.error.HTTPError as exc:  # not finished yet
            exc.close()
            record = {"response": {}}
        if record["response"].get("terminal") == "client_disconnect":
            break
        assert time.monotonic() < deadline, "trace never recorded the disconnect"
        time.sleep(0.05)
    assert len(record["response"]["writes"]) < 50  # the relay stopped; it did not drain the upstream
