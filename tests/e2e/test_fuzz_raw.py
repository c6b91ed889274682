"""Raw-socket abuse of the live server, one named case at a time.

Each case sends exact bytes (see rawhttp.py) that a well-behaved client library would
never produce: bodies cut short, broken chunked framing, bad or conflicting
Content-Length, header blocks past hypercorn's 16 KiB limit, clients that crawl or
say nothing, HTTP/1.0, pipelining, request smuggling, a 10 KB path. Each checks that
the sender gets a 4xx or a clean close (never a 5xx), that nothing it sent is
published, that other clients are served meanwhile, and that the server logs no
ERROR and no traceback. Tests that fail because of a server fault are marked
``xfail(strict=True)`` with the fault in the reason: fix it, then drop the marker.
"""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from gosmee_trio import __version__
from gosmee_trio.server.serve import Server
from tests.e2e.rawhttp import (
    Answer,
    NoAnswer,
    ResponseReader,
    assert_server_calm,
    exchange,
    get,
    one_exchange,
    open_connection,
    port_of,
    post,
    request_bytes,
    send_quietly,
)

# One exchange on loopback takes milliseconds; 10 s means the server hung.
EXAMPLE_TIMEOUT = 10.0
# hypercorn's keep_alive_timeout is 5 s; an idle or crawling connection must be gone
# well within three times that.
IDLE_CLOSE_LIMIT = 15.0
# Another client's requests, made while a slow client holds its connection.
PEER_TIMEOUT = 5.0
CHANNEL = b"abuse-channel-0001"
OTHER_CHANNEL = b"abuse-channel-0002"
VERSION_BODY = b'{"version":"%s"}\n' % __version__.encode()


@pytest.fixture(autouse=True)
def _capture_warnings(caplog: pytest.LogCaptureFixture) -> None:
    # Whatever an earlier test did to the root logger, ERRORs must reach caplog.
    caplog.set_level(logging.WARNING)


async def _serve_peers(http: httpx.AsyncClient, base_url: str) -> None:
    """Another client's webhook and probe succeed, promptly."""
    with trio.fail_after(PEER_TIMEOUT):
        posted = await http.post(f"{base_url}/peer-channel-0001", content=b"{}")
        version = await http.get(f"{base_url}/version")
    assert (posted.status_code, version.status_code) == (202, 200)


def _published(server: Server) -> int:
    return server.broker.statistics().published


async def test_truncated_body_then_half_close_is_refused_unpublished(
    server: Server,
    server_url: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _published(server)
    head = request_bytes(
        b"POST", b"/" + CHANNEL, [(b"Host", b"x"), (b"Content-Length", b"100")]
    )
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            await stream.send_all(head + b"only ten b")
            await stream.send_eof()
            answer = await ResponseReader(stream).next_answer(b"POST")

    assert answer is NoAnswer.CLOSED or (
        isinstance(answer, Answer) and answer.status == 400 and answer.closes
    ), answer
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)
    assert _published(server) == before + 1  # the peer's webhook only


async def test_truncated_body_then_hang_up_is_unpublished(
    server: Server,
    server_url: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _published(server)
    head = request_bytes(
        b"POST", b"/" + CHANNEL, [(b"Host", b"x"), (b"Content-Length", b"100")]
    )
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            await stream.send_all(head + b"only ten b")

    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)
    assert _published(server) == before + 1


def _chunked_post(chunks: bytes) -> bytes:
    headers = [(b"Host", b"x"), (b"Transfer-Encoding", b"chunked")]
    return request_bytes(b"POST", b"/" + CHANNEL, headers, chunks)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(b"zz\r\nabc\r\n0\r\n\r\n", id="not-hex"),
        pytest.param(b"-5\r\nhello\r\n0\r\n\r\n", id="negative"),
        pytest.param(b"3\r\nhello\r\n0\r\n\r\n", id="size-too-small"),
        pytest.param(b"ffffffffffffffffffffff\r\nx\r\n", id="size-overflow"),
        pytest.param(b"5 5\r\nhello\r\n0\r\n\r\n", id="two-sizes"),
    ],
)
async def test_invalid_chunk_is_refused_and_unpublished(
    server: Server,
    server_url: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    chunks: bytes,
) -> None:
    before = _published(server)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            await stream.send_all(_chunked_post(chunks))
            reader = ResponseReader(stream)
            answers, end = await reader.answers_until_end(b"POST", limit=3)

    assert [a.status for a in answers] == [400], answers
    assert answers[0].closes and end is NoAnswer.CLOSED
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)
    assert _published(server) == before + 1


@pytest.mark.parametrize(
    ("lengths", "statuses"),
    [
        pytest.param([b"-1"], {400}, id="negative"),
        pytest.param([b"ten"], {400}, id="not-a-number"),
        pytest.param([b"+3"], {400}, id="plus-sign"),
        pytest.param([b"0x3"], {400}, id="hex"),
        pytest.param([b"3", b"4"], {400}, id="two-that-differ"),
        pytest.param([b"3, 4"], {400}, id="list-that-differs"),
        pytest.param([b"9" * 30], {400}, id="thirty-digits"),
        # Declared far past the cap: refused before any of it is read.
        pytest.param([b"9" * 19], {413}, id="nineteen-digits"),
    ],
)
async def test_bad_content_length_is_refused_and_unpublished(
    server: Server,
    server_url: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    lengths: list[bytes],
    statuses: set[int],
) -> None:
    before = _published(server)
    headers = [(b"Host", b"x")] + [(b"Content-Length", n) for n in lengths]
    data = request_bytes(b"POST", b"/" + CHANNEL, headers, b"abcd")
    with trio.fail_after(EXAMPLE_TIMEOUT):
        answer = await one_exchange(port_of(server_url), data, b"POST")

    assert isinstance(answer, Answer) and answer.status in statuses, answer
    assert answer.closes
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)
    assert _published(server) == before + 1


async def test_repeated_equal_content_length_is_one_webhook(
    server: Server, server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # RFC 9110 §8.6: a list of identical lengths may be taken as that one length.
    before = _published(server)
    lengths = [(b"Content-Length", b"3"), (b"Content-Length", b"3")]
    data = request_bytes(b"POST", b"/" + CHANNEL, [(b"Host", b"x"), *lengths], b"abc")
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            reader = ResponseReader(stream)
            first = await exchange(stream, reader, data + get(b"/version"), b"POST")
            second = await reader.next_answer(b"GET")

    assert isinstance(first, Answer) and first.status == 202, first
    assert isinstance(second, Answer) and second.body == VERSION_BODY, second
    await assert_server_calm(caplog)
    assert _published(server) == before + 1


async def test_huge_header_block_is_refused_and_others_are_served(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # 1 MiB of headers: far past hypercorn's 16 KiB, read 64 KiB at a time.
    filler = [(b"X-Filler-%d" % i, b"v" * 1000) for i in range(1024)]
    data = get(b"/version", *filler)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        answer = await one_exchange(port_of(server_url), data, b"GET")

    # The server hangs up on the rest of the megabyte: the 431 may be lost to a reset.
    if isinstance(answer, Answer):
        assert answer.status == 431 and answer.closes, answer
    else:
        assert answer in (NoAnswer.CLOSED, NoAnswer.RESET)
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)


async def test_header_block_just_past_16k_is_answered(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Whether 17 KiB arrives in one read (then h11 takes it) or in two (431) is up to
    # TCP; either way it is a whole answer, never a 5xx.
    filler = [(b"X-Filler-%d" % i, b"v" * 1000) for i in range(17)]
    with trio.fail_after(EXAMPLE_TIMEOUT):
        answer = await one_exchange(
            port_of(server_url), get(b"/version", *filler), b"GET"
        )

    assert isinstance(answer, Answer) and answer.status in (200, 431), answer
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)


async def test_idle_connection_is_closed_while_others_are_served(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(IDLE_CLOSE_LIMIT):
        idle = await open_connection(port_of(server_url))
        async with idle:
            await _serve_peers(http, server_url)
            end = await ResponseReader(idle).next_answer(b"GET")

    assert end in (NoAnswer.CLOSED, NoAnswer.RESET), end
    await assert_server_calm(caplog)


async def _crawl(stream: trio.SocketStream, data: bytes) -> None:
    for byte in data:
        if not await send_quietly(stream, bytes([byte])):
            return
        # The pace of the slow client under test, not synchronisation.
        await trio.sleep(1)


async def test_crawling_request_head_is_closed_while_others_are_served(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # At one byte a second this head would take over a minute to arrive.
    head = b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 60
    with trio.fail_after(IDLE_CLOSE_LIMIT):
        stream = await open_connection(port_of(server_url))
        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(_crawl, stream, head)
            await _serve_peers(http, server_url)
            end = await ResponseReader(stream).next_answer(b"GET")
            nursery.cancel_scope.cancel()

    # A 408 would be polite; hypercorn just closes. Never a 5xx, never a 200.
    if isinstance(end, Answer):
        assert end.status == 408, end
    else:
        assert end in (NoAnswer.CLOSED, NoAnswer.RESET), end
    await _serve_peers(http, server_url)
    await assert_server_calm(caplog)


@pytest.mark.parametrize(
    ("data", "method", "status"),
    [
        pytest.param(b"GET /version HTTP/1.0\r\n\r\n", b"GET", 200, id="get"),
        pytest.param(
            b"POST /" + CHANNEL + b" HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
            b"POST",
            202,
            id="post",
        ),
        pytest.param(
            b"GET /events/short HTTP/1.0\r\n\r\n", b"GET", 404, id="stream-404"
        ),
    ],
)
async def test_http10_request_is_answered_then_closed(
    server_url: str,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    method: bytes,
    status: int,
) -> None:
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            reader = ResponseReader(stream)
            answer = await exchange(stream, reader, data, method)
            end = await reader.next_answer(b"GET")

    assert isinstance(answer, Answer) and answer.status == status, answer
    assert end is NoAnswer.CLOSED
    await assert_server_calm(caplog)


async def test_pipelined_requests_are_answered_in_order(
    server: Server, server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = _published(server)
    requests = [
        (b"GET", get(b"/version")),
        (b"POST", post(b"/" + CHANNEL, b"first")),
        (b"GET", get(b"/events/short")),
        (b"HEAD", request_bytes(b"HEAD", b"/version", [(b"Host", b"x")])),
        (b"POST", post(b"/" + CHANNEL, b"second")),
        (b"OPTIONS", request_bytes(b"OPTIONS", b"/new", [(b"Host", b"x")])),
        (b"GET", get(b"/version", (b"Connection", b"close"))),
    ]
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            await stream.send_all(b"".join(data for _, data in requests))
            reader = ResponseReader(stream)
            answers = [await reader.next_answer(method) for method, _ in requests]
            end = await reader.next_answer(b"GET")

    statuses = [a.status if isinstance(a, Answer) else a for a in answers]
    assert statuses == [200, 202, 404, 200, 202, 200, 200]
    assert end is NoAnswer.CLOSED
    await assert_server_calm(caplog)
    assert _published(server) == before + 2


def _smuggling(order: str) -> bytes:
    smuggled = post(b"/" + OTHER_CHANNEL, b"smuggled")
    body = b"0\r\n\r\n" + smuggled
    length = (b"Content-Length", str(len(body)).encode())
    coding = (b"Transfer-Encoding", b"chunked")
    framing = [length, coding] if order == "cl-te" else [coding, length]
    return request_bytes(b"POST", b"/" + CHANNEL, [(b"Host", b"x"), *framing], body)


# Not strict: the hot path now refuses such a request with 400 and closes, but
# whether hypercorn has already read the smuggled bytes as a pipelined request by
# then depends on timing, so this passes on some runs and fails on others.
@pytest.mark.xfail(
    strict=False,
    reason="fault (partly fixed, timing-dependent): a request with both "
    "Content-Length and Transfer-Encoding is taken "
    "by its chunked framing and the connection kept open, so the bytes past the "
    "empty chunk are served as a second request (RFC 9112 §6.1: MUST close)",
)
@pytest.mark.parametrize("order", ["cl-te", "te-cl"])
async def test_request_smuggling_is_one_request_at_most(
    server: Server, server_url: str, caplog: pytest.LogCaptureFixture, order: str
) -> None:
    before = _published(server)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            reader = ResponseReader(stream)
            first = await exchange(stream, reader, _smuggling(order), b"POST")
            # Refused (4xx) or served once; either way the connection must end here.
            with trio.fail_after(IDLE_CLOSE_LIMIT):
                second = await reader.next_answer(b"POST")

    assert isinstance(first, Answer) and first.status in (202, 400), first
    assert second in (NoAnswer.CLOSED, NoAnswer.RESET), f"second answer: {second}"
    await assert_server_calm(caplog)
    assert _published(server) <= before + 1


@pytest.mark.parametrize(
    ("method", "prefix", "accept"),
    [
        pytest.param(b"GET", b"/", b"text/html", id="page"),
        pytest.param(b"GET", b"/", b"text/event-stream", id="smee-stream"),
        pytest.param(b"POST", b"/", b"*/*", id="webhook"),
        pytest.param(b"POST", b"/replay/", b"*/*", id="replay"),
        pytest.param(b"GET", b"/events/", b"*/*", id="stream"),
        pytest.param(b"HEAD", b"/events/", b"*/*", id="stream-head"),
    ],
)
async def test_ten_kilobyte_path_is_404_and_connection_stays_usable(
    server_url: str,
    caplog: pytest.LogCaptureFixture,
    method: bytes,
    prefix: bytes,
    accept: bytes,
) -> None:
    headers = [(b"Host", b"x"), (b"Accept", accept), (b"Content-Length", b"0")]
    data = request_bytes(method, prefix + b"a" * 10_240, headers)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        stream = await open_connection(port_of(server_url))
        async with stream:
            reader = ResponseReader(stream)
            answer = await exchange(stream, reader, data, method)
            follow = await exchange(stream, reader, get(b"/version"), b"GET")

    assert isinstance(answer, Answer) and answer.status == 404, answer
    assert isinstance(follow, Answer) and follow.body == VERSION_BODY, follow
    await assert_server_calm(caplog)
