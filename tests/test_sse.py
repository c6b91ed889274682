from __future__ import annotations

import httpx
import pytest
from httpx_sse import EventSource

from gosmee_trio.sse import KEEPALIVE_FRAME, encode_comment, encode_event


def _decode(stream: bytes) -> list[tuple[str, str, str]]:
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=stream
    )
    return [(e.event, e.id, e.data) for e in EventSource(response).iter_sse()]


@pytest.mark.parametrize(
    ("data", "kwargs", "expected"),
    [
        pytest.param(b"hello", {}, b"data: hello\n\n", id="plain"),
        pytest.param(
            b'{"a":1}',
            {"event_id": "1-0"},
            b'id: 1-0\ndata: {"a":1}\n\n',
            id="with-id",
        ),
        pytest.param(
            b"{}",
            {"event": "gosmee-gap"},
            b"event: gosmee-gap\ndata: {}\n\n",
            id="named",
        ),
        pytest.param(b"a\nb", {}, b"data: a\ndata: b\n\n", id="lf"),
        pytest.param(b"a\r\nb\rc", {}, b"data: a\ndata: b\ndata: c\n\n", id="crlf-cr"),
        pytest.param(b"", {}, b"data: \n\n", id="empty"),
    ],
)
def test_encode_event_matches_whatwg_framing(
    data: bytes, kwargs: dict[str, str], expected: bytes
) -> None:
    assert encode_event(data, **kwargs) == expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("one line", id="simple"),
        pytest.param("first\nsecond\n\nfourth", id="multi-line"),
        pytest.param("  leading spaces kept", id="spaces"),
        pytest.param("ünïcødé ✓ 🎉", id="unicode"),
        pytest.param("data: looks like a field", id="field-lookalike"),
    ],
)
def test_encode_event_round_trips_through_httpx_sse(data: str) -> None:
    stream = encode_event(data.encode(), event_id="5-1", event="message")
    assert _decode(stream) == [("message", "5-1", data)]


def test_comment_and_keepalive_are_ignored_by_decoders() -> None:
    stream = encode_comment("hi") + KEEPALIVE_FRAME + encode_event(b"x")
    assert [d for _, _, d in _decode(stream)] == ["x"]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb"])
def test_encode_event_rejects_multiline_id(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^SSE id must be one line, got "):
        encode_event(b"x", event_id=bad)


def test_encode_comment_rejects_newline() -> None:
    with pytest.raises(ValueError, match=r"^SSE comment must be one line"):
        encode_comment("a\nb")
