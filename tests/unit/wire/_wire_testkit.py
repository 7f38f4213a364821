"""Shared helpers for the wire-translation tests: fixtures, SSE framing, SDK clients over mocks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anthropic
import httpx2

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_names(prefix: str) -> list[str]:
    return sorted(p.name for p in FIXTURES.glob(f"{prefix}*.json") if not p.name.endswith(".chunks.json"))


def dumps(value: Any) -> str:
    """The byte-for-byte comparison form used by golden tests."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Split an SSE transcript into `(event, data)` pairs."""
    events: list[tuple[str, dict[str, Any]]] = []
    event = ""
    data: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
        elif not line and data:
            events.append((event, json.loads("\n".join(data))))
            event, data = "", []
    return events


def encode_sse(events: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def anthropic_client(handler: Callable[[httpx2.Request], httpx2.Response]) -> anthropic.Anthropic:
    """The official SDK, talking to `handler` instead of the network."""
    return anthropic.Anthropic(
        api_key="test-key",
        base_url="http://seawall.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def sse_response(events: Iterable[tuple[str, dict[str, Any]]]) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=encode_sse(events))
