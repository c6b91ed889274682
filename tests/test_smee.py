"""The smee.io frame built from a gosmee frame, and frames it cannot be built from."""

from __future__ import annotations

import json
import logging

import pytest

from gosmee_trio.smee import smee_frame


def test_a_relay_message_becomes_smee_json() -> None:
    message = b'{"bodyB":"eyJhIjoxfQ==","content-type":"application/json",'
    gosmee = b"id: 5-0\ndata: " + message + b'"timestamp":"12"}\n\n'
    frame = smee_frame(gosmee, "5-0")
    assert frame.startswith(b"id: 5-0\ndata: ")
    data = json.loads(frame.split(b"data: ", 1)[1])
    assert data == {
        "content-type": "application/json",
        "body": {"a": 1},
        "query": {},
        "timestamp": 12,
    }


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe\x00x",
        b"[1]",
        b'{"bodyB":5}',
        b'{"bodyB":"!!"}',
        b'{"bodyB":"","timestamp":"soon"}',
        b'{"bodyB":"","query":[1]}',
        b"{}",
        b'{"body":{"a":1},"x-github-event":"push"}',
    ],
)
def test_a_frame_without_a_relay_message_is_left_out_and_logged(
    payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert smee_frame(b"id: 5-0\ndata: " + payload + b"\n\n", "5-0") == b""
    assert "smee wire cannot carry" in caplog.text
