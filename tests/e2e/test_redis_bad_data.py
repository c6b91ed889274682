"""Redis mode against data it did not write and ids it cannot hold: one channel's
problem never reaches another, and nothing is skipped without a gap event."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.serve import Server
from gosmee_trio.wire import build_message, relay_headers
from tests.e2e.test_relay import start_client
from tests.helpers import RecordingTarget, read_events
from tests.redis_server import RedisServer

STREAM = {"Accept": "text/event-stream"}


async def _post(http: httpx.AsyncClient, url: str, body: bytes) -> str:
    reply = await http.post(url, content=body, headers={"content-type": "text/plain"})
    assert reply.status_code == 202, reply.text
    stream_id: str = reply.json()["stream_id"]
    return stream_id


async def test_junk_entries_do_not_stop_the_smee_wire(
    redis_server: RedisServer, redis_relay: Server, http: httpx.AsyncClient
) -> None:
    url, channel = redis_relay.state.public_url, "junk-entries-channel"
    with trio.fail_after(20):
        first = await _post(http, f"{url}/{channel}", b"before")
        async with redis_server.client() as redis:
            for junk in (b"not json", b"\xff\xfe\x00x", b'{"bodyB":5}', b"[1]"):
                await redis.xadd(f"gosmee:stream:{channel}", {b"payload": junk})
        after = await _post(http, f"{url}/{channel}", b"after")
        frames = await read_events(
            http, f"{url}/{channel}", 2, headers={**STREAM, "Last-Event-ID": "0-0"}
        )
    # The ready frame, then the two good events: the junk is left out.
    good = [(sid, json.loads(data)["body"]) for _, sid, data in frames[1:]]
    assert frames[0][0] == "ready"
    assert good == [(first, "before")]
    with trio.fail_after(20):
        frames = await read_events(
            http, f"{url}/{channel}", 3, headers={**STREAM, "Last-Event-ID": "0-0"}
        )
    assert [(sid, json.loads(data)["body"]) for _, sid, data in frames[1:]] == [
        (first, "before"),
        (after, "after"),
    ]


async def test_a_key_turned_into_a_string_ends_only_its_channel(
    redis_server: RedisServer, redis_relay: Server, http: httpx.AsyncClient
) -> None:
    url = redis_relay.state.public_url
    broken, healthy = "turned-string-channel", "untouched-channel-1"
    await _post(http, f"{url}/{broken}", b"one")
    with trio.fail_after(30):
        async with (
            aconnect_sse(http, "GET", f"{url}/events/{broken}") as doomed,
            aconnect_sse(http, "GET", f"{url}/events/{healthy}") as kept,
        ):
            doomed_events = doomed.aiter_sse()
            kept_events = kept.aiter_sse()
            for events in (doomed_events, kept_events):  # connected, ready
                await anext(events)
                await anext(events)
            async with redis_server.client() as redis:
                await redis.delete([f"gosmee:stream:{broken}"])
                await redis.set(f"gosmee:stream:{broken}", "x")
            # The broken channel's stream ends, with no event after the ready
            # frame (httpx-sse reports each keepalive as an event without data)...
            assert {event.data async for event in doomed_events} <= {""}
            # ...the other carries on, and Redis is not reported down.
            live = await _post(http, f"{url}/{healthy}", b"still here")
            event = await anext(kept_events)
            while not event.data:  # keepalives
                event = await anext(kept_events)
            assert event.id == live
            health = await http.get(f"{url}/health")
    assert health.status_code == 200
    assert redis_relay.broker.problem == ""


@pytest.mark.parametrize(
    "last_id",
    ["18446744073709551616-0", "1-18446744073709551616", "99999999999999999999-0"],
)
async def test_ids_redis_cannot_hold_are_refused_with_400(
    redis_relay: Server, http: httpx.AsyncClient, last_id: str
) -> None:
    url, channel = redis_relay.state.public_url, "out-of-range-ids"
    with trio.fail_after(10):
        for path, headers in ((f"/events/{channel}", {}), (f"/{channel}", STREAM)):
            reply = await http.get(
                url + path, headers={**headers, "Last-Event-ID": last_id}
            )
            assert (reply.status_code, reply.text) == (400, "invalid Last-Event-ID\n")


async def test_the_largest_id_waits_for_nothing_quietly(
    redis_relay: Server, http: httpx.AsyncClient
) -> None:
    url, channel = redis_relay.state.public_url, "largest-id-channel"
    biggest = "18446744073709551615-18446744073709551615"
    with trio.fail_after(10):
        async with http.stream(
            "GET", f"{url}/events/{channel}", headers={"Last-Event-ID": biggest}
        ) as stream:
            assert stream.status_code == 200


async def test_lost_redis_data_is_announced_as_a_gap(
    redis_server: RedisServer, redis_relay: Server, http: httpx.AsyncClient
) -> None:
    url, channel = redis_relay.state.public_url, "flushed-data-channel"
    with trio.fail_after(20):
        seen = await _post(http, f"{url}/{channel}", b"seen")
        await _post(http, f"{url}/{channel}", b"missed")
        async with redis_server.client() as redis:
            await redis.flushall()  # as a restart without persistence would
        fresh = await _post(http, f"{url}/{channel}", b"fresh")
        events = await read_events(
            http, f"{url}/events/{channel}", 2, headers={"Last-Event-ID": seen}
        )
    (gap_event, _, gap_data), (_, fresh_id, _) = events
    assert gap_event == "gosmee-gap"
    assert json.loads(gap_data) == {
        "error": "missed_history",
        "requested_id": seen,
        "oldest_id": fresh,
    }
    assert fresh_id == fresh


async def test_a_client_with_no_event_yet_misses_nothing_across_a_reconnect(
    redis_server: RedisServer,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    target: RecordingTarget,
) -> None:
    config = ServerConfig(address="127.0.0.1", port=0, redis_url=redis_server.url)
    channel = "quiet-client-channel"
    async with trio.open_nursery() as first_life:
        base = await first_life.start(Server(config).run)
        await start_client(nursery, f"{base}/{channel}", f"{target.url}/hook")
        first_life.cancel_scope.cancel()  # the replica goes before any event
    again = Server(replace(config, port=int(base.rsplit(":", 1)[1])))
    with trio.fail_after(30):
        # Published (by another replica) while the client has no server at all.
        async with redis_server.client() as redis:
            message = build_message(relay_headers([]), b"while away", {}, 1)
            await redis.xadd(f"gosmee:stream:{channel}", {b"payload": message})
        await nursery.start(again.run)
        assert (await target.next()).body == b"while away"
