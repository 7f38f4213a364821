"""Every client dialect × every upstream dialect, over real sockets, with the official SDKs.

The 2×3 matrix: the `anthropic` SDK against `/v1/messages` and the `openai` SDK against
`/v1/chat/completions`, each routed to an OpenAI, an Anthropic and a Gemini upstream, streamed and
not, each with a whole tool-call round trip (call → result → answer). Then cross-dialect failover,
and the streaming commit point with an in-stream `overloaded_error`.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.integration._dialects import (
    ANTHROPIC_TOOLS,
    DIALECTS,
    OPENAI_TOOLS,
    PROVIDER,
    QUESTION,
    RESULT,
    UPSTREAM_MODEL,
    Env,
    Turn,
    anthropic_client,
    anthropic_followup,
    anthropic_turn,
    openai_client,
    openai_followup,
    openai_turn,
    start,
)

pytestmark = pytest.mark.integration

UPSTREAM_PATH = {
    ("openai", False): "/v1/chat/completions",
    ("openai", True): "/v1/chat/completions",
    ("anthropic", False): "/v1/messages",
    ("anthropic", True): "/v1/messages",
    ("gemini", False): "/v1beta/models/gemini-2.5-flash:generateContent",
    ("gemini", True): "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
}
ANTHROPIC_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


@pytest.fixture(scope="module")
def _env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from start(tmp_path_factory.mktemp("matrix"), "matrix")


@pytest.fixture
def env(_env: Env) -> Env:
    _env.reset()
    return _env


def _round_trip(env: Env, client_dialect: str, model: str, *, stream: bool) -> tuple[Turn, Turn]:
    if client_dialect == "anthropic":
        with anthropic_client(env) as ac:
            first = anthropic_turn(
                ac, model, [{"role": "user", "content": QUESTION}], stream=stream, tools=ANTHROPIC_TOOLS
            )
            assert first.tool_calls, first
            second = anthropic_turn(
                ac, model, anthropic_followup(first), stream=stream, tools=ANTHROPIC_TOOLS
            )
    else:
        with openai_client(env) as oc:
            first = openai_turn(
                oc, model, [{"role": "user", "content": QUESTION}], stream=stream, tools=OPENAI_TOOLS
            )
            assert first.tool_calls, first
            second = openai_turn(oc, model, openai_followup(first), stream=stream, tools=OPENAI_TOOLS)
    return first, second


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("upstream", DIALECTS)
@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_matrix_tool_round_trip(env: Env, client_dialect: str, upstream: str, stream: bool) -> None:
    first, second = _round_trip(env, client_dialect, f"via-{upstream}", stream=stream)

    tool_stop, end_stop = (
        ("tool_use", "end_turn") if client_dialect == "anthropic" else ("tool_calls", "stop")
    )
    assert [(c["name"], c["arguments"]) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert first.stop == tool_stop
    assert first.input_tokens > 0 and first.output_tokens > 0
    assert first.headers["x-seawall-target"] == f"{PROVIDER[upstream]}/{UPSTREAM_MODEL[upstream]}"
    assert second.text == f"Tool result received: {RESULT}"
    assert second.stop == end_stop
    assert second.input_tokens > first.input_tokens  # the history grew by the call and its result

    sim = env.sims[upstream]
    received = sim.requests()
    assert [r["path"] for r in received] == [UPSTREAM_PATH[upstream, stream]] * 2
    if upstream == "gemini" and stream:
        assert received[0]["query"]["alt"] == "sse"
    if client_dialect == "anthropic" and stream:
        assert first.events is not None and set(first.events) >= ANTHROPIC_EVENTS
        assert first.events[0] == "message_start" and first.events[-1] == "message_stop"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_to_anthropic_is_passed_through(env: Env, stream: bool) -> None:
    """Same dialect both sides: the client's body goes up as sent (model swapped), and the
    upstream's own answer comes back, with fields translation would not keep."""
    messages = [{"role": "user", "content": QUESTION}]
    with anthropic_client(env) as ac:
        turn = anthropic_turn(
            ac,
            "via-anthropic",
            messages,
            stream=stream,
            tools=ANTHROPIC_TOOLS,
            tool_choice={"type": "any"},
            extra_body={"top_k": 7},
            metadata={"user_id": "u-1"},
            extra_headers={"anthropic-beta": "fancy-feature-2099-01-01"},
        )
    received = env.sims["anthropic"].requests()[-1]
    body = received["body"]
    assert body["model"] == "claude-haiku-4-5"
    assert body["messages"] == messages
    assert body["tools"] == ANTHROPIC_TOOLS
    assert body["tool_choice"] == {"type": "any"}
    assert body["top_k"] == 7
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["max_tokens"] == 256
    assert body.get("stream", False) is stream
    assert received["headers"]["anthropic-beta"] == "fancy-feature-2099-01-01"
    assert received["headers"]["x-api-key"] == "[REDACTED]"  # the simulator hides it; it was sent
    message = turn.raw
    if stream:
        assert message is not None
    assert message.id.startswith("msg_") and not message.id.startswith("msg_chatcmpl")
    assert message.usage.service_tier == "standard"  # only the upstream's own bytes carry this


def test_thinking_passes_through_to_anthropic_only(env: Env) -> None:
    """Extended thinking cannot be translated: an Anthropic target gets it verbatim, any other
    target refuses it with a 400 naming the parameter (never silently dropped)."""
    thinking = {"type": "enabled", "budget_tokens": 1024}
    user = [{"role": "user", "content": "What is 17+25?"}]
    with anthropic_client(env) as ac:
        ok = ac.messages.create(model="via-anthropic", max_tokens=2048, messages=user, thinking=thinking)  # type: ignore[arg-type]
        assert ok.content[0].type == "text" and ok.content[0].text == "42"
        assert env.sims["anthropic"].requests()[-1]["body"]["thinking"] == thinking
        for model in ("via-openai", "via-gemini"):
            with pytest.raises(anthropic.BadRequestError) as info:
                ac.messages.create(model=model, max_tokens=2048, messages=user, thinking=thinking)  # type: ignore[arg-type]
            assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert "thinking" in info.value.message
    assert env.sims["openai"].calls() == 0 and env.sims["gemini"].calls() == 0


def test_untranslatable_request_skips_a_target_that_cannot_serve_it(env: Env) -> None:
    """Thinking can only go to an Anthropic target: a route that lists an OpenAI target first should
    still reach its Anthropic target, not answer 400 (needs the engine change in the report)."""
    with anthropic_client(env) as ac:
        raw = ac.messages.with_raw_response.create(
            model="openai-first",
            max_tokens=2048,
            messages=[{"role": "user", "content": "What is 17+25?"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    assert raw.headers["x-seawall-target"] == "an/claude-secondary"


# -- failover across dialects ---------------------------------------------------------------------


def test_anthropic_client_fails_over_to_openai_and_back(env: Env) -> None:
    user = [{"role": "user", "content": "What is 17+25?"}]
    with anthropic_client(env) as ac:
        env.sims["anthropic"].control(error_rate=1, error_status=529, only_models=["claude-primary"])
        raw = ac.messages.with_raw_response.create(model="anthropic-first", max_tokens=64, messages=user)
        assert raw.headers["x-seawall-target"] == "oa/gpt-secondary"
        assert raw.parse().content[0].text == "42"  # type: ignore[union-attr]
        record = env.gateway.trace(raw.headers["x-seawall-trace-id"])
        assert [(a["kind"], a["status"], a["error_class"]) for a in record["attempts"]] == [
            ("anthropic", 529, "overloaded"),
            ("openai", 200, None),
        ]
        env.sims["anthropic"].reset()
        back = ac.messages.with_raw_response.create(model="anthropic-first", max_tokens=64, messages=user)
        assert back.headers["x-seawall-target"] == "an/claude-primary"
        assert back.parse().content[0].text == "42"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "faulty", "fault"),
    [
        ("openai-first", "openai", {"error_rate": 1, "error_status": 503, "only_models": ["gpt-primary"]}),
        ("gemini-first", "gemini", {"error_rate": 1, "error_status": 503, "only_models": ["gemini-primary"]}),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_client_fails_over_to_anthropic(
    env: Env, model: str, faulty: str, fault: dict[str, object], stream: bool
) -> None:
    env.sims[faulty].control(**fault)
    with openai_client(env) as oc:
        turn = openai_turn(oc, model, [{"role": "user", "content": "What is 17+25?"}], stream=stream)
    assert turn.text == "42"
    assert turn.headers["x-seawall-target"].startswith("an/")


# -- the streaming commit point with an in-stream overloaded_error ---------------------------------


@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_overloaded_event_before_first_content_falls_back(env: Env, client_dialect: str) -> None:
    env.sims["anthropic"].control(stream_error_rate=1, stream_error_after=0, only_models=["claude-primary"])
    user = [{"role": "user", "content": "What is 17+25?"}]
    if client_dialect == "anthropic":
        with anthropic_client(env) as ac:
            turn = anthropic_turn(ac, "anthropic-first", user, stream=True)
    else:
        with openai_client(env) as oc:
            turn = openai_turn(oc, "anthropic-first", user, stream=True)
    assert turn.text == "42"
    assert turn.headers["x-seawall-target"] == "oa/gpt-secondary"
    record = env.gateway.trace(turn.headers["x-seawall-trace-id"])
    assert [(a["kind"], a["error_class"], a["committed"]) for a in record["attempts"]] == [
        ("anthropic", "overloaded", False),
        ("openai", None, True),
    ]
    assert record["response"]["terminal"] == "done"


def test_overloaded_event_after_content_is_a_terminal_anthropic_error_event(env: Env) -> None:
    env.sims["anthropic"].control(
        stream_error_rate=1, stream_error_after=2, reply_words=8, only_models=["claude-primary"]
    )
    seen: list[str] = []
    with (
        anthropic_client(env) as ac,
        pytest.raises(anthropic.APIStatusError) as info,
        ac.messages.stream(
            model="anthropic-first", max_tokens=64, messages=[{"role": "user", "content": "Tell me a story"}]
        ) as s,
    ):
        seen.extend(event.type for event in s)
    trace_id = s.response.headers["x-seawall-trace-id"]
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert seen.count("text") == 2  # two words arrived before the error: no silent fallback
    assert env.sims["openai"].calls() == 0
    record = env.gateway.trace(trace_id)
    assert record["response"]["terminal"] == "error"
    assert record["error"]["class"] == "overloaded"
    assert [a["committed"] for a in record["attempts"]] == [True]


def test_overloaded_event_after_content_is_a_terminal_openai_error_event(env: Env) -> None:
    env.sims["anthropic"].control(
        stream_error_rate=1, stream_error_after=2, reply_words=8, only_models=["claude-primary"]
    )
    text = ""
    with openai_client(env) as oc:
        stream = oc.chat.completions.create(
            model="anthropic-first", messages=[{"role": "user", "content": "Tell me a story"}], stream=True
        )
        with pytest.raises(openai.APIError) as info:  # noqa: PT012
            for chunk in stream:
                text += "".join(c.delta.content or "" for c in chunk.choices)
    assert "overloaded" in str(info.value).lower()
    assert len(text.split()) == 2
    assert env.sims["openai"].calls() == 0


@pytest.mark.parametrize("client_dialect", ["anthropic", "openai"])
def test_gemini_in_stream_error_before_content_falls_back(env: Env, client_dialect: str) -> None:
    env.sims["gemini"].control(stream_error_rate=1, stream_error_after=0, only_models=["gemini-primary"])
    user = [{"role": "user", "content": "What is 17+25?"}]
    if client_dialect == "anthropic":
        with anthropic_client(env) as ac:
            turn = anthropic_turn(ac, "gemini-first", user, stream=True)
    else:
        with openai_client(env) as oc:
            turn = openai_turn(oc, "gemini-first", user, stream=True)
    assert turn.text == "42"
    assert turn.headers["x-seawall-target"] == "an/claude-tertiary"
    record = env.gateway.trace(turn.headers["x-seawall-trace-id"])
    assert [(a["kind"], a["error_class"]) for a in record["attempts"]] == [
        ("gemini", "overloaded"),
        ("anthropic", None),
    ]
