"""Reading trace filters: the same parameters for `seawall traces list` and `GET /admin/traces`."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from seawall.trace._query import (
    QueryError,
    TraceQuery,
    as_query,
    parse_status,
    parse_time,
    query_from_params,
    search_terms,
)
from seawall.trace._sqlite_query import fts_match

NOW = 1_800_000_000.0


def test_times_are_epoch_seconds_iso_or_a_duration_ago() -> None:
    assert parse_time("1700000000", NOW) == 1_700_000_000.0
    assert parse_time("1700000000.5", NOW) == 1_700_000_000.5
    assert parse_time("15m", NOW) == NOW - 900
    assert parse_time("7d", NOW) == NOW - 7 * 86400
    assert parse_time("2024-05-01T12:00:00Z", NOW) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC).timestamp()
    assert (
        parse_time("2024-05-01T14:00:00+02:00", NOW) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC).timestamp()
    )
    # no zone: local time, as `traces list` prints times
    assert parse_time("2024-05-01 12:00", NOW) == dt.datetime(2024, 5, 1, 12).timestamp()
    assert parse_time("2024-05-01", NOW) == dt.datetime(2024, 5, 1).timestamp()


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "5 minutes", "nan", ""])
def test_a_bad_time_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected epoch seconds, an ISO 8601 time"):
        parse_time(text, NOW)


def test_statuses_codes_classes_and_lists() -> None:
    assert parse_status("503") == ((503, 503),)
    assert parse_status("5xx") == ((500, 599),)
    assert parse_status("4XX") == ((400, 499),)
    assert parse_status("error") == ((400, 999),)
    assert parse_status("ok") == ((0, 399),)
    assert parse_status("429, 5xx") == ((429, 429), (500, 599))
    for bad in ("6xx", "50", "1000", "bad", "5xx,", "x5x"):
        with pytest.raises(ValueError, match="expected a status"):
            parse_status(bad)


def test_every_filter_is_read() -> None:
    query = query_from_params(
        {
            "since": "2h",
            "until": "1h",
            "model": "chat",
            "target": "primary/gpt-primary",
            "status": "5xx",
            "error_class": "timeout",
            "conversation_id": "conv-1",
            "q": "fox",
            "before": "0190aaaa",
            "limit": "10",
        },
        now=NOW,
    )
    assert query == TraceQuery(
        since=NOW - 7200,
        until=NOW - 3600,
        model="chat",
        target="primary/gpt-primary",
        status=((500, 599),),
        error_class="timeout",
        conversation_id="conv-1",
        text="fox",
        before="0190aaaa",
        limit=10,
    )
    assert query_from_params({}, now=NOW) == TraceQuery()
    assert query_from_params({"model": "  ", "limit": ""}, now=NOW, default_limit=20) == TraceQuery(limit=20)


def test_limit_is_kept_in_range_and_errors_is_the_old_spelling_of_status_error() -> None:
    assert query_from_params({"limit": "0"}, now=NOW).limit == 1
    assert query_from_params({"limit": "5000"}, now=NOW).limit == 1000
    assert query_from_params({"limit": "5000"}, now=NOW, max_limit=10_000).limit == 5000
    assert query_from_params({"errors": "1"}, now=NOW).status == ((400, 999),)
    assert query_from_params({"errors": "0"}, now=NOW).status == ()


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"since": "soon"}, "since", "expected epoch seconds"),
        ({"until": "x"}, "until", "expected epoch seconds"),
        ({"since": "1h", "until": "2h"}, "until", "until must be later than since"),
        ({"status": "2"}, "status", "expected a status"),
        ({"error_class": "timeot"}, "error_class", "unknown error class 'timeot' (expected one of: timeout"),
        ({"target": "gpt-4o"}, "target", "expected provider/model"),
        ({"q": ' * " '}, "q", "no words"),
        ({"limit": "ten"}, "limit", "expected an integer, got 'ten'"),
        ({"errors": "yes"}, "errors", "expected 1 or 0"),
        ({"errors": "1", "status": "503"}, "errors", "not both"),
        ({"stauts": "503"}, "stauts", "unknown filter 'stauts'"),
    ],
)
def test_a_bad_value_names_its_parameter(params: dict[str, str], param: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)) as caught:
        query_from_params(params, now=NOW)
    assert caught.value.param == param


def test_search_terms_and_their_fts5_query() -> None:
    assert search_terms("quick  brown") == [("quick", False), ("brown", False)]
    assert search_terms('"brown fox" jump*') == [("brown fox", False), ("jump", True)]
    assert search_terms('ORD-1234 "unclosed') == [("ORD-1234", False), ("unclosed", False)]
    assert search_terms("- * ()") == []
    assert fts_match('say "a ""quoted"" x" fo*') == '"say" "a" "quoted" "x" "fo"*'
    assert fts_match("ORD-1234 AND NEAR(") == '"ORD-1234" "AND" "NEAR("'


def test_the_older_keyword_form_is_a_query() -> None:
    assert as_query(None, limit=None, model=None, errors_only=False) == TraceQuery()
    assert as_query(None, limit=3, model="m", errors_only=True) == TraceQuery(
        model="m", status=((400, 999),), limit=3
    )
    with pytest.raises(TypeError):
        as_query(TraceQuery(), limit=3, model=None, errors_only=False)
