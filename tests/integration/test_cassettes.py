"""Cassettes: traces exported by `seawall traces export`, replayed by `seawall.testing` (library mode, over
HTTP in process with the official SDK, and through the pytest fixture) with no network."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import openai
import pytest

import seawall
from seawall.replay._cassette import CassetteError, CassetteMiss, load
from seawall.testing import CassettePlayer

pytest_plugins = ["pytester"]

STORY = [{"role": "user", "content": "What is 17+25?"}]


def _config(tmp: Path, port: int | None = None) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "up", "kind": "simulated", "simulate": {"seed": 3}},
            {"name": "claude", "kind": "simulated", "dialect": "anthropic", "simulate": {"seed": 4}},
        ],
        "models": [
            {"name": "chat", "targets": [{"provider": "up", "model": "m"}]},
            {"name": "claude", "targets": [{"provider": "claude", "model": "c"}]},
        ],
        "traces": {"store": f"sqlite:///{tmp}/traces.db"},
    }


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Record a JSON answer, a stream, a tool call and an Anthropic-upstream answer; export them."""
    tmp = tmp_path_factory.mktemp("cassette")

    async def record() -> list[str]:
        async with seawall.Gateway.from_config(_config(tmp)) as gw:
            await gw.chat(model="chat", messages=STORY)
            stream = await gw.chat(model="chat", messages=STORY, stream=True)
            async for _ in stream:
                pass
            await gw.chat(model="claude", messages=STORY, max_tokens=32)
            assert gw.recorder.flush(5) and gw.store is not None
            return [row.id for row in gw.store.list(limit=10)]

    ids = asyncio.run(record())
    out = tmp / "cassette.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "seawall.cli",
            "traces",
            "export",
            *ids,
            "-o",
            str(out),
            "--store",
            f"sqlite:///{tmp}/traces.db",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 trace(s), 1 config(s)" in done.stdout
    return out


async def test_library_code_runs_against_the_cassette(cassette: Path) -> None:
    async with CassettePlayer(cassette).gateway() as gw:
        assert gw._simulators == []  # no simulator started, no connection opened
        answer = await gw.chat(model="chat", messages=STORY)
        assert answer["choices"][0]["message"]["content"] == "42"
        again = await gw.chat(model="chat", messages=STORY)  # a repeated call: answered again
        assert again == answer
        chunks = [c async for c in await gw.chat(model="chat", messages=STORY, stream=True)]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "42"
        claude = await gw.chat(model="claude", messages=STORY, max_tokens=32)
        assert claude["choices"][0]["message"]["content"]
        with pytest.raises(CassetteMiss, match="provider 'up'"):
            await gw.chat(model="chat", messages=[{"role": "user", "content": "something never recorded"}])


async def test_http_code_with_the_openai_sdk_runs_against_the_cassette(cassette: Path) -> None:
    async with CassettePlayer(cassette).app() as app:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seawall")
        client = openai.AsyncOpenAI(
            base_url="http://seawall/v1", api_key="unused", http_client=http, max_retries=0
        )
        reply = await client.chat.completions.create(model="chat", messages=STORY)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "42"
        await http.aclose()


def test_the_pytest_fixture_replays_a_cassette(pytester: pytest.Pytester, cassette: Path) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.mark.seawall_cassette({str(cassette)!r})
        def test_answer(seawall_cassette):
            async def run():
                async with seawall_cassette.gateway() as gw:
                    return await gw.chat(model="chat", messages={STORY!r})
            assert asyncio.run(run())["choices"][0]["message"]["content"] == "42"

        def test_the_marker_is_required(seawall_cassette):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*needs @pytest.mark.seawall_cassette(PATH)*"])


def test_a_cassette_from_another_version_or_no_cassette_is_a_clear_error(
    cassette: Path, tmp_path: Path
) -> None:
    data = json.loads(cassette.read_text())
    for change, message in (
        ({"seawall_cassette": 2}, "cassette format 2; this Seawall reads format 1"),
        ({"schema_version": 99}, "schema version 99"),
    ):
        other = tmp_path / "other.json"
        other.write_text(json.dumps({**data, **change}))
        with pytest.raises(CassetteError, match=message):
            load(other)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(CassetteError, match="not a Seawall cassette"):
        load(junk)
    assert len(load(cassette).traces) == 3
    assert msgspec.json.decode(cassette.read_bytes())["configs"]  # the config travels with it
