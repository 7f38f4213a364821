"""Bad input gets a precise 4xx in OpenAI's error shape, and every response carries a trace id."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.integration._procs import GatewayProc

CHAT = "/v1/chat/completions"


def post(
    gw: GatewayProc, body: bytes, path: str = CHAT, method: str = "POST"
) -> tuple[int, dict[str, str], dict[str, object]]:
    req = urllib.request.Request(
        gw.url + path, data=body, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def error_of(payload: dict[str, object]) -> dict[str, object]:
    assert set(payload) == {"error"}
    error = payload["error"]
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "status", "param", "fragment"),
    [
        (b"{not json", 400, None, "not valid JSON"),
        (b"", 400, None, "not valid JSON"),
        (b"[1, 2]", 400, None, "must be a JSON object"),
        (b'{"messages": []}', 400, "model", "Missing required parameter: 'model'"),
        (b'{"model": "chat"}', 400, "messages", "Missing required parameter: 'messages'"),
        (b'{"model": "chat", "messages": "hi"}', 400, "messages", "expected an array"),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
            400,
            "temperature",
            "expected a number",
        ),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
            400,
            "max_tokens",
            "at least 1",
        ),
        (
            b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model",
            "does not exist",
        ),
    ],
)
def test_bad_requests(
    gateway: GatewayProc, body: bytes, status: int, param: str | None, fragment: str
) -> None:
    code, headers, payload = post(gateway, body)
    assert code == status
    error = error_of(payload)
    assert error["param"] == param
    assert fragment in str(error["message"])
    assert error["type"] == "invalid_request_error"
    assert headers["x-should-retry"] == "false"
    assert "x-seawall-trace-id" in headers


def test_body_over_limit_is_413(gateway: GatewayProc) -> None:
    big = (
        b'{"model": "chat", "messages": [{"role": "user", "content": "' + b"x" * (11 * 1024 * 1024) + b'"}]}'
    )
    code, _headers, payload = post(gateway, big)
    assert code == 413
    assert error_of(payload)["code"] == "payload_too_large"


def test_unknown_path_and_wrong_method(gateway: GatewayProc) -> None:
    code, _h, payload = post(gateway, b"{}", path="/v1/nothing")
    assert code == 404
    error_of(payload)
    req = urllib.request.Request(gateway.url + CHAT, method="GET")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    with info.value:
        assert info.value.code == 405


def test_rejected_request_is_traced(gateway: GatewayProc) -> None:
    _code, headers, _payload = post(gateway, b'{"model": 5}')
    record = gateway.trace(headers["x-seawall-trace-id"])
    assert record["status"] == 400
    assert record["request"]["body"] == '{"model": 5}'
