"""The trace record: bodies repeated within one record are written once and restored on read."""

from pathlib import Path

import orjson

from seawall._types import AttemptInfo, Target
from seawall.errors import UpstreamUnavailable
from seawall.trace._record import Trace, expand_refs
from seawall.trace._sqlite import SQLiteTraceStore

CLIENT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
ANSWER = b'{"choices":[{"message":{"role":"assistant","content":"hello"}}]}'
TARGET = Target(provider="p", model="m")


def _info(request: bytes, response: bytes | None, status: int = 200) -> AttemptInfo:
    return AttemptInfo(
        url="http://up/v1/chat/completions", request_body=request, status=status, response_body=response
    )


def test_pass_through_bodies_are_references_that_expand_to_the_full_text(tmp_path: Path) -> None:
    trace = Trace(model="m", ingress="openai", stream=False, request_body=CLIENT)
    trace.add_attempt(target=TARGET, kind="openai", started_ms=0.0, info=_info(CLIENT, ANSWER), error=None)
    record = trace.finish(status=200, response_body=ANSWER)

    assert record["attempts"][0]["request_body"] == {"$ref": "request.body"}
    assert record["response"]["body"] == {"$ref": "attempts.0.response_body"}
    assert orjson.dumps(record).decode().count('\\"content\\":\\"hello\\"') == 1

    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    store.write_batch([(record, orjson.dumps(record))])
    stored = store.get(record["id"])
    assert stored is not None
    assert stored["attempts"][0]["request_body"] == CLIENT.decode()
    assert stored["response"]["body"] == ANSWER.decode()
    store.close()


def test_the_answering_attempt_is_referenced_after_a_failed_one() -> None:
    trace = Trace(model="m", ingress="openai", stream=False, request_body=CLIENT)
    failed = UpstreamUnavailable("upstream 503", upstream_status=503)
    trace.add_attempt(
        target=TARGET,
        kind="openai",
        started_ms=0.0,
        info=_info(CLIENT, b'{"error":"busy"}', 503),
        error=failed,
    )
    trace.add_attempt(target=TARGET, kind="openai", started_ms=1.0, info=_info(CLIENT, ANSWER), error=None)
    record = expand_refs(orjson.loads(orjson.dumps(trace.finish(status=200, response_body=ANSWER))))
    assert record["response"]["body"] == ANSWER.decode()
    assert [a["request_body"] for a in record["attempts"]] == [CLIENT.decode(), CLIENT.decode()]


def test_bodies_that_differ_are_written_in_full() -> None:
    translated = b'{"model":"claude","messages":[{"role":"user","content":"hi"}],"max_tokens":10}'
    mine = b'{"id":"x","choices":[]}'
    trace = Trace(model="m", ingress="openai", stream=False, request_body=CLIENT)
    trace.add_attempt(
        target=TARGET, kind="anthropic", started_ms=0.0, info=_info(translated, ANSWER), error=None
    )
    record = trace.finish(status=200, response_body=mine)
    assert record["attempts"][0]["request_body"] == translated.decode()
    assert record["response"]["body"] == mine.decode()
    assert expand_refs(dict(record)) == record
