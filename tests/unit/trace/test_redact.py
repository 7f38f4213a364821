"""Redaction of configured JSON paths in every recorded body."""

from __future__ import annotations

import orjson
import pytest

from seawall.config import validate
from seawall.errors import ConfigError
from seawall.trace._redact import MARK, parse_path, redact_text, redactor
from seawall.trace._schema import Attempt, RequestPart, ResponsePart, TraceRecord


def test_paths_parse_and_bad_ones_are_named() -> None:
    assert parse_path("messages[*].content") == ("messages", -1, "content")
    assert parse_path("tools[0].function.parameters") == ("tools", 0, "function", "parameters")
    for bad in ("", "a..b", "a[x]", "a[", ".a"):
        with pytest.raises(ValueError, match="not a JSON path"):
            parse_path(bad)
    config = {
        "providers": [{"name": "s", "kind": "simulated"}],
        "models": [{"name": "m", "targets": [{"provider": "s", "model": "x"}]}],
        "traces": {"redact": ["user", "a..b"]},
    }
    with pytest.raises(ConfigError, match=r"cfg\.yaml: traces\.redact: 'a\.\.b'"):
        validate(config, "cfg.yaml")


def test_json_bodies_and_sse_events_are_redacted_where_the_path_matches() -> None:
    paths = [parse_path("messages[*].content"), parse_path("user"), parse_path("choices[*].delta.content")]
    body = (
        '{"model":"m","messages":[{"role":"user","content":"secret a"},{"role":"user","content":"b"}],'
        '"user":"u@x"}'
    )
    out = orjson.loads(redact_text(body, paths))  # type: ignore[arg-type]
    assert (
        [m["content"] for m in out["messages"]] == [MARK, MARK]
        and out["user"] == MARK
        and out["model"] == "m"
    )
    stream = 'data: {"choices":[{"delta":{"content":"secret"}}]}\n\ndata: [DONE]\n\n'
    assert (
        redact_text(stream, paths)
        == f'data: {{"choices":[{{"delta":{{"content":"{MARK}"}}}}]}}\n\ndata: [DONE]\n\n'
    )
    assert redact_text('{"other":1}', paths) == '{"other":1}'  # untouched: no re-serialisation
    assert redact_text("not json", paths) == "not json" and redact_text(None, paths) is None


def test_a_record_is_redacted_in_every_body() -> None:
    secret = '{"messages":[{"role":"user","content":"secret"}]}'
    record = TraceRecord(
        id="t",
        ts=1.0,
        model="m",
        ingress="openai",
        stream=False,
        status=200,
        duration_ms=1.0,
        request=RequestPart({}, secret),
        attempts=(Attempt(0, "p", "m", "openai", "u", 0.0, 1.0, request_body=secret, response_body=secret),),
        response=ResponsePart(secret),
    )
    redact = redactor(["messages[*].content"])
    assert redact is not None and redactor([]) is None
    out = redact(record)
    bodies = [
        out.request.body,
        out.attempts[0].request_body,
        out.attempts[0].response_body,
        out.response.body,
    ]
    assert all(isinstance(b, str) and "secret" not in b and MARK in b for b in bodies)
