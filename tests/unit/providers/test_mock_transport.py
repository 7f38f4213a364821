"""`MockTransport` itself: what a handler's answer turns into, and failures at a chosen point, mapped
by the one `transport_error` exactly as the H1 client's are."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from seawall._types import AttemptInfo, AttemptTimeouts
from seawall.errors import (
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStreamCut,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from seawall.providers import (
    USE_CLIENT_DEFAULT,
    ConnectError,
    Disconnected,
    MockResponse,
    MockTransport,
    ProtocolError,
    TransportError,
    UpstreamRequest,
)
from seawall.providers._h1 import H1ConnectError, H1Disconnected, H1Error, H1ProtocolError
from seawall.providers._http import HTTPProvider

REQUEST = UpstreamRequest("POST", "http://up/v1/x", {"a": "1"}, b"{}")


async def collect(pieces: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for piece in pieces:
        into.append(piece)  # noqa: PERF401 (kept even when a later read fails)


async def read_all(transport: MockTransport, request: UpstreamRequest = REQUEST) -> list[bytes]:
    response = await transport.send(request)
    try:
        return [piece async for piece in response.iter_chunks(1.0)]
    finally:
        response.release()


async def test_a_sync_handler_sees_each_request_and_its_answer_arrives_whole() -> None:
    seen: list[UpstreamRequest] = []

    def handler(request: UpstreamRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(201, {"X-Thing": "a", "Content-Type": "text/plain"}, b"hello")

    transport = MockTransport(handler)
    response = await transport.send(REQUEST)
    assert (response.status, response.headers) == (201, {"x-thing": "a", "content-type": "text/plain"})
    assert await response.read() == b"hello"
    response.release()
    assert seen == [REQUEST] and transport.requests == [REQUEST]
    assert REQUEST.connect_timeout is USE_CLIENT_DEFAULT and REQUEST.head_timeout is None


async def test_an_async_handler_and_a_body_in_pieces_one_read_each() -> None:
    async def handler(request: UpstreamRequest) -> MockResponse:
        return MockResponse(body=[b"one", b"", b"two", b"three"])

    assert await read_all(MockTransport(handler)) == [b"one", b"two", b"three"]  # empty reads skipped


async def test_read_joins_the_pieces() -> None:
    transport = MockTransport(lambda request: MockResponse(body=[b"ab", b"cd"]))
    response = await transport.send(REQUEST)
    assert await response.read() == b"abcd"
    with pytest.raises(RuntimeError, match="only once"):
        await response.read()
    response.release()


async def test_a_generator_body_runs_one_piece_per_read() -> None:
    log: list[str] = []

    def body() -> Iterator[bytes]:
        log.append("first")
        yield b"1"
        log.append("second")
        yield b"2"

    transport = MockTransport(lambda request: MockResponse(body=body()))
    response = await transport.send(REQUEST)
    pieces = response.iter_chunks()
    assert log == []  # nothing read before it is asked for
    assert await anext(pieces) == b"1" and log == ["first"]
    assert await anext(pieces) == b"2" and log == ["first", "second"]
    response.release()


async def test_an_async_iterable_body() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x"
        yield b"y"

    assert await read_all(MockTransport(lambda request: MockResponse(body=body()))) == [b"x", b"y"]


@pytest.mark.parametrize(
    "failure", [Disconnected, Disconnected("gone"), TimeoutError(), ProtocolError("junk")]
)
async def test_a_failure_among_the_pieces_is_raised_at_that_point(failure: Any) -> None:
    transport = MockTransport(lambda request: MockResponse(body=[b"before", failure, b"never"]))
    response = await transport.send(REQUEST)
    got: list[bytes] = []
    expected = failure if isinstance(failure, type) else type(failure)
    with pytest.raises(expected):
        await collect(response.iter_chunks(), got)
    assert got == [b"before"]
    response.release()


async def test_a_handler_that_raises_sends_no_answer() -> None:
    def handler(request: UpstreamRequest) -> MockResponse:
        raise ConnectError("refused")

    transport = MockTransport(handler)
    with pytest.raises(ConnectError, match="refused"):
        await transport.send(REQUEST)
    assert transport.requests == [REQUEST] and transport.open == 0


async def test_open_counts_unreleased_responses_and_release_twice_is_harmless() -> None:
    transport = MockTransport(lambda request: MockResponse())
    first = await transport.send(REQUEST)
    second = await transport.send(REQUEST)
    assert transport.open == 2
    first.release()
    first.release()
    assert transport.open == 1
    second.release()
    assert transport.open == 0


async def test_a_handler_must_answer_with_a_mock_response() -> None:
    transport = MockTransport(lambda request: b"not a response")  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="MockResponse"):
        await transport.send(REQUEST)


async def test_aclose_is_recorded_and_the_transport_keeps_working() -> None:
    transport = MockTransport(lambda request: MockResponse(body=b"ok"))
    await transport.aclose()
    await transport.aclose()
    assert transport.closed
    assert await read_all(transport) == [b"ok"]


def test_json_answers() -> None:
    answer = MockResponse.json({"a": [1]}, status=429, headers={"retry-after": "3"})
    assert answer == MockResponse(429, {"content-type": "application/json", "retry-after": "3"}, b'{"a":[1]}')


def test_the_h1_clients_errors_are_the_transport_vocabulary() -> None:
    assert H1Error is TransportError and H1ConnectError is ConnectError
    assert H1Disconnected is Disconnected and H1ProtocolError is ProtocolError


# -- through the one error mapping -------------------------------------------------------------


class _Provider(HTTPProvider):
    label = "test"

    def classify(self, status: int, body: bytes, headers: Any) -> UpstreamError:
        return UpstreamUnavailable(f"status {status}", upstream_status=status)

    def ratelimit(self, headers: Any) -> dict[str, str]:
        return {}


def _raising(exc: BaseException) -> MockTransport:
    def handler(request: UpstreamRequest) -> MockResponse:
        raise exc

    return MockTransport(handler)


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (_raising(ConnectError("refused")), UpstreamConnectionError),
        (_raising(TimeoutError()), UpstreamTimeout),
        (_raising(Disconnected("closed")), UpstreamConnectionError),
        (_raising(ConnectionResetError("reset")), UpstreamConnectionError),
        (MockTransport(lambda r: MockResponse(body=[b'{"a":', Disconnected])), UpstreamConnectionError),
        (MockTransport(lambda r: MockResponse(body=[b'{"a":', ProtocolError("bad")])), UpstreamBadResponse),
    ],
)
async def test_post_maps_mock_failures_like_h1_failures(
    transport: MockTransport, expected: type[UpstreamError]
) -> None:
    provider = _Provider("p", {}, transport=transport)
    info = AttemptInfo()
    with pytest.raises(expected):
        await provider.post("http://up/x", b"{}", {}, info)
    assert transport.open == 0  # released on every path


@pytest.mark.parametrize(
    ("transport", "expected", "got"),
    [
        (_raising(ConnectError("refused")), UpstreamConnectionError, []),
        (_raising(TimeoutError()), UpstreamTimeout, []),
        (
            MockTransport(lambda r: MockResponse(body=[b"data: 1\n\n", Disconnected])),
            UpstreamStreamCut,
            [b"data: 1\n\n"],
        ),
        (
            MockTransport(lambda r: MockResponse(body=[b"data: 1\n\n", ProtocolError])),
            UpstreamStreamCut,
            [b"data: 1\n\n"],
        ),
        (
            MockTransport(lambda r: MockResponse(body=[b"data: 1\n\n", TimeoutError])),
            UpstreamTimeout,
            [b"data: 1\n\n"],
        ),
    ],
)
async def test_pieces_maps_mock_failures_like_h1_failures(
    transport: MockTransport, expected: type[UpstreamError], got: list[bytes]
) -> None:
    provider = _Provider("p", {}, transport=transport)
    info = AttemptInfo()
    pieces: list[bytes] = []
    timeouts = AttemptTimeouts(connect=2.0, idle=5.0)
    with pytest.raises(expected):
        await collect(provider.pieces("http://up/x", b"{}", {}, timeouts, info), pieces)
    assert pieces == got == [data for _, data in info.reads]
    assert transport.open == 0
    assert transport.requests[0].connect_timeout == 2.0 and transport.requests[0].head_timeout == 5.0


async def test_the_provider_closes_a_given_transport_and_keeps_it() -> None:
    transport = MockTransport(lambda request: MockResponse.json({}))
    provider = _Provider("p", {}, transport=transport)
    await provider.aclose()
    assert transport.closed and provider.transport is transport
