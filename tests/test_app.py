"""The server's HTTP surface, against the real server on a loopback port."""

from __future__ import annotations

import base64
import re

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse

from gosmee_trio import __version__
from gosmee_trio.server.serve import Server
from tests.helpers import message_of, read_events

CHANNEL = "aBcDeFgHiJkL"


async def test_webhook_gets_202_json_with_stream_id(
    http: httpx.AsyncClient, server_url: str
) -> None:
    reply = await http.post(f"{server_url}/{CHANNEL}", content=b"<xml/>")
    assert reply.status_code == 202
    assert reply.headers["x-gosmee-version"] == __version__
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["channel"] == CHANNEL
    assert body["message"] == "ok"
    assert body["status"] == 202
    assert body["version"] == __version__
    assert re.fullmatch(r"\d+-\d+", body["stream_id"])
    assert reply.text.endswith("}\n")


@pytest.mark.parametrize(
    "channel",
    [
        pytest.param("short", id="too-short"),
        pytest.param("a" * 65, id="too-long"),
        pytest.param("bad.channel.id", id="bad-chars"),
        pytest.param("caf%C3%A9caf%C3%A9caf", id="non-ascii"),
    ],
)
@pytest.mark.parametrize(
    ("method", "prefix"),
    [("POST", ""), ("GET", ""), ("GET", "events/")],
)
async def test_bad_channel_ids_are_404_everywhere(
    http: httpx.AsyncClient, server_url: str, channel: str, method: str, prefix: str
) -> None:
    reply = await http.request(method, f"{server_url}/{prefix}{channel}", content=b"{}")
    assert reply.status_code == 404
    assert reply.text == "404 page not found\n"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


async def test_channel_of_64_chars_is_accepted(
    http: httpx.AsyncClient, server_url: str
) -> None:
    assert (
        await http.post(f"{server_url}/{'a' * 64}", content=b"{}")
    ).status_code == 202


async def test_root_redirects_to_a_new_channel(
    http: httpx.AsyncClient, server_url: str
) -> None:
    reply = await http.get(f"{server_url}/")
    assert reply.status_code == 302
    assert re.fullmatch(
        re.escape(server_url) + r"/[A-Za-z]{12}", reply.headers["location"]
    )


async def test_new_gives_a_fresh_channel_url(
    http: httpx.AsyncClient, server_url: str
) -> None:
    first, second = (
        await http.get(f"{server_url}/new"),
        await http.get(f"{server_url}/new"),
    )
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(re.escape(server_url) + r"/[A-Za-z]{12}\n", first.text)
    assert first.text != second.text


@pytest.mark.parametrize("path", ["/version", "/health", "/livez"])
async def test_version_probes(
    http: httpx.AsyncClient, server_url: str, path: str
) -> None:
    reply = await http.get(server_url + path)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-gosmee-version"] == __version__
    assert reply.text == f'{{"version":"{__version__}"}}\n'


async def test_favicon_and_channel_page(
    http: httpx.AsyncClient, server_url: str
) -> None:
    icon = await http.get(f"{server_url}/favicon.ico")
    assert icon.headers["content-type"] == "image/svg+xml"
    page = await http.get(f"{server_url}/{CHANNEL}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"{server_url}/{CHANNEL}" in page.text
    assert f"/events/{CHANNEL}" in page.text


async def test_wrong_method_is_405(http: httpx.AsyncClient, server_url: str) -> None:
    reply = await http.put(f"{server_url}/{CHANNEL}")
    assert reply.status_code == 405
    assert "GET" in reply.headers["allow"]


async def test_stream_headers_and_control_frames(
    http: httpx.AsyncClient, server_url: str
) -> None:
    async with http.stream("GET", f"{server_url}/events/{CHANNEL}") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        assert stream.headers["access-control-allow-origin"] == "*"
        seen = b""
        with trio.fail_after(5):
            async for chunk in stream.aiter_bytes():
                seen += chunk
                if b": keepalive\n\n" in seen:
                    break
    assert re.match(
        rb'data: {"message":"connected"}\n\nid: \d+-\d+\ndata: {"message":"ready"}\n\n',
        seen,
    )


async def test_stream_delivers_posted_webhook(
    http: httpx.AsyncClient, server_url: str
) -> None:
    async with trio.open_nursery() as nursery:
        results: list[tuple[str, str, str]] = []

        async def subscribe() -> None:
            results.extend(await read_events(http, f"{server_url}/events/{CHANNEL}", 1))

        nursery.start_soon(subscribe)
        await trio.testing.wait_all_tasks_blocked(0.05)
        await http.post(
            f"{server_url}/{CHANNEL}?a=1&a=2",
            content=b'{"x":1}',
            headers={"X-GitHub-Event": "push", "Content-Type": "application/json"},
        )
    [(event, sid, data)] = results
    message = message_of(data)
    assert event == "message"
    assert re.fullmatch(r"\d+-\d+", sid)
    assert base64.b64decode(message["bodyB"]) == b'{"x":1}'
    assert message["x-github-event"] == "push"
    assert message["query"] == {"a": ["1", "2"]}
    assert message["timestamp"].isdigit()


async def test_last_event_id_replays_exactly_the_missed_events(
    http: httpx.AsyncClient, server_url: str
) -> None:
    ids = []
    for n in range(5):
        reply = await http.post(f"{server_url}/{CHANNEL}", content=str(n).encode())
        ids.append(reply.json()["stream_id"])
    url = f"{server_url}/events/{CHANNEL}"
    with trio.fail_after(5):
        got = await read_events(http, url, 3, headers={"Last-Event-ID": ids[1]})
    assert [sid for _, sid, _ in got] == ids[2:]
    assert [base64.b64decode(message_of(d)["bodyB"]) for _, _, d in got] == [
        b"2",
        b"3",
        b"4",
    ]


@pytest.mark.parametrize(
    "value", [b"abc", b"1-", b"-1", b"1-2-3", "\u0661-\u0662".encode()]
)
async def test_malformed_last_event_id_is_400(
    http: httpx.AsyncClient, server_url: str, value: bytes
) -> None:
    reply = await http.get(
        f"{server_url}/events/{CHANNEL}", headers={b"Last-Event-ID": value}
    )
    assert reply.status_code == 400
    assert reply.text == "invalid Last-Event-ID\n"


async def test_oversized_body_is_413_and_connection_stays_usable(
    server: Server,
) -> None:
    port = int(server.state.public_url.rsplit(":", 1)[1])
    body = b"x" * (26 * 1024 * 1024 + 1024 * 1024)  # 27 MiB against a 25 MiB cap
    head = b"POST /%s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (
        CHANNEL.encode(),
        len(body),
    )
    follow_up = (
        b"POST /%s HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
        % CHANNEL.encode()
    )
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = b""
    with trio.fail_after(30):
        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(stream.send_all, head + body + follow_up)
            while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(b"}\n"):
                chunk = await stream.receive_some()
                assert chunk, f"connection closed after {received[:200]!r}"
                received += chunk
    first, second = received.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"413 ")
    assert first.endswith(b"request body too large\n")
    assert second.startswith(b"202 ")
    assert server.broker.statistics().published == 1


async def test_far_oversized_declared_body_is_refused_at_once(server: Server) -> None:
    port = int(server.state.public_url.rsplit(":", 1)[1])
    head = b"POST /%s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (
        CHANNEL.encode(),
        10**10,
    )
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = b""
    with trio.fail_after(10):
        async with stream:
            await stream.send_all(head)
            while chunk := await stream.receive_some():
                received += chunk
    assert received.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nconnection: close\r\n" in received.lower()


async def test_subscribe_disconnect_cycles_leave_no_subscriber(
    http: httpx.AsyncClient, server: Server, server_url: str
) -> None:
    url = f"{server_url}/events/{CHANNEL}"
    with trio.fail_after(30):
        for _ in range(200):
            async with aconnect_sse(http, "GET", url) as source:
                async for sse in source.aiter_sse():
                    if "ready" in sse.data:
                        break
        while server.broker.statistics().subscribers:
            await trio.testing.wait_all_tasks_blocked(0.01)
    assert server.broker.statistics().subscribers == {}


async def test_last_event_id_query_parameter_resumes_too(
    http: httpx.AsyncClient, server_url: str
) -> None:
    ids = [
        (await http.post(f"{server_url}/{CHANNEL}", content=b"%d" % n)).json()[
            "stream_id"
        ]
        for n in range(3)
    ]
    with trio.fail_after(5):
        got = await read_events(
            http, f"{server_url}/events/{CHANNEL}?last_event_id={ids[0]}", 2
        )
    assert [sid for _, sid, _ in got] == ids[1:]
    bad = await http.get(f"{server_url}/events/{CHANNEL}?last_event_id=nope")
    assert (bad.status_code, bad.text) == (400, "invalid Last-Event-ID\n")
