"""Redis mode, in process: publish and subscribe through one Redis."""

from __future__ import annotations

import httpx
import trio

from gosmee_trio.server.serve import Server
from tests.helpers import message_of, read_events

CHANNEL = "redis-smoke-channel"


async def test_webhook_reaches_a_subscriber_through_redis(
    redis_relay: Server, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    url = redis_relay.state.public_url
    with trio.fail_after(20):
        got: list[tuple[str, str, str]] = []
        done = trio.Event()

        async def read() -> None:
            got.extend(await read_events(http, f"{url}/events/{CHANNEL}", 1))
            done.set()

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked(0.05)
        reply = await http.post(f"{url}/{CHANNEL}", content=b'{"a":1}')
        assert reply.status_code == 202
        await done.wait()
    assert got[0][1] == reply.json()["stream_id"]
    assert message_of(got[0][2])["bodyB"] == "eyJhIjoxfQ=="
