"""Graceful shutdown is bounded, even with a subscriber that stopped reading."""

from __future__ import annotations

import httpx
import pytest
import trio

from gosmee_trio.config import ServerConfig
from gosmee_trio.server import tcp
from gosmee_trio.server.serve import Server

CHANNEL = "stalled-reader-1"


async def test_shutdown_finishes_although_a_subscriber_never_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tcp, "STALL_TIMEOUT", 0.5)
    relay = Server(ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5))
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(relay.run, stop.wait)
            port = int(url.rsplit(":", 1)[1])
            frozen = await trio.open_tcp_stream("127.0.0.1", port)
            await frozen.send_all(
                b"GET /events/%s HTTP/1.1\r\nHost: x\r\n\r\n" % CHANNEL.encode()
            )
            async with httpx.AsyncClient() as http:
                body = b"x" * (4 * 1024 * 1024)
                for _ in range(10):  # far more than the socket buffers hold
                    reply = await http.post(f"{url}/{CHANNEL}", content=body)
                    assert reply.status_code == 202
            stop.set()  # the nursery only exits once the server has stopped
        await frozen.aclose()
    assert relay.broker.statistics().subscribers == {}
