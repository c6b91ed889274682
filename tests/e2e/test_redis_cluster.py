"""Several server processes on one Redis: any replica serves any channel, with the
same stream ids, and a client survives losing its replica."""

from __future__ import annotations

import base64
import json

import httpx
import trio

from gosmee_trio.server.redis_entries import text_of
from tests.e2e.balancer import Balancer
from tests.e2e.redis_relays import (
    post,
    start_client,
    start_servers,
    stop,
    subscribe,
    take,
)
from tests.helpers import RecordingTarget, message_of
from tests.redis_server import RedisServer

CHANNEL = "redis-cluster-chan"
# Events in the burst, and how many the target has when replica B is killed: far
# enough in that B was streaming, early enough that most of the burst comes after.
BURST = 50
KILL_AFTER = 10


async def test_webhook_posted_to_one_replica_reaches_both_wires_on_another(
    nursery: trio.Nursery, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    body = b'{"action":"opened","n":1}'
    with trio.fail_after(30):
        a, b = await start_servers(nursery, redis_server.url, 2)
        on_a = await nursery.start(subscribe, http, f"{a.url}/events/{CHANNEL}")
        on_b = await nursery.start(subscribe, http, f"{b.url}/events/{CHANNEL}")
        smee_on_b = await nursery.start(
            subscribe, http, f"{b.url}/{CHANNEL}", {"Accept": "text/event-stream"}
        )
        reply = await http.post(
            f"{a.url}/{CHANNEL}",
            content=body,
            headers={"Content-Type": "application/json", "X-GitHub-Event": "push"},
        )
        assert reply.status_code == 202
        stream_id = reply.json()["stream_id"]
        (from_a,) = await take(on_a, 1)
        (from_b,) = await take(on_b, 1)
        (smee,) = await take(smee_on_b, 1)
        async with redis_server.client() as redis:
            stored = await redis.xrange(f"gosmee:stream:{CHANNEL}")

    assert [text_of(entry.identifier) for entry in stored] == [stream_id]
    assert from_a == from_b
    assert from_b[1] == stream_id
    assert base64.b64decode(message_of(from_b[2])["bodyB"]) == body
    event, smee_id, data = smee
    assert (event, smee_id) == ("message", stream_id)
    message = json.loads(data)
    assert message["body"] == {"action": "opened", "n": 1}
    assert message["x-github-event"] == "push"


async def test_client_survives_its_replica_killed_mid_burst(
    nursery: trio.Nursery, redis_server: RedisServer
) -> None:
    target = RecordingTarget()
    with trio.fail_after(40):
        await nursery.start(target.run)
        a, b = await start_servers(nursery, redis_server.url, 2)
        balancer = Balancer([b.port, a.port])
        await nursery.start(balancer.run)
        client = await start_client(
            nursery, f"http://127.0.0.1:{balancer.port}/{CHANNEL}", f"{target.url}/x"
        )
        assert balancer.routes == [b.port]

        posted: list[bytes] = []
        posted_at_kill = -1

        async def post_burst() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                for n in range(BURST):
                    await post(http, f"{a.url}/{CHANNEL}", b"%d" % n)
                    posted.append(b"%d" % n)

        received: list[bytes] = []
        async with trio.open_nursery() as burst:
            burst.start_soon(post_burst)
            while len(received) < BURST:
                received.append((await target.next()).body)
                if len(received) == KILL_AFTER:
                    b.running.process.kill()  # SIGKILL: no goodbye to anyone
                    posted_at_kill = len(posted)
        # Anything the client sends after the burst but before this marker would be
        # a duplicate; the marker arriving next proves there is none.
        async with httpx.AsyncClient(timeout=10) as http:
            await post(http, f"{a.url}/{CHANNEL}", b"end")
        received.append((await target.next()).body)
        await b.running.process.wait()
        await stop(client)
        await stop(a.running)

    # The client resumes by Last-Event-ID strictly after the last event it handed
    # on, so at-least-once is in fact exactly once here: every event, in order.
    assert received == [b"%d" % n for n in range(BURST)] + [b"end"]
    assert KILL_AFTER <= posted_at_kill < BURST, "B must die while the burst runs"
    assert balancer.routes == [b.port, a.port]
    assert client.stderr.text.count(b"stream ready") == 2


async def test_last_event_id_resumes_on_another_replica_with_exactly_the_rest(
    nursery: trio.Nursery, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    with trio.fail_after(30):
        a, b = await start_servers(nursery, redis_server.url, 2)
        async with trio.open_nursery() as reading:
            on_a = await reading.start(subscribe, http, f"{a.url}/events/{CHANNEL}")
            # Posted to both replicas in turn: where an event came in does not matter.
            ids = [
                await post(http, f"{(a, b)[n % 2].url}/{CHANNEL}", b"%d" % n)
                for n in range(6)
            ]
            first = await take(on_a, 3)
            reading.cancel_scope.cancel()  # disconnect from A

        resume = {"Last-Event-ID": first[-1][1]}
        on_b = await nursery.start(subscribe, http, f"{b.url}/events/{CHANNEL}", resume)
        rest = await take(on_b, 3)
        marker = await post(http, f"{a.url}/{CHANNEL}", b"marker")
        (after,) = await take(on_b, 1)

    assert [frame[1] for frame in first] == ids[:3]
    assert [frame[1] for frame in rest] == ids[3:]
    bodies = [base64.b64decode(message_of(f[2])["bodyB"]) for f in first + rest]
    assert bodies == [b"%d" % n for n in range(6)]
    assert after[1] == marker  # nothing more came before the next live event
