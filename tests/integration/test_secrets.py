"""Secrets planted everywhere a request can carry them never reach the trace store, its journal, the
recorded config or the gateway's log; configured JSON paths are redacted from every recorded body."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest

from tests.integration._procs import GatewayProc, Sim

SECRETS = {
    "provider key": "sk-PLANTED-provider-key-0001",
    "provider header": "PLANTED-azure-header-0002",
    "admin token": "PLANTED-admin-token-0003",
    "client bearer": "sk-PLANTED-client-bearer-0004",
    "client x-api-key": "sk-ant-PLANTED-client-0005",
    "redacted body field": "PLANTED-user-email-0006@example.com",
    "redacted message": "PLANTED-message-text-0007",
}


def test_planted_secrets_stay_out_of_every_recorded_byte(
    session_tmp: Path, sims: tuple[Sim, Sim], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    primary, _secondary = sims
    config = {
        "server": {"admin_token": SECRETS["admin token"]},
        "providers": [
            {
                "name": "up",
                "kind": "openai",
                "base_url": primary.url + "/v1",
                "api_key": SECRETS["provider key"],
                "headers": {"api-key": SECRETS["provider header"]},
            },
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": primary.url,
                "api_key": SECRETS["provider key"],
            },
        ],
        "models": [
            {"name": "chat", "targets": [{"provider": "up", "model": "m"}]},
            {"name": "claude", "targets": [{"provider": "claude", "model": "c"}]},
        ],
        "traces": {
            "store": f"sqlite:///{tmp_path}/traces.db",
            "redact": ["user", "messages[1].content"],
        },
    }
    gw = GatewayProc(session_tmp, config, name="secrets")
    try:
        oai = openai.OpenAI(base_url=gw.url + "/v1", api_key=SECRETS["client bearer"], max_retries=0)
        request.addfinalizer(oai.close)
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Remember this: {SECRETS['redacted message']}"},
        ]
        answer = oai.chat.completions.create(
            model="chat", messages=messages, user=SECRETS["redacted body field"]
        )  # type: ignore[arg-type]
        assert answer.choices[0].message.content  # served in full: redaction is only for what is kept
        chunks = oai.chat.completions.create(model="chat", messages=messages, stream=True)  # type: ignore[arg-type]
        assert list(chunks)
        claude = anthropic.Anthropic(base_url=gw.url, api_key=SECRETS["client x-api-key"], max_retries=0)
        request.addfinalizer(claude.close)
        claude.messages.create(model="claude", max_tokens=32, messages=[{"role": "user", "content": "hi"}])
        deadline = time.monotonic() + 10
        while True:  # the admin API needs the token, and flushes the writer before it reads
            try:
                admin_request = urllib.request.Request(
                    gw.url + "/admin/traces?limit=10",
                    headers={"authorization": f"Bearer {SECRETS['admin token']}"},
                )
                with urllib.request.urlopen(admin_request, timeout=5) as response:
                    if response.read().count(b'"id"') >= 3:
                        break
            except urllib.error.HTTPError as exc:
                exc.close()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        gw.stop()
    places = [
        tmp_path / "traces.db",
        *tmp_path.glob("traces.db*"),
        *(tmp_path / "traces.db.journal").glob("*"),
        gw.proc.log,
    ]
    seen = b"".join(p.read_bytes() for p in places if p.is_file())
    assert b"[redacted]" in seen  # the redaction happened, and this search reads the right bytes
    for what, secret in SECRETS.items():
        assert secret.encode() not in seen, f"{what} leaked into the store, its journal or the log"
