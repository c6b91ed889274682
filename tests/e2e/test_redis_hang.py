"""A Redis that stops answering (SIGSTOP: connections stay open, nothing comes back)
must not hang webhooks or streams: each command has a deadline."""

from __future__ import annotations

import logging
import signal
from functools import partial

import httpx
import pytest
import trio

from gosmee_trio.config import ServerConfig
from gosmee_trio.server import redis_broker, redis_entries, redis_reader
from gosmee_trio.server.brokerapi import BrokerUnavailable
from gosmee_trio.server.serve import Server
from tests.helpers import LogWaiter
from tests.redis_server import RedisServer

CHANNEL = "hung-redis-channel"


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real deadlines are 10 s per command and a 30 s blocking read.
    for module in (redis_broker, redis_entries, redis_reader):
        monkeypatch.setattr(module, "COMMAND_TIMEOUT", 0.5, raising=False)
    monkeypatch.setattr(redis_reader, "READ_BLOCK_MS", 300)
    monkeypatch.setattr(redis_reader, "READ_GRACE", 0.5)
    monkeypatch.setattr(redis_broker, "HEALTH_TIMEOUT", 0.5)


async def test_hung_redis_gives_500_then_recovers(
    short_deadlines: None,
    redis_server: RedisServer,
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gosmee_trio")
    relay = Server(
        ServerConfig(address="127.0.0.1", port=0, redis_url=redis_server.url)
    )
    await nursery.start(relay.run)
    url = relay.state.public_url
    assert redis_server.process is not None
    lost, back = LogWaiter("lost Redis"), LogWaiter("Redis is reachable again")
    with trio.fail_after(30):
        # A subscriber keeps the reader's blocking XREAD in flight.
        async with http.stream("GET", f"{url}/events/{CHANNEL}") as stream:
            assert stream.status_code == 200
            redis_server.process.send_signal(signal.SIGSTOP)
            try:
                reply = await http.post(f"{url}/{CHANNEL}", content=b"{}")
                assert reply.status_code == 500
                assert reply.text == (
                    "publish event: write to redis stream: no answer within 0.5 s\n"
                )
                await lost.seen.wait()
                health = await http.get(f"{url}/health")
                assert health.status_code == 503
                assert health.json()["redis"] == "down"
                assert (await http.get(f"{url}/livez")).status_code == 200
                # The stream was ended by the server, not left hanging.
                async for _ in stream.aiter_bytes():
                    pass
            finally:
                redis_server.process.send_signal(signal.SIGCONT)
        await back.seen.wait()
        assert (await http.get(f"{url}/health")).json()["redis"] == "up"
        reply = await http.post(f"{url}/{CHANNEL}", content=b"{}")
        assert reply.status_code == 202


async def test_silent_redis_at_start_up_is_refused_with_a_deadline(
    short_deadlines: None, nursery: trio.Nursery
) -> None:
    accepted: list[trio.SocketStream] = []

    async def hold(stream: trio.SocketStream) -> None:
        accepted.append(stream)  # read nothing, answer nothing
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, hold, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    relay = Server(
        ServerConfig(address="127.0.0.1", port=0, redis_url=f"redis://127.0.0.1:{port}")
    )
    refused: list[BaseException] = []
    with trio.fail_after(10):
        try:
            await relay.run()
        except* BrokerUnavailable as group:
            refused.extend(group.exceptions)
    assert len(refused) == 1
    assert str(refused[0]) == (
        f"cannot reach Redis at redis://127.0.0.1:{port}: no answer within 0.5 s"
    )
    assert accepted  # it did connect; Redis just never answered


async def test_health_asks_redis_even_with_no_stream_open(
    short_deadlines: None,
    redis_server: RedisServer,
    redis_relay: Server,
    http: httpx.AsyncClient,
) -> None:
    # No subscriber: the reader is idle and would notice nothing by itself.
    url = redis_relay.state.public_url
    assert redis_server.process is not None
    with trio.fail_after(20):
        assert (await http.get(f"{url}/health")).json()["redis"] == "up"
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            hung = await http.get(f"{url}/health")
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        assert hung.status_code == 503
        assert hung.json()["error"] == "redis unavailable: no answer within 0.5 s"
        await redis_server.stop()
        gone = await http.get(f"{url}/health")
        assert gone.status_code == 503
        assert gone.json()["redis"] == "down"
        await redis_server.start_again()
        assert (await http.get(f"{url}/health")).json()["redis"] == "up"
