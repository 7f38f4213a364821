"""Finding traces in the SQLite store: every filter of `TraceQuery`, combined, and pages of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.trace import _sqlite_schema
from seawall.trace._codec import encode, to_stored
from seawall.trace._query import QueryError, TraceQuery, query_from_params
from seawall.trace._schema import ErrorInfo, RequestPart, ResponsePart, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.unit.trace.records import attempt, record

T0 = 1_700_000_000.0
STREAM = (
    'data: {"choices":[{"index":0,"delta":{"content":"The zeb"}}]}\n\n'
    'data: {"choices":[{"index":0,"delta":{"content":"ra crossed"}}]}\n\n'
    "data: [DONE]\n\n"
)


def _id(ts: float, n: int) -> str:
    """A trace id as Seawall makes them: the arrival time in ms (12 hex digits), then random bits
    (here a counter: `short()` reads it back)."""
    return f"{int(ts * 1000):012x}{n:012x}"


def short(trace_id: str) -> str:
    return trace_id[-4:]


def _request(text: str, conversation: str | None = None) -> RequestPart:
    headers = {"user-agent": "test"}
    if conversation:
        headers["x-seawall-conversation-id"] = conversation
    return RequestPart(headers=headers, body=json.dumps({"messages": [{"role": "user", "content": text}]}))


def _answer(text: str) -> ResponsePart:
    return ResponsePart(body=json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}))


def _error(status: int, error_class: str) -> ErrorInfo:
    return ErrorInfo(type="upstream_error", message="failed", status=status, error_class=error_class)


RECORDS = [
    record(
        _id(T0, 1),
        ts=T0,
        model="chat",
        request=_request("Where is my refund for ORD-1234?", "conv-a"),
        attempts=(attempt(provider="p", model="x"),),
        answered_by="p/x",
        response=_answer("The refund was sent."),
    ),
    record(
        _id(T0 + 60, 2),
        ts=T0 + 60,
        model="chat",
        status=503,
        error=_error(503, "server_error"),
        request=_request("Summarise this invoice"),
        attempts=(
            attempt(0, provider="p", model="x", status=503, error_class="server_error"),
            attempt(1, provider="q", model="y", status=503, error_class="server_error"),
        ),
    ),
    record(
        _id(T0 + 120, 3),
        ts=T0 + 120,
        model="solo",
        stream=True,
        request=_request("Tell me about animals", "conv-b"),
        attempts=(attempt(provider="q", model="y"),),
        answered_by="q/y",
        response=ResponsePart(body=STREAM, writes=((1.0, 60), (2.0, 60), (3.0, 14)), terminal="done"),
    ),
    record(
        _id(T0 + 180, 4),
        ts=T0 + 180,
        model="chat",
        status=429,
        error=_error(429, "rate_limited"),
        request=_request("Another refund question", "conv-a"),
        attempts=(attempt(provider="p", model="x", status=429, error_class="rate_limited"),),
    ),
    record(
        _id(T0 + 240, 5),
        ts=T0 + 240,
        model="chat",
        request=_request("Hello again", "conv-a"),
        attempts=(
            attempt(0, provider="p", model="x", status=500, error_class="server_error"),
            attempt(1, provider="r", model="z"),
        ),
        answered_by="r/z",
        response=_answer("Hi there, about ORD-9999"),
    ),
]


def _write(store: SQLiteTraceStore, records: list[TraceRecord]) -> None:
    store.write_batch([to_stored(r, encode(r)) for r in records])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteTraceStore]:
    opened = SQLiteTraceStore(str(tmp_path / "t.db"))
    _write(opened, RECORDS)
    yield opened
    opened.close()


def ids(store: SQLiteTraceStore, **filters: object) -> list[str]:
    if isinstance(filters.get("before"), str):
        filters["before"] = next(r.id for r in RECORDS if short(r.id) == filters["before"])
    return [short(row.id) for row in store.list(TraceQuery(**filters))]  # type: ignore[arg-type]


def test_every_filter_on_its_own(store: SQLiteTraceStore) -> None:
    assert ids(store) == ["0005", "0004", "0003", "0002", "0001"]
    assert ids(store, since=T0 + 60) == ["0005", "0004", "0003", "0002"]
    assert ids(store, until=T0 + 60) == ["0001"]
    assert ids(store, since=T0 + 60, until=T0 + 180) == ["0003", "0002"]
    assert ids(store, model="solo") == ["0003"]
    assert ids(store, model="nope") == []
    # any attempt's target, not only the one that answered
    assert ids(store, target="p/x") == ["0005", "0004", "0002", "0001"]
    assert ids(store, target="q/y") == ["0003", "0002"]
    assert ids(store, target="r/z") == ["0005"]
    assert ids(store, status=((503, 503),)) == ["0002"]
    assert ids(store, status=((400, 499),)) == ["0004"]
    assert ids(store, status=((400, 999),)) == ["0004", "0002"]
    assert ids(store, status=((0, 399),)) == ["0005", "0003", "0001"]
    assert ids(store, status=((429, 429), (500, 599))) == ["0004", "0002"]
    assert ids(store, error_class="rate_limited") == ["0004"]
    # any attempt's error (0005 fell back after a 500), or the client's
    assert ids(store, error_class="server_error") == ["0005", "0002"]
    assert ids(store, error_class="server_error", status=((400, 999),)) == ["0002"]
    assert ids(store, conversation_id="conv-a") == ["0005", "0004", "0001"]
    assert ids(store, conversation_id="conv-c") == []


def test_text_search_in_requests_and_answers(store: SQLiteTraceStore) -> None:
    assert ids(store, text="refund") == ["0004", "0001"]  # request, any case
    assert ids(store, text="REFUND sent") == ["0001"]  # every word: request and answer together
    assert ids(store, text="ORD-1234") == ["0001"]  # punctuation: the words in that order
    assert ids(store, text="ORD-9999") == ["0005"]  # in a JSON answer
    assert ids(store, text="zebra") == ["0003"]  # a streamed answer, the word cut across two chunks
    assert ids(store, text='"zebra crossed"') == ["0003"]
    assert ids(store, text='"crossed zebra"') == []
    assert ids(store, text="refu*") == ["0004", "0001"]
    assert ids(store, text="choices") == []  # JSON keys are not text
    assert ids(store, text="AND OR NEAR(") == []  # nothing is FTS5 syntax


def test_filters_combine(store: SQLiteTraceStore) -> None:
    assert ids(store, model="chat", target="p/x", status=((0, 399),)) == ["0005", "0001"]
    assert ids(store, conversation_id="conv-a", text="refund", since=T0 + 1) == ["0004"]
    assert ids(store, target="q/y", text="zebra", model="solo", status=((200, 200),)) == ["0003"]
    assert ids(store, target="q/y", error_class="server_error") == ["0002"]
    assert ids(store, target="r/z", error_class="server_error") == ["0005"]  # answered after a 500
    assert ids(store, target="p/x", text="invoice", conversation_id="conv-a") == []


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"target": "p/x"},
        {"model": "chat"},
        {"conversation_id": "conv-a"},
        {"status": ((0, 999),)},
        {"text": "the"},
    ],
)
def test_pages_follow_each_other_without_gaps_or_repeats(
    store: SQLiteTraceStore, filters: dict[str, object]
) -> None:
    everything = ids(store, **filters)
    seen: list[str] = []
    before = None
    while True:
        page = ids(store, limit=2, before=before, **filters)
        seen += page
        if len(page) < 2:
            break
        before = page[-1]
    assert seen == everything and len(everything) >= 2


def test_summaries_carry_the_conversation(store: SQLiteTraceStore) -> None:
    (row,) = store.list(TraceQuery(text="zebra"))
    assert (row.conversation_id, row.stream, row.answered_by, row.model) == ("conv-b", True, "q/y", "solo")
    (failed,) = store.list(TraceQuery(error_class="rate_limited"))
    assert (failed.status, failed.conversation_id, failed.attempts) == (429, "conv-a", 1)


def test_the_older_keyword_form_still_lists(store: SQLiteTraceStore) -> None:
    assert [short(r.id) for r in store.list(limit=2)] == ["0005", "0004"]
    assert [short(r.id) for r in store.list(model="chat", errors_only=True)] == ["0004", "0002"]


def test_queries_read_from_parameters_run_as_given(store: SQLiteTraceStore) -> None:
    query = query_from_params({"status": "5xx", "target": "q/y", "q": "invoice"}, now=T0)
    assert [short(r.id) for r in store.list(query)] == ["0002"]


def test_without_fts5_text_search_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        _sqlite_schema, "_TEXT_INDEX", "CREATE VIRTUAL TABLE trace_text USING no_such_fts5(x)"
    )
    store = SQLiteTraceStore(str(tmp_path / "plain.db"))
    _write(store, RECORDS)
    assert not store.text_index
    assert ids(store, target="q/y") == ["0003", "0002"]
    with pytest.raises(QueryError, match="FTS5") as caught:
        store.list(TraceQuery(text="refund"))
    assert caught.value.param == "q"
    assert store.delete_oldest(10) == 5
    store.close()
