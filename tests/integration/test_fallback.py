"""Fallback and failure classification over real sockets: primary fails → secondary answers."""

from __future__ import annotations

import openai
import pytest

from tests.integration._procs import GatewayProc, Sim

USER = [{"role": "user", "content": "What is 2+3?"}]


def client(gw: GatewayProc, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ({"error_rate": 1, "error_status": 503}, "server_error"),
        ({"error_rate": 1, "error_status": 502}, "server_error"),
        ({"hang_rate": 1}, "timeout"),
        ({"reset_rate": 1}, "connect"),
        ({"malformed_rate": 1}, "bad_response"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_primary_failure_falls_back(
    gateway: GatewayProc, sims: tuple[Sim, Sim], fault: dict[str, object], error_class: str, stream: bool
) -> None:
    primary, secondary = sims
    primary.control(**fault)
    with client(gateway) as c:
        if stream:
            raw = c.chat.completions.with_raw_response.create(model="chat", messages=USER, stream=True)
            text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse() if ch.choices)
        else:
            raw = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
            text = raw.parse().choices[0].message.content or ""
    assert text == "5"
    assert raw.headers["x-seawall-target"] == "secondary/gpt-secondary"
    record = gateway.trace(raw.headers["x-seawall-trace-id"])
    assert [(a["provider"], a["error_class"]) for a in record["attempts"]] == [
        ("primary", error_class),
        ("secondary", None),
    ]
    assert record["answered_by"] == "secondary/gpt-secondary"
    assert secondary.calls() == 1


def test_traces_show_reconstructs_every_attempt(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(error_rate=1, error_status=503)
    with client(gateway) as c:
        raw = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
    trace_id = raw.headers["x-seawall-trace-id"]
    gateway.trace(trace_id)  # flushes the recorder
    shown = gateway.cli("traces", "show", trace_id)
    assert f"trace {trace_id}" in shown
    assert "#0 primary/gpt-primary [openai]" in shown and "server_error status=503" in shown
    assert "#1 secondary/gpt-secondary [openai]" in shown and "ok status=200" in shown
    assert "answered by secondary/gpt-secondary" in shown
    listed = gateway.cli("traces", "list", "-n", "50")
    assert trace_id in listed
    assert "SECRET" not in shown + listed


def test_mid_stream_disconnect_gives_terminal_error(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(disconnect_rate=1, disconnect_after=2)
    received: list[str] = []
    with client(gateway) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "Tell me a story."}], stream=True
        )
        stream = raw.parse()
        with pytest.raises(openai.APIError, match="stream"):
            received.extend(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert 1 <= len([r for r in received if r]) <= 2  # what was sent before the cut, nothing more
    record = gateway.trace(raw.headers["x-seawall-trace-id"])
    assert record["response"]["terminal"] == "error"
    assert record["error"]["class"] == "stream_cut"
    assert [a["provider"] for a in record["attempts"]] == ["primary"]  # no silent splice
    assert sims[1].calls() == 0


def test_stream_error_event_after_commit_is_terminal(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(stream_error_rate=1, stream_error_after=1)
    with client(gateway) as c, pytest.raises(openai.APIError):
        for _ in c.chat.completions.create(
            model="chat", messages=[*USER, {"role": "user", "content": "long story"}], stream=True
        ):
            pass


def test_context_length_on_the_only_target_is_a_400(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(context_limit_tokens=5)
    with client(gateway) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="solo", messages=[{"role": "user", "content": "word " * 200}])
    assert info.value.code == "context_length_exceeded"
    assert sims[0].calls() == 1  # not retried: the same prompt cannot fit the next time either


def test_context_length_falls_back_to_a_bigger_target(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(context_limit_tokens=5)
    with client(gateway) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "word " * 200}]
        )
    record = gateway.trace(raw.headers["x-seawall-trace-id"])
    assert [a["error_class"] for a in record["attempts"]] == ["context_length", None]


def test_all_targets_down_gives_503_and_no_client_retry(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(error_rate=1, error_status=503)
    with client(gateway) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.with_raw_response.create(model="solo", messages=USER)
    response = info.value.response
    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"
    assert "x-seawall-trace-id" in response.headers
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "all_targets_failed"
    assert sims[0].calls() == 3  # max_attempts, with backoff between


def test_hanging_only_target_gives_504_within_deadline(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    sims[0].control(hang_rate=1)
    with client(gateway, timeout=20) as c, pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="solo", messages=USER)
    assert info.value.status_code == 504
    assert sims[0].calls() == 1  # the deadline (3 s) leaves no room for a second attempt


def test_rate_limited_target_is_skipped_until_retry_after(session_tmp, sims: tuple[Sim, Sim]) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.conftest import gateway_config

    primary, secondary = sims
    primary.control(rate_limit_rate=1, retry_after=30)
    gw = GatewayProc(session_tmp, gateway_config(primary, secondary), name="gw-429")
    try:
        with client(gw) as c:
            first = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
            second = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
        assert (
            first.headers["x-seawall-target"]
            == second.headers["x-seawall-target"]
            == "secondary/gpt-secondary"
        )
        assert primary.calls() == 1  # the second request did not touch the rate-limited primary
        one = gw.trace(first.headers["x-seawall-trace-id"])
        assert one["attempts"][0]["error_class"] == "rate_limited"
        assert one["attempts"][0]["retry_after_s"] == 30
        two = gw.trace(second.headers["x-seawall-trace-id"])
        assert [a["provider"] for a in two["attempts"]] == ["secondary"]
        # the only target rate limited: 429 with an honest Retry-After, and the SDK may retry later
        with client(gw) as c, pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="solo", messages=USER)
        assert info.value.response.headers["retry-after"] is not None
        assert int(info.value.response.headers["retry-after"]) <= 30
    finally:
        gw.stop()
