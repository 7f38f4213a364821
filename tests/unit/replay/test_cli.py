"""The command-line helpers that need no upstream: opening the store, finding the trace, errors."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import yaml

import seawall.replay
from seawall.config import validate
from seawall.replay import ReplayError, load_record, open_trace_store, run_live_cli
from seawall.trace._codec import encode
from tests.unit.trace.records import ANSWER, attempt, record


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def config_file(tmp_path: Path, **traces: object) -> Path:
    data = {
        "providers": [{"name": "up", "kind": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1"}],
        "models": [{"name": "chat", "targets": [{"provider": "up", "model": "gpt-x"}]}],
        "traces": {"store": f"sqlite:///{tmp_path / 'traces.db'}", **traces},
    }
    path = tmp_path / "seawall.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_trace_left_in_a_journal_is_recovered_before_the_lookup(tmp_path: Path) -> None:
    config = validate(yaml.safe_load(config_file(tmp_path).read_text()), "(test)")
    journal = tmp_path / "traces.db.journal"
    journal.mkdir()
    # a segment as the recorder leaves it when its process dies: records, then the zeroed rest
    (journal / f"seg-{os.getpid()}-000000.jsonl").write_bytes(
        encode(record("0123456789abcdef")) + b"\n" + b"\0" * 64
    )
    assert load_record(config, "0123456789ab").id == "0123456789abcdef"
    assert not list(journal.iterdir())  # moved into the store
    with pytest.raises(ReplayError, match=r"no trace 'fedcba987654' in sqlite:///"):
        load_record(config, "fedcba987654")


def test_a_config_without_traces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file(tmp_path, store="none")
    with pytest.raises(ReplayError, match=r"traces are disabled in this config \(traces.store: none\)"):
        open_trace_store(validate(yaml.safe_load(path.read_text()), "(test)"))
    assert run_live_cli("0123456789ab", str(path)) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("error: traces are disabled")


def test_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_live_cli("0123456789ab", str(tmp_path / "nope.yaml"), fail_on_diff=True) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_a_connection_refused_is_a_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens on the provider's port: the live call fails to connect, and that is what the
    command shows (exit 0, the call was made; 1 with --fail-on-diff)."""
    path = config_file(tmp_path)
    config = validate(yaml.safe_load(path.read_text()), "(test)")
    answered = record(
        "0123456789abcdef",
        body=json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
        answered_by="up/gpt-x",
        attempts=(attempt(0, provider="up", model="gpt-x", response_body=ANSWER),),
    )
    store = open_trace_store(config)
    store.write_batch([seawall.trace._codec.to_stored(answered, encode(answered))])
    store.close()
    assert run_live_cli("0123456789ab", str(path)) == 0
    out = capsys.readouterr().out
    assert "  live:     up/gpt-x, one attempt (no retry, no fallback)" in out
    assert "* error           -" in out and "connect: " in out
    assert run_live_cli("0123456789ab", str(path), fail_on_diff=True) == 1


def test_all_is_sorted_and_resolves() -> None:
    names = seawall.replay.__all__
    assert list(names) == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    for name in names:
        assert hasattr(seawall.replay, name), name
