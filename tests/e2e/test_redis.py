"""Server processes in Redis mode: Redis going away and coming back, trimmed
history, start-up without Redis, many subscribers, protected channels."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from gosmee_trio.envelope import open_envelope, public_key_text
from gosmee_trio.keyfile import generate_keypair
from gosmee_trio.server.redis_entries import text_of
from tests.e2e.redis_relays import (
    Frame,
    ServerProcess,
    post,
    start_client,
    start_server,
    start_servers,
    stop,
    subscribe,
    take,
)
from tests.helpers import RecordingTarget, free_port, message_of
from tests.redis_server import RedisServer

CHANNEL = "redis-e2e-channel"
EMPTY_CHANNEL = "redis-e2e-empty-1"
PROTECTED = "redis-e2e-protected"
UNTRIMMED = "redis-e2e-untrimmed"
SECRET_B64 = base64.b64encode(b"secret").decode()
STREAM = {"Accept": "text/event-stream"}


def _bodies(frames: list[Frame]) -> list[bytes]:
    return [base64.b64decode(message_of(data)["bodyB"]) for _, _, data in frames]


async def test_redis_restart_ends_streams_and_loses_nothing_accepted(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    target: RecordingTarget,
    redis_server: RedisServer,
) -> None:
    url = f"{{}}/{CHANNEL}"
    with trio.fail_after(40):
        server = await start_server(nursery, redis_server.url)
        client = await start_client(nursery, url.format(server.url), f"{target.url}/x")
        await post(http, url.format(server.url), b"one")
        assert (await target.next()).body == b"one"
        # Accepted just before Redis goes: it may or may not reach the client first.
        await post(http, url.format(server.url), b"two")

        await redis_server.stop()
        await client.stderr.wait_for(b"stream ended")
        down = await _observe(http, server)
        # The client's first reconnect fails too (500); it then waits 2 s, so the
        # next webhook is certainly accepted while it is away: it must catch up.
        await client.stderr.wait_for(b"stream ended", count=2)
        await redis_server.start(nursery)
        await post(http, url.format(server.url), b"three")
        ready_when_accepted = client.stderr.text.count(b"stream ready")
        await server.running.stderr.wait_for(b"Redis is reachable again")
        up = await _observe(http, server)

        while len(target.received) < 3:
            await target.next()
        await stop(client)
        await stop(server.running)

    assert b"got 500" in client.stderr.text
    assert ready_when_accepted == 1
    assert (down.health, down.redis, down.livez) == (503, "down", 200)
    assert down.post is not None and down.subscribe is not None
    assert down.post[0] == 500
    assert down.post[1].startswith("publish event: write to redis stream: ")
    assert down.subscribe[0] == 500
    assert down.subscribe[1].startswith("read redis stream tail: ")
    assert (up.health, up.redis, up.livez) == (200, "up", 200)
    # The 500 was not stored after all; every 202 was delivered, once, in order.
    assert [r.body for r in target.received] == [b"one", b"two", b"three"]


@dataclass(frozen=True)
class _Probe:
    """What a server answers at one moment; POST and subscribe only while down."""

    health: int
    redis: str
    livez: int
    post: tuple[int, str] | None
    subscribe: tuple[int, str] | None


async def _observe(http: httpx.AsyncClient, server: ServerProcess) -> _Probe:
    health = await http.get(f"{server.url}/health")
    livez = await http.get(f"{server.url}/livez")
    post = subscribe = None
    if health.status_code == 503:
        failed = await http.post(f"{server.url}/{CHANNEL}", content=b"refused")
        post = (failed.status_code, failed.text)
        opened = await http.get(f"{server.url}/events/{EMPTY_CHANNEL}")
        subscribe = (opened.status_code, opened.text)
    return _Probe(
        health.status_code, health.json()["redis"], livez.status_code, post, subscribe
    )


async def test_resume_announces_a_gap_exactly_when_history_was_trimmed(
    nursery: trio.Nursery, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    # Two entries per stream node and MAXLEN ~ 4: approximate trimming drops whole
    # nodes, so 20 posts certainly trim the oldest; 3 posts never trim anything.
    redis = RedisServer(tmp_path, extra=("--stream-node-max-entries", "2"))
    url = f"{{}}/{CHANNEL}"
    with trio.fail_after(30):
        await redis.start(nursery)
        server = await start_server(nursery, redis.url, "--redis-stream-maxlen", "4")
        ids = [await post(http, url.format(server.url), b"%d" % n) for n in range(20)]
        few = [
            await post(http, f"{server.url}/{UNTRIMMED}", b"%d" % n) for n in range(3)
        ]
        async with redis.client() as client:
            kept = [
                text_of(entry.identifier)
                for entry in await client.xrange(f"gosmee:stream:{CHANNEL}")
            ]

        resume = {"Last-Event-ID": ids[1]}
        stream = await nursery.start(
            subscribe, http, f"{server.url}/events/{CHANNEL}", resume
        )
        gap, *rest = await take(stream, 1 + len(kept))
        live = await post(http, url.format(server.url), b"live")
        (after,) = await take(stream, 1)

        resume = {"Last-Event-ID": "0-0"}
        whole = await nursery.start(
            subscribe, http, f"{server.url}/events/{UNTRIMMED}", resume
        )
        everything = await take(whole, 3)

    assert 4 <= len(kept) < 20 and kept == ids[-len(kept) :]
    assert gap[0] == "gosmee-gap"
    assert json.loads(gap[2]) == {
        "error": "missed_history",
        "requested_id": ids[1],
        "oldest_id": kept[0],
    }
    assert [(event, sid) for event, sid, _ in rest] == [("message", k) for k in kept]
    assert _bodies(rest) == [b"%d" % n for n in range(20 - len(kept), 20)]
    assert after[1] == live  # one gap, then the live stream as usual
    # From 0-0 on a stream that lost nothing: every event, and no gap before them.
    assert [(event, sid) for event, sid, _ in everything] == [
        ("message", i) for i in few
    ]
    assert _bodies(everything) == [b"0", b"1", b"2"]


async def test_server_without_redis_at_start_exits_naming_redis() -> None:
    port = free_port()  # nothing listens there
    with trio.fail_after(30):
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "gosmee_trio",
                "server",
                "--address",
                "127.0.0.1",
                "--port",
                "0",
                "--redis-url",
                f"redis://127.0.0.1:{port}",
            ],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
        )
    assert result.returncode == 1
    assert result.stdout == b""  # never got as far as serving
    last_line = result.stderr.decode().splitlines()[-1]
    assert re.fullmatch(
        rf"gosmee-trio: error: cannot reach Redis at redis://127\.0\.0\.1:{port}: .+",
        last_line,
    )


async def test_each_server_process_reads_redis_over_one_blocking_connection(
    nursery: trio.Nursery, redis_server: RedisServer
) -> None:
    channels = [f"redis-many-chan-{n:02d}" for n in range(20)]
    # Unlimited: 100 streams stay open while the webhooks are posted.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    streams: list[tuple[str, trio.MemoryReceiveChannel[Frame]]] = []
    with trio.fail_after(60):
        servers = await start_servers(nursery, redis_server.url, 2)
        async with (
            httpx.AsyncClient(timeout=10, limits=limits) as http,
            trio.open_nursery() as reading,
        ):

            async def open_one(n: int) -> None:
                # Every channel gets subscribers on both processes (3 and 2).
                url = f"{servers[n // 20 % 2].url}/events/{channels[n % 20]}"
                streams.append(
                    (channels[n % 20], await reading.start(subscribe, http, url))
                )

            async with trio.open_nursery() as opening:  # all at once, on purpose
                for n in range(100):
                    opening.start_soon(open_one, n)

            ids = {
                c: await post(http, f"{servers[n % 2].url}/{c}", c.encode())
                for n, c in enumerate(channels)
            }
            got = [(channel, *(await stream.receive())) for channel, stream in streams]
            connections = await redis_server.clients()
            ports = [
                await trio.to_thread.run_sync(_local_ports, s.running.process.pid)
                for s in servers
            ]
            reading.cancel_scope.cancel()

    owners = [
        [c for c in connections if int(c["addr"].rsplit(":", 1)[1]) in mine]
        for mine in ports
    ]
    # Every connection Redis has (but the test's own) is one of the two processes'.
    assert sum(map(len, owners)) == len(connections), connections
    for mine in owners:
        # One XREAD over all 20 streams; the pool for the rest stays small.
        readers = [(c["name"], c["cmd"]) for c in mine if c["cmd"] == "xread"]
        assert readers == [("gosmee-trio-reader", "xread")], mine
        assert len(mine) <= 4, mine
    assert len(got) == 100
    for channel, event, stream_id, data in got:
        assert (event, stream_id) == ("message", ids[channel])
        assert base64.b64decode(message_of(data)["bodyB"]) == channel.encode()


def _local_ports(pid: int) -> set[int]:
    """The local ports of process ``pid``'s TCP sockets, from Linux's /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since listed
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            local, inode = line.split()[1], line.split()[9]
            if inode in inodes:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


async def test_channels_coming_and_going_do_not_use_up_redis_connections(
    nursery: trio.Nursery, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    # Each channel's first subscriber interrupts the reader's blocking XREAD to add
    # its stream; more interruptions than the client's pool has connections (64).
    churn = 70
    with trio.fail_after(40):
        server = await start_server(nursery, redis_server.url)
        base = await nursery.start(subscribe, http, f"{server.url}/events/{CHANNEL}")
        for n in range(churn):
            async with trio.open_nursery() as passing:
                url = f"{server.url}/events/redis-churn-chan-{n:02d}"
                await passing.start(subscribe, http, url)
                passing.cancel_scope.cancel()
        stream_id = await post(http, f"{server.url}/{CHANNEL}", b"still here")
        (event,) = await take(base, 1)
        connections = await redis_server.connection_count()

    assert event[1] == stream_id, event
    assert connections <= 4


async def test_protected_channel_is_sealed_per_listed_key_and_hidden_from_others(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    pair = generate_keypair()
    pubkey = public_key_text(pair.public)
    stranger = public_key_text(generate_keypair().public)
    channels = tmp_path / "channels.json"
    channels.write_text(
        json.dumps({"channels": {PROTECTED: {"allowed_public_keys": [pubkey]}}})
    )
    url = f"{{}}/events/{PROTECTED}{{}}"
    with trio.fail_after(30):
        server = await start_server(
            nursery, redis_server.url, "--encrypted-channels-file", str(channels)
        )
        keyed = await nursery.start(
            subscribe, http, url.format(server.url, f"?pubkey={pubkey}")
        )
        refused = [
            (await http.get(url.format(server.url, ""))).status_code,
            (await http.get(url.format(server.url, f"?pubkey={stranger}"))).status_code,
            (await http.get(f"{server.url}/{PROTECTED}", headers=STREAM)).status_code,
        ]
        stream_id = await post(http, f"{server.url}/{PROTECTED}", b"secret")
        (sealed,) = await take(keyed, 1)
        async with redis_server.client() as redis:
            (stored,) = await redis.xrange(f"gosmee:stream:{PROTECTED}")

    assert refused == [404, 404, 404]
    assert sealed[1] == stream_id
    assert json.loads(sealed[2])["encrypted"] is True
    assert SECRET_B64 not in sealed[2]
    message = message_of(open_envelope(sealed[2], pair.private).decode())
    assert base64.b64decode(message["bodyB"]) == b"secret"
    # As upstream: Redis keeps the plain message; each subscriber gets its own seal.
    assert SECRET_B64.encode() in stored.field_values[b"payload"]
