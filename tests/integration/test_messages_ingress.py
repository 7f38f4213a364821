"""`POST /v1/messages` edge cases over real sockets: Anthropic-shaped errors of every status,
unsupported features as clear 400s in the client's dialect, content filters, and secrets."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration._dialects import (
    CLIENT_KEY,
    KEYS,
    OPENAI_TOOLS,
    Env,
    anthropic_client,
    openai_client,
    start,
)

pytestmark = pytest.mark.integration

USER = [{"role": "user", "content": "What is 17+25?"}]


@pytest.fixture(scope="module")
def _env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from start(tmp_path_factory.mktemp("messages"), "messages")


@pytest.fixture
def env(_env: Env) -> Env:
    _env.reset()
    return _env


def post(env: Env, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        env.gateway.url + "/v1/messages",
        data=body,
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), json.loads(err.read())


def anthropic_error(body: Any, kind: str) -> str:
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    message: str = body["error"]["message"]
    return message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"model": "via-openai", "messages": USER}).encode(), "max_tokens: Field required"),
        (json.dumps({"model": "via-openai", "max_tokens": 10}).encode(), "messages: Field required"),
        (
            json.dumps(
                {"model": "via-openai", "max_tokens": 10, "messages": USER, "temperature": 1.5}
            ).encode(),
            "temperature",
        ),
        (
            json.dumps({"model": "via-openai", "max_tokens": 10, "messages": [{"role": "system"}]}).encode(),
            "role",
        ),
    ],
)
def test_invalid_requests_are_anthropic_shaped_400s(env: Env, body: bytes, message: str) -> None:
    status, headers, answer = post(env, body)
    assert status == 400
    assert message in anthropic_error(answer, "invalid_request_error")
    record = env.gateway.trace(headers["x-seawall-trace-id"])
    assert record["ingress"] == "anthropic" and record["status"] == 400
    assert sum(sim.calls() for sim in env.sims.values()) == 0


def test_unknown_model_is_not_found(env: Env) -> None:
    with anthropic_client(env) as ac, pytest.raises(anthropic.NotFoundError) as info:
        ac.messages.create(model="no-such-model", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    assert "no-such-model" in anthropic_error(info.value.body, "not_found_error")
    assert info.value.response.headers["x-seawall-trace-id"]


def test_oversized_body_is_request_too_large(env: Env) -> None:
    huge = [{"role": "user", "content": "x" * (70 * 1024)}]
    with anthropic_client(env) as ac, pytest.raises(anthropic.APIStatusError) as info:
        ac.messages.create(model="via-anthropic", max_tokens=10, messages=huge)  # type: ignore[arg-type]
    assert info.value.status_code == 413
    assert "max_body_bytes" in anthropic_error(info.value.body, "request_too_large")
    assert info.value.response.headers["x-seawall-trace-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_5xx_everywhere_is_an_anthropic_5xx(env: Env, stream: bool) -> None:
    env.sims["anthropic"].control(error_rate=1, error_status=500, only_models=["claude-faulty"])
    with anthropic_client(env) as ac, pytest.raises(anthropic.InternalServerError) as info:
        ac.messages.create(model="anthropic-only", max_tokens=10, messages=USER, stream=stream)  # type: ignore[call-overload]
    assert info.value.status_code == 503
    assert "all 3 attempt(s) failed" in anthropic_error(info.value.body, "overloaded_error")
    headers = info.value.response.headers
    assert headers["x-should-retry"] == "false"
    record = env.gateway.trace(headers["x-seawall-trace-id"])
    assert [a["error_class"] for a in record["attempts"]] == ["server_error"] * 3


def test_upstream_rate_limit_is_a_429_with_retry_after(env: Env) -> None:
    env.sims["anthropic"].control(rate_limit_rate=1, retry_after=7, only_models=["claude-limited"])
    with anthropic_client(env) as ac, pytest.raises(anthropic.RateLimitError) as info:
        ac.messages.create(model="anthropic-limited", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    anthropic_error(info.value.body, "rate_limit_error")
    headers = info.value.response.headers
    assert 6 <= int(headers["retry-after"]) <= 8
    record = env.gateway.trace(headers["x-seawall-trace-id"])
    attempt = record["attempts"][0]
    assert attempt["error_class"] == "rate_limited"
    assert attempt["ratelimit"]["anthropic-ratelimit-requests-remaining"] == "0"
    assert attempt["ratelimit"]["retry-after"] == "7"


def test_anthropic_refusal_of_the_request_is_returned_as_is(env: Env) -> None:
    env.sims["anthropic"].control(context_limit_tokens=1, only_models=["claude-faulty"])
    status, _headers, body = post(
        env, json.dumps({"model": "anthropic-only", "max_tokens": 10, "messages": USER}).encode()
    )
    assert status == 400
    assert anthropic_error(body, "invalid_request_error").startswith("prompt is too long")


def test_successful_calls_are_traced_with_usage(env: Env) -> None:
    with anthropic_client(env) as ac:
        raw = ac.messages.with_raw_response.create(model="via-gemini", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    message = raw.parse()
    record = env.gateway.trace(raw.headers["x-seawall-trace-id"])
    assert record["ingress"] == "anthropic" and record["status"] == 200
    assert record["usage"]["prompt_tokens"] == message.usage.input_tokens
    assert json.loads(record["response"]["body"])["content"] == [{"type": "text", "text": "42"}]
    attempt = record["attempts"][0]
    assert attempt["kind"] == "gemini" and attempt["response_model"] == "gemini-2.5-flash"
    assert json.loads(attempt["request_body"])["contents"][0]["parts"] == [{"text": "What is 17+25?"}]


# -- unsupported features: a 400 naming the parameter, in the client's dialect ------------------------


@pytest.mark.parametrize("model", ["via-openai", "via-gemini"])
def test_untranslatable_anthropic_field_is_refused_by_other_targets(env: Env, model: str) -> None:
    with anthropic_client(env) as ac, pytest.raises(anthropic.BadRequestError) as info:
        ac.messages.create(
            model=model,
            max_tokens=10,
            messages=USER,  # type: ignore[arg-type]
            extra_body={"brand_new_feature": {"on": True}},
        )
    assert "brand_new_feature" in anthropic_error(info.value.body, "invalid_request_error")
    assert sum(sim.calls() for sim in env.sims.values()) == 0


def test_untranslatable_anthropic_field_reaches_an_anthropic_target(env: Env) -> None:
    with anthropic_client(env) as ac:
        ac.messages.create(
            model="via-anthropic",
            max_tokens=10,
            messages=USER,  # type: ignore[arg-type]
            extra_body={"brand_new_feature": {"on": True}},
        )
    assert env.sims["anthropic"].requests()[-1]["body"]["brand_new_feature"] == {"on": True}


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("via-anthropic", {"logprobs": True}, "logprobs"),
        ("via-anthropic", {"response_format": {"type": "json_object"}}, "response_format"),
        ("via-anthropic", {"n": 2}, "n"),
        ("via-gemini", {"logit_bias": {"50256": -100}}, "logit_bias"),
        ("via-gemini", {"web_search_options": {}}, "web_search_options"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_feature_a_target_cannot_honour_is_a_400(
    env: Env, model: str, extra: dict[str, Any], param: str, stream: bool
) -> None:
    with openai_client(env) as oc, pytest.raises(openai.BadRequestError) as info:
        oc.chat.completions.create(model=model, messages=USER, stream=stream, extra_body=extra)  # type: ignore[call-overload]
    error = info.value.body
    assert isinstance(error, dict)
    assert error["param"] == param and error["code"] == "unsupported_feature"
    assert sum(sim.calls() for sim in env.sims.values()) == 0


def test_anthropic_extensions_are_not_sent_to_openai_targets(env: Env) -> None:
    with anthropic_client(env) as ac:
        ac.messages.create(
            model="via-openai",
            max_tokens=10,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is 17+25?", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],  # type: ignore[list-item]
            extra_body={"top_k": 5},
        )
    body = env.sims["openai"].requests()[-1]["body"]
    assert "cache_control" not in json.dumps(body) and "top_k" not in body
    assert body["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}
    assert body["max_tokens"] == 10


def test_openai_client_extensions_still_pass_through(env: Env) -> None:
    with openai_client(env) as oc:
        oc.chat.completions.create(model="via-openai", messages=USER, extra_body={"top_k": 5, "x_knob": 1})
    body = env.sims["openai"].requests()[-1]["body"]
    assert body["top_k"] == 5 and body["x_knob"] == 1


# -- content filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_safety_block_is_a_content_filter_error(env: Env, stream: bool) -> None:
    env.sims["gemini"].control(blocked_rate=1, only_models=["gemini-faulty"])
    with openai_client(env) as oc, pytest.raises(openai.BadRequestError) as oinfo:
        oc.chat.completions.create(model="gemini-only", messages=USER, stream=stream)  # type: ignore[call-overload]
    assert isinstance(oinfo.value.body, dict) and oinfo.value.body["code"] == "content_filter"
    with anthropic_client(env) as ac, pytest.raises(anthropic.BadRequestError) as ainfo:
        ac.messages.create(model="gemini-only", max_tokens=10, messages=USER, stream=stream)  # type: ignore[call-overload]
    assert "SAFETY" in anthropic_error(ainfo.value.body, "invalid_request_error")
    assert env.sims["gemini"].calls() == 2  # not retried: the content, not the provider, is at fault


def test_anthropic_refusal_maps_to_content_filter_finish(env: Env) -> None:
    env.sims["anthropic"].control(blocked_rate=1, only_models=["claude-faulty"])
    with openai_client(env) as oc:
        completion = oc.chat.completions.create(model="anthropic-only", messages=USER)
    assert completion.choices[0].finish_reason == "content_filter"


# -- secrets -------------------------------------------------------------------------------------------


def test_no_secret_reaches_traces_or_logs(env: Env) -> None:
    ids = []
    with anthropic_client(env) as ac, openai_client(env) as oc:
        for model in ("via-openai", "via-anthropic", "via-gemini"):
            raw = ac.messages.with_raw_response.create(model=model, max_tokens=10, messages=USER)  # type: ignore[arg-type]
            ids.append(raw.headers["x-seawall-trace-id"])
            raw2 = oc.chat.completions.with_raw_response.create(
                model=model, messages=USER, tools=OPENAI_TOOLS
            )  # type: ignore[arg-type]
            ids.append(raw2.headers["x-seawall-trace-id"])
    texts = [json.dumps(env.gateway.trace(i)) for i in ids]
    texts.append(env.gateway.proc.log.read_text())
    for text in texts:
        for secret in (*KEYS.values(), CLIENT_KEY):
            assert secret not in text
    gemini = env.sims["gemini"].requests()[-1]
    assert gemini["headers"]["x-goog-api-key"] == "[REDACTED]" and "key" not in gemini["query"]
