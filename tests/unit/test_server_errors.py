"""The app's error boundary: an error before a response started is answered (OpenAI shape), one after
it drops the connection instead of starting a second response; 401/404/405 have their own classes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from seawall._gateway import Gateway
from seawall.server import SeawallApp
from seawall.server._asgi import Receive, Scope, Send, start_message


def _app() -> SeawallApp:
    return SeawallApp(Gateway.from_config({**_CONFIG, "server": {"admin_token": "s3cret"}}))


_CONFIG: dict[str, Any] = {
    "providers": [{"name": "sim", "kind": "simulated"}],
    "models": [{"name": "m", "targets": [{"provider": "sim", "model": "m"}]}],
    "traces": {"store": "none"},
}


async def _call(
    app: SeawallApp,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    sent: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    sent = [] if sent is None else sent

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b""}
    await app(scope, receive, send)
    return sent


async def test_a_failure_before_the_response_is_a_500_and_after_it_no_second_response() -> None:
    app = _app()

    async def before(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    async def after(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start_message(scope, 200, []))
        raise RuntimeError("bug mid-response")

    app._routes[("GET", "/before")] = before
    app._routes[("GET", "/after")] = after
    sent = await _call(app, "GET", "/before")
    assert sent[0]["status"] == 500 and orjson.loads(sent[1]["body"])["error"]["type"] == "api_error"
    sent = []
    with pytest.raises(RuntimeError, match="mid-response"):
        await _call(app, "GET", "/after", sent=sent)
    # only the handler's own start went out: no second response (the server drops the connection)
    assert [m["type"] for m in sent] == ["http.response.start"] and sent[0]["status"] == 200


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "kind"),
    [
        ("GET", "/admin/targets", [], 401, "authentication_error"),
        ("GET", "/admin/targets", [(b"authorization", b"Bearer wrong")], 401, "authentication_error"),
        ("GET", "/nowhere", [], 404, "invalid_request_error"),
        ("DELETE", "/v1/chat/completions", [], 405, "invalid_request_error"),
    ],
)
async def test_refusals_have_their_status_and_shape(
    method: str, path: str, headers: list[tuple[bytes, bytes]], status: int, kind: str
) -> None:
    sent = await _call(_app(), method, path, headers)
    error = orjson.loads(sent[1]["body"])["error"]
    assert (sent[0]["status"], error["type"]) == (status, kind)
    assert b"s3cret" not in sent[1]["body"]
