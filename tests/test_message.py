from __future__ import annotations

import pytest

from gosmee_trio.client.message import (
    is_control_event,
    is_empty_event,
    parse_message,
)
from gosmee_trio.errors import MessageError


@pytest.mark.parametrize(
    ("name", "data", "control"),
    [
        pytest.param("ready", "{}", True, id="smee-ready"),
        pytest.param("ping", "{}", True, id="smee-ping"),
        pytest.param("message", "ready", True, id="bare-ready"),
        pytest.param("message", '{"message":"connected"}', True, id="connected"),
        pytest.param("message", '{"Message":"READY"}', True, id="case-insensitive"),
        pytest.param(
            "message", '{"message":"system is ready"}', False, id="other-text"
        ),
        pytest.param(
            "message",
            '{"Message":"connected","content-type":"text/plain"}',
            False,
            id="two-keys",
        ),
        pytest.param(
            "message",
            '{"x-github-event":"ready","body":{}}',
            False,
            id="event-named-ready",
        ),
        pytest.param(
            "message",
            '{"x-github-event":"push","body":"system is ready now"}',
            False,
            id="body-mentions-ready",
        ),
        pytest.param("message", '{"message":1}', False, id="non-string"),
        pytest.param("message", "[1]", False, id="array"),
        pytest.param("message", "{not json", False, id="broken-json"),
    ],
)
def test_is_control_event_by_name_or_exact_shape(
    name: str, data: str, control: bool
) -> None:
    assert is_control_event(name, data) is control


@pytest.mark.parametrize(
    ("data", "empty"), [("", True), ("{}", True), (" ", True), ("{1}", False)]
)
def test_is_empty_event(data: str, empty: bool) -> None:
    assert is_empty_event(data) is empty


def test_parse_message_behaviour_case_68_smee_style() -> None:
    event = parse_message(
        '{"x-foo":"bar","user-agent":"gosmee","timestamp":"1650391429188",'
        '"otherheader":"yolo","content-type":"application/json",'
        '"x-github-event":"push","body":{"hello":"world"}}'
    )
    headers = dict(event.headers)
    assert headers["X-Foo"] == "bar"
    assert headers["User-Agent"] == "gosmee"
    assert headers["Otherheader"] == "yolo"
    assert "otherheader" not in headers
    assert event.body == b'{"hello":"world"}'
    assert event.event_type == "push"
    assert event.content_type == "application/json"
    assert event.timestamp_ms == 1650391429188


def test_parse_message_bodyb_is_exact_bytes() -> None:
    event = parse_message(
        '{"bodyB":"eyJoZWxsbyI6ICJ3b3JsZCJ9","content-type":"application/json"}'
    )
    assert event.body == b'{"hello": "world"}'


@pytest.mark.parametrize(
    "key",
    [
        "x-github-delivery",
        "x-gitea-delivery",
        "x-forgejo-delivery",
        "x-gitlab-delivery",
        "x-event-id",
    ],
)
def test_parse_message_delivery_id_from_each_provider(key: str) -> None:
    assert parse_message(f'{{"{key}":"delivery-123"}}').delivery_id == "delivery-123"


def test_parse_message_drops_hop_by_hop_host_and_content_length() -> None:
    event = parse_message(
        '{"host":"x","connection":"close","content-length":"99","transfer-encoding":"chunked",'
        '"x-keep":"1"}'
    )
    assert event.headers == (("X-Keep", "1"),)


def test_parse_message_query_and_timestamp_forms() -> None:
    event = parse_message(
        '{"a":"b","query":{"x":["1","2"],"y":"3"},"timestamp":1700000000000}'
    )
    assert event.query == (("x", "1"), ("x", "2"), ("y", "3"))
    assert event.timestamp_ms == 1700000000000
    assert parse_message('{"a":"b","timestamp":"notanumber"}').timestamp_ms is None


def test_parse_message_durable_only_for_stream_ids() -> None:
    assert parse_message('{"a":"b"}', "17-0").durable
    assert not parse_message('{"a":"b"}', "17").durable
    assert parse_message('{"a":"b"}', "17").stream_id == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            "xxxXXXxx",
            r"^expected a JSON object, got 8 characters of something else$",
            id="not-json",
        ),
        pytest.param("[1,2]", r"^expected a JSON object, got list$", id="array"),
        pytest.param(
            '{"timestamp":"1"}', r"^no headers found in message$", id="no-headers"
        ),
        pytest.param(
            '{"a":"b","bodyB":"!!"}', r"^bodyB is not valid base64", id="bad-b64"
        ),
        pytest.param(
            '{"a":"b","bodyB":5}',
            r"^bodyB must be a base64 string, got int$",
            id="b64-not-text",
        ),
    ],
)
def test_parse_message_errors_name_the_problem(data: str, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        parse_message(data)


def test_parse_message_without_headers_still_carries_the_body() -> None:
    event = parse_message('{"bodyB":"aGk=","timestamp":"1"}')
    assert event.headers == ()
    assert event.body == b"hi"


def test_parse_message_drops_header_names_that_cannot_be_sent() -> None:
    event = parse_message('{"x-ok":"1","bad name":"2","x-crlf\\r\\n":"3","bodyB":""}')
    assert event.headers == (("X-Ok", "1"),)


def test_parse_message_keeps_a_header_named_body_on_the_gosmee_wire() -> None:
    # The gosmee wire carries the body in bodyB, so "body" can only be a header.
    event = parse_message('{"body":"from the provider","bodyB":"aGk=","timestamp":"1"}')
    assert event.headers == (("Body", "from the provider"),)
    assert event.body == b"hi"
