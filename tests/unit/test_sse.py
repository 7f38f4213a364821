from seawall.providers._http import SSEParser


def test_events_split_across_reads() -> None:
    parser = SSEParser()
    stream = (
        b'data: {"a":1}\n\ndata: {"b":2}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\ndata: [DONE]\n\n'
    )
    events = []
    for i in range(0, len(stream), 7):
        events.extend(parser.feed(stream[i : i + 7]))
    assert events == [
        (None, b'{"a":1}'),
        (None, b'{"b":2}'),
        ("message_stop", b'{"type":"message_stop"}'),
        (None, b"[DONE]"),
    ]
    assert parser.pending == b""


def test_crlf_comments_and_multiline_data() -> None:
    parser = SSEParser()
    events = parser.feed(b": keep-alive\r\n\r\nevent: ping\r\ndata: line1\r\ndata:line2\r\nid: 7\r\n\r\n")
    assert events == [("ping", b"line1\nline2")]


def test_incomplete_event_is_held() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"x"') == []
    assert parser.feed(b":1}\n\n") == [(None, b'{"x":1}')]
