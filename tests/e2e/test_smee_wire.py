"""The smee.io wire on GET /{channel}, read raw and by our own client."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse

from gosmee_trio.server.serve import Server
from tests.e2e.test_relay import start_client
from tests.helpers import RecordingTarget


@pytest.fixture
def server(server_in_each_mode: Server) -> Server:
    """Every test here runs against the in-memory broker and against Redis."""
    return server_in_each_mode


CHANNEL = "smee-wire-chan1"
STREAM = {"Accept": "text/event-stream"}


async def _read(
    http: httpx.AsyncClient, url: str, count: int, headers: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    async with aconnect_sse(http, "GET", url, headers=headers or {}) as source:
        assert source.response.headers["content-type"] == "text/event-stream"
        async for sse in source.aiter_sse():
            seen.append((sse.event, sse.id, sse.data))
            if len(seen) == count:
                break
    return seen


async def test_smee_stream_frames(http: httpx.AsyncClient, server_url: str) -> None:
    results: list[tuple[str, str, str]] = []

    async def listen() -> None:
        results.extend(await _read(http, f"{server_url}/{CHANNEL}", 3))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            await trio.testing.wait_all_tasks_blocked(0.05)
            reply = await http.post(
                f"{server_url}/{CHANNEL}?foo=bar&rep=1&rep=2",
                content='{"title":"café"}'.encode(),
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "issues",
                    "Body": "not the body",
                    "Timestamp": "not the time",
                    "Query": "not the query",
                    "Connection": "keep-alive",
                },
            )
            assert reply.status_code == 202
    (ready, ping_or_event, *rest) = results
    assert ready[0] == "ready" and ready[2] == "{}"
    events = [e for e in [ping_or_event, *rest] if e[0] == "message"]
    event, stream_id, data = events[0]
    assert stream_id == reply.json()["stream_id"]
    message = json.loads(data)
    assert list(message)[-3:] == ["body", "query", "timestamp"]
    assert message["body"] == {"title": "café"}
    assert message["query"] == {"foo": "bar", "rep": ["1", "2"]}
    assert isinstance(message["timestamp"], int)
    assert message["x-github-event"] == "issues"
    assert "connection" not in message and "host" not in message
    # A header named like a reserved key is dropped, not sent a second time.
    assert "not the" not in data


async def test_smee_keepalive_is_a_named_ping(
    http: httpx.AsyncClient, server_url: str
) -> None:
    with trio.fail_after(10):
        frames = await _read(http, f"{server_url}/{CHANNEL}", 2)
    assert [(event, data) for event, _, data in frames] == [
        ("ready", "{}"),
        ("ping", "{}"),
    ]


async def test_smee_path_resumes_from_last_event_id(
    http: httpx.AsyncClient, server_url: str
) -> None:
    ids = [
        (await http.post(f"{server_url}/{CHANNEL}", content=b"%d" % n)).json()[
            "stream_id"
        ]
        for n in range(3)
    ]
    with trio.fail_after(10):
        frames = await _read(
            http, f"{server_url}/{CHANNEL}", 3, headers={"Last-Event-ID": ids[0]}
        )
    assert [f[1] for f in frames[1:]] == ids[1:]
    assert [json.loads(f[2])["body"] for f in frames[1:]] == ["1", "2"]


async def test_page_is_still_served_to_browsers(
    http: httpx.AsyncClient, server_url: str
) -> None:
    page = await http.get(f"{server_url}/{CHANNEL}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "accept", "status"),
    [
        ("HEAD", "*/*", 307),
        ("GET", "text/html,application/xhtml+xml", 307),
        ("GET", "*/*", 200),
    ],
)
async def test_new_answers_smee_clients_browsers_and_curl(
    http: httpx.AsyncClient, server_url: str, method: str, accept: str, status: int
) -> None:
    reply = await http.request(method, f"{server_url}/new", headers={"Accept": accept})
    assert reply.status_code == status
    assert reply.headers["location"].startswith(f"{server_url}/")
    if status == 200:
        assert reply.text == reply.headers["location"] + "\n"


async def test_our_client_reads_the_smee_wire(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server: Server,
    server_url: str,
    target: RecordingTarget,
) -> None:
    await start_client(
        nursery,
        f"{server_url}/{CHANNEL}",
        f"{target.url}/hook?token=abc",
        smee_stream=True,
    )
    body = {"action": "opened", "issue": {"title": "café — ✓"}}
    await http.post(
        f"{server_url}/{CHANNEL}?foo=bar&rep=1&rep=2",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-GitHub-Event": "issues"},
    )
    with trio.fail_after(10):
        got = await target.next()
    assert json.loads(got.body) == body
    assert got.header("x-github-event") == "issues"
    # The relayed query goes after the target's own, repeated names in order.
    assert got.query == b"token=abc&foo=bar&rep=1&rep=2"
    assert got.header("content-type") == "application/json"
