import pytest

from seawall._types import Priority
from seawall.errors import InvalidRequest
from seawall.ingress._openai_validate import parse_openai_request

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": OK["messages"]}, "model"),
        ({**OK, "model": 3}, "model"),
        ({"model": "m"}, "messages"),
        ({**OK, "messages": []}, "messages"),
        ({**OK, "messages": "hi"}, "messages"),
        ({**OK, "messages": [{"content": "x"}]}, "messages[0].role"),
        ({**OK, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({**OK, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**OK, "stream": "yes"}, "stream"),
        ({**OK, "stream_options": {"include_usage": True}}, "stream_options"),
        ({**OK, "max_tokens": "10"}, "max_tokens"),
        ({**OK, "max_tokens": 0}, "max_tokens"),
        ({**OK, "max_completion_tokens": True}, "max_completion_tokens"),
        ({**OK, "temperature": 3}, "temperature"),
        ({**OK, "top_p": "x"}, "top_p"),
        ({**OK, "stop": [1]}, "stop"),
        ({**OK, "user": 1}, "user"),
        ({**OK, "tools": {}}, "tools"),
        ({**OK, "tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({**OK, "response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
def test_bad_requests_name_the_param(body: object, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_openai_request(body)
    assert info.value.param == param
    assert info.value.status == 400


def test_valid_request_passes_unknown_fields_through() -> None:
    body = {
        **OK,
        "stream": True,
        "stream_options": {"include_usage": True},
        "x_vendor_knob": {"a": 1},
        "seed": 7,
    }
    request = parse_openai_request(body, {"x-seawall-priority": "batch"})
    assert request.body is body
    assert request.stream and request.include_usage
    assert request.priority is Priority.BATCH


def test_bad_priority_header() -> None:
    with pytest.raises(InvalidRequest, match="x-seawall-priority"):
        parse_openai_request(OK, {"x-seawall-priority": "urgent"})
