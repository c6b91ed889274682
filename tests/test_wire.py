from __future__ import annotations

import base64
import json
import os

import pytest

from gosmee_trio.wire import (
    build_event,
    build_message,
    encode_base64_chunks,
    parse_query,
    relay_headers,
)

# gosmee-reference.md §3.3: the GitHub push example, byte for byte.
PUSH_BODY = (
    b'{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",'
    b'"after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",'
    b'"repository":{"full_name":"octo-org/octo-repo"}}'
)
PUSH_HEADERS = [
    (b"host", b"hooks.example.com"),
    (b"user-agent", b"GitHub-Hookshot/5f4c3e1"),
    (b"content-length", b"176"),
    (b"accept", b"*/*"),
    (b"content-type", b"application/json"),
    (b"x-github-delivery", b"72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    (b"x-github-event", b"push"),
    (b"x-github-hook-id", b"292430182"),
    (b"x-github-hook-installation-target-id", b"79929171"),
    (b"x-github-hook-installation-target-type", b"repository"),
    (b"x-hub-signature", b"sha1=261fb51eab08503adb04f0d88d66ca1eaf546eef"),
    (
        b"x-hub-signature-256",
        b"sha256=5b972ccb45e9e745df2e4f5c77bb3ccbe40a582690cc1b3bfff00b576063a5f4",
    ),
]


def test_build_message_matches_upstream_push_example_exactly() -> None:
    message = build_message(relay_headers(PUSH_HEADERS), PUSH_BODY, {}, 1718000000123)
    expected = (
        '{"accept":"*/*","bodyB":"' + base64.b64encode(PUSH_BODY).decode() + '",'
        '"content-length":"176","content-type":"application/json",'
        '"timestamp":"1718000000123","user-agent":"GitHub-Hookshot/5f4c3e1",'
        '"x-github-delivery":"72d3162e-cc78-11e3-81ab-4c9367dc0958",'
        '"x-github-event":"push","x-github-hook-id":"292430182",'
        '"x-github-hook-installation-target-id":"79929171",'
        '"x-github-hook-installation-target-type":"repository",'
        '"x-hub-signature":"sha1=261fb51eab08503adb04f0d88d66ca1eaf546eef",'
        '"x-hub-signature-256":"sha256=5b972ccb45e9e745df2e4f5c77bb3ccbe40a582690cc1b3bfff00b576063a5f4"}'
    )
    assert message.decode() == expected


def test_relay_headers_drops_hop_by_hop_and_joins_repeats() -> None:
    headers = relay_headers(
        [
            (b"Connection", b"keep-alive"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Host", b"example"),
            (b"X-Multi", b"a"),
            (b"x-multi", b"b"),
        ]
    )
    assert headers == {"x-multi": "a, b"}


def test_build_message_escapes_like_go_and_keeps_utf8() -> None:
    headers = {"x-note": "<a & b> caf\u00e9 \u2028"}
    message = build_message(headers, b"", {}, 1)
    assert b'"x-note":"\\u003ca \\u0026 b\\u003e caf\xc3\xa9 \\u2028"' in message
    assert json.loads(message)["x-note"] == headers["x-note"]


def test_build_message_reserved_keys_cannot_be_replaced_by_headers() -> None:
    headers = {"timestamp": "evil", "query": "evil", "bodyB": "evil", "bodyb": "x"}
    fields = json.loads(build_message(headers, b"real", {"q": ["1"]}, 42))
    assert fields["timestamp"] == "42"
    assert fields["query"] == {"q": ["1"]}
    assert base64.b64decode(fields["bodyB"]) == b"real"
    assert fields["bodyb"] == "x"


def test_build_message_body_is_exact_bytes_for_any_content() -> None:
    body = bytes(range(256))
    fields = json.loads(
        build_message({"content-type": "application/octet-stream"}, body, {}, 1)
    )
    assert base64.b64decode(fields["bodyB"]) == body


def test_build_message_omits_query_when_absent() -> None:
    assert "query" not in json.loads(build_message({"a": "b"}, b"", {}, 1))


def test_parse_query_keeps_repeated_keys_in_order_and_blanks() -> None:
    assert parse_query(b"a=1&b=&a=2&c&d=%C3%A9") == {
        "a": ["1", "2"],
        "b": [""],
        "c": [""],
        "d": ["\u00e9"],
    }


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [0],
        [1],
        [2],
        [3],
        [1, 1, 1],
        [5, 7, 0, 11],
        [65536, 65536, 17],
        [2, 2, 2, 2],
    ],
)
def test_base64_of_chunks_equals_base64_of_whole_and_empties_input(
    sizes: list[int],
) -> None:
    chunks = [os.urandom(n) for n in sizes]
    whole = b"".join(chunks)
    pieces = encode_base64_chunks(chunks)
    assert b"".join(pieces) == base64.b64encode(whole)
    assert chunks == []


def test_build_event_frame_is_one_sse_event_holding_the_message() -> None:
    body = os.urandom(100_000)
    event = build_event(
        "channel-abcdef",
        (17, 3),
        PUSH_HEADERS,
        b"a=1&a=2",
        [body[:30_001], body[30_001:]],
        1718000000123,
    )
    expected_message = build_message(
        relay_headers(PUSH_HEADERS), body, {"a": ["1", "2"]}, 1718000000123
    )
    assert event.frame == b"id: 17-3\ndata: " + expected_message + b"\n\n"
    assert event.body_size == 100_000
    assert event.event_type == "push"
    assert event.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_query_keeps_the_senders_name_order() -> None:
    message = build_message({}, b"", {"z": ["1"], "a": ["2", "3"]}, 1)
    assert b'"query":{"z":["1"],"a":["2","3"]}' in message


def test_headers_named_in_connection_and_expect_are_not_relayed() -> None:
    headers = relay_headers(
        [
            (b"connection", b"keep-alive, X-Hop"),
            (b"x-hop", b"secret"),
            (b"expect", b"100-continue"),
            (b"x-keep", b"1"),
        ]
    )
    assert headers == {"x-keep": "1"}
