"""`seawall traces list` filters and `seawall traces show`'s timeline, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from seawall.cli import main
from seawall.trace._codec import encode, to_stored
from seawall.trace._schema import Admitted, Backoff, BreakerChanged, Gated, Queued, ResponsePart, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.unit.trace.records import attempt, record
from tests.unit.trace.test_sqlite_find import RECORDS, T0, short

FULL = {short(r.id): r.id for r in RECORDS}

FIXTURES = Path(__file__).parent / "trace" / "fixtures"


def _store(tmp_path: Path, records: list[TraceRecord]) -> str:
    path = tmp_path / "t.db"
    store = SQLiteTraceStore(str(path))
    store.write_batch([to_stored(r, encode(r)) for r in records])
    store.close()
    return f"sqlite:///{path}"


def _list(store: str, *args: str) -> list[str]:
    result = CliRunner().invoke(main, ["traces", "list", "--store", store, *args])
    assert result.exit_code == 0, result.output
    return [short(line.split()[0]) for line in result.stdout.splitlines()[1:]]


def test_every_filter(tmp_path: Path) -> None:
    store = _store(tmp_path, RECORDS)
    assert _list(store) == ["0005", "0004", "0003", "0002", "0001"]
    assert _list(store, "--since", str(T0 + 60), "--until", str(T0 + 180)) == ["0003", "0002"]
    assert _list(store, "--model", "solo") == ["0003"]
    assert _list(store, "--target", "q/y") == ["0003", "0002"]
    assert _list(store, "--status", "5xx") == ["0002"]
    assert _list(store, "--status", "429,503") == ["0004", "0002"]
    assert _list(store, "--status", "ok") == ["0005", "0003", "0001"]
    assert _list(store, "--errors") == ["0004", "0002"]
    assert _list(store, "--error-class", "rate_limited") == ["0004"]
    assert _list(store, "--conversation", "conv-a") == ["0005", "0004", "0001"]
    assert _list(store, "--search", "refund") == ["0004", "0001"]
    assert _list(store, "-s", "zebra") == ["0003"]
    assert _list(store, "--model", "chat", "--target", "p/x", "--status", "ok", "-s", "ORD-1234") == ["0001"]
    assert _list(store, "--since", "2h") == []  # these arrived long ago


def test_pages_and_json(tmp_path: Path) -> None:
    store = _store(tmp_path, RECORDS)
    first = CliRunner().invoke(main, ["traces", "list", "--store", store, "-n", "2"])
    assert first.exit_code == 0
    assert f"(more: add --before {FULL['0004']})" in first.stderr
    assert _list(store, "-n", "2", "--before", FULL["0004"]) == ["0003", "0002"]
    last = CliRunner().invoke(main, ["traces", "list", "--store", store, "-n", "2", "--before", FULL["0002"]])
    assert "more" not in last.stderr
    as_json = CliRunner().invoke(
        main, ["traces", "list", "--store", store, "--conversation", "conv-a", "--json"]
    )
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [short(row["id"]) for row in rows] == ["0005", "0004", "0001"]
    assert rows[1] == {
        "id": FULL["0004"],
        "ts": T0 + 180,
        "model": "chat",
        "status": 429,
        "stream": False,
        "duration_ms": 1.0,
        "attempts": 1,
        "answered_by": None,
        "error_class": "rate_limited",
        "conversation_id": "conv-a",
    }


def test_the_table_shows_the_conversation(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["traces", "list", "--store", _store(tmp_path, RECORDS), "-s", "zebra"])
    (row,) = result.stdout.splitlines()[1:]
    assert row.startswith(FULL["0003"]) and row.endswith("q/y stream  conversation conv-b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "error: --since: expected epoch seconds, an ISO 8601 time"),
        (["--until", "soon"], "error: --until: expected epoch seconds"),
        (["--since", "1h", "--until", "2h"], "error: --until: until must be later than since"),
        (["--status", "5x"], "error: --status: expected a status (503), a class (4xx, 5xx)"),
        (["--error-class", "boom"], "error: --error-class: unknown error class 'boom'"),
        (["--target", "gpt-4o"], "error: --target: expected provider/model"),
        (["--search", "* -"], "error: --search: the search has no words"),
        (["--errors", "--status", "503"], "error: --errors: give status or errors, not both"),
    ],
)
def test_a_bad_filter_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["traces", "list", "--store", _store(tmp_path, RECORDS), *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_filters_that_need_the_index_index_an_older_store_first(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1_store.db", path)
    store = f"sqlite:///{path}"
    result = CliRunner().invoke(
        main, ["traces", "list", "--store", store, "--target", "sim-claude/claude-sim"]
    )
    assert result.exit_code == 0, result.output
    assert "indexing 3 traces not indexed yet (once)" in result.stderr
    assert result.stdout.splitlines()[1].startswith("01a251d3778f68fc14253391")
    again = CliRunner().invoke(main, ["traces", "list", "--store", store, "--search", "gateway"])
    assert "indexing" not in again.stderr and "01a251d3778f68fc14253391" in again.stdout


def test_list_with_a_config_recovers_a_killed_gateway_s_journal_first(tmp_path: Path) -> None:
    db, journal = tmp_path / "t.db", tmp_path / "journal"
    journal.mkdir()
    rec = RECORDS[2]
    (journal / "seg-999999999-000001.jsonl").write_bytes(encode(rec) + b"\n" + b"\0" * 64)
    config = tmp_path / "seawall.yaml"
    config.write_text(
        "providers: [{name: p, kind: simulated}]\n"
        "models: [{name: chat, targets: [{provider: p, model: m}]}]\n"
        f"traces: {{store: 'sqlite:///{db}', journal_dir: '{journal}'}}\n"
    )
    result = CliRunner().invoke(main, ["traces", "list", "--config", str(config), "--search", "zebra"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith(rec.id)
    assert list(journal.iterdir()) == []


def test_show_prints_the_timeline_with_long_write_runs_collapsed(tmp_path: Path) -> None:
    writes = tuple((10.0 + i, 100) for i in range(30))
    body = "".join(f'data: {{"choices":[{{"delta":{{"content":"w{i} "}}}}]}}\n\n' for i in range(30))
    rec = record(
        "0190cccc0000000000000009",
        stream=True,
        status=200,
        duration_ms=45.0,
        ttft_ms=10.0,
        answered_by="q/y",
        attempts=(
            attempt(
                0,
                provider="p",
                model="x",
                started_ms=1.0,
                latency_ms=2.0,
                status=503,
                error_class="server_error",
                head_ms=2.5,
            ),
            attempt(
                1,
                provider="q",
                model="y",
                started_ms=6.0,
                latency_ms=38.5,
                ttft_ms=3.5,
                head_ms=8.0,
                retry=True,
                committed=True,
            ),
        ),
        events=(
            Queued(t_ms=0.1, priority="interactive", queued=3),
            Admitted(t_ms=0.9, waited_ms=0.8),
            Gated(
                t_ms=0.95,
                target="p/x",
                result="ok",
                wait_ms=0.0,
                breaker="closed",
                inflight=0,
                limit=10,
                reject_p=0.0,
                budget=5.0,
                go=True,
            ),
            BreakerChanged(
                t_ms=3.0, target="p/x", old="closed", new="open", reason="consecutive_failures", attempt=0
            ),
            Gated(
                t_ms=3.1,
                target="q/y",
                result="ok",
                wait_ms=0.0,
                breaker="closed",
                inflight=1,
                limit=None,
                reject_p=0.0,
                budget=4.0,
                go=True,
                delay_ms=2.5,
            ),
            Backoff(t_ms=3.2, target="q/y", delay_ms=2.5),
        ),
        response=ResponsePart(body=body, writes=writes, terminal="done"),
    )
    store = _store(tmp_path, [rec])
    shown = CliRunner().invoke(main, ["traces", "show", rec.id[:10], "--store", store])
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    timeline = out[out.index("timeline (since arrival):") :].splitlines()[1:]
    steps = [line.split("ms  ", 1)[1] for line in timeline]
    assert steps[:12] == [
        "arrived: openai request for m (stream)",
        "queued for admission (interactive; 3 queued)",
        "admitted after waiting 0.8 ms",
        "gate p/x: go (breaker closed, 0/10 in flight, budget 5)",
        "attempt #0 to p/x started",
        "attempt #0 headers: status 503",
        "attempt #0 ended: server_error, status 503 (2.0 ms)",
        "breaker p/x: closed -> open (consecutive_failures)",
        "gate q/y: go after 2.5 ms backoff (breaker closed, 1/unlimited in flight, budget 4)",
        "backoff 2.5 ms before retrying q/y",
        "attempt #1 to q/y started (retry)",
        "attempt #1 headers: status 200",
    ]
    assert steps[12:15] == [
        "attempt #1 first content from upstream",
        "first byte to the client",
        "write 1/30: 100 bytes at byte 0",
    ]
    assert "write 5/30: 100 bytes at byte 400" in steps
    assert "… 20 more writes, 2000 bytes" in steps
    assert "write 26/30: 100 bytes at byte 2500" in steps
    assert not any(step.startswith("write 6/30") for step in steps)
    assert steps[-2:] == ["attempt #1 ended: ok, status 200 (38.5 ms)", "end: status 200, stream done"]
    assert timeline[0].strip().startswith("0.0 ms") and timeline[-1].strip().startswith("45.0 ms")
