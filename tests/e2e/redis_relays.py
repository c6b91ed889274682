"""Real server and client processes in Redis mode, and an SSE reader that reports
when its stream is ready."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from functools import partial

import httpx
import trio
from httpx_sse import aconnect_sse

from tests.e2e.processes import ClientProcess, OutputLog

COMMAND = [sys.executable, "-m", "gosmee_trio"]
# One SSE event as (event, id, data).
Frame = tuple[str, str, str]
# Keepalives every half second, so idle streams stay well inside read timeouts.
KEEPALIVE = "0.5"
CONNECTED = '{"message":"connected"}'


async def start_command(
    nursery: trio.Nursery, *args: str, env: Mapping[str, str] | None = None
) -> ClientProcess:
    """Start ``gosmee-trio <args>``, with ``env`` added to its environment; its output
    is collected as it is written."""
    # Neither our own settings nor a proxy from the environment may leak in.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GOSMEE_") and not k.lower().endswith("_proxy")
    }
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [*COMMAND, *args],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**inherited, **(env or {})},
        )
    )
    running = ClientProcess(process, OutputLog(), OutputLog())
    nursery.start_soon(running.stdout.drain, process.stdout)
    nursery.start_soon(running.stderr.drain, process.stderr)
    return running


class ServerProcess:
    """A ``gosmee-trio server`` process in Redis mode, once it is listening."""

    def __init__(self, running: ClientProcess, url: str) -> None:
        self.running = running
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])


async def start_server(
    nursery: trio.Nursery,
    redis_url: str,
    *options: str,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    running = await start_command(
        nursery,
        "server",
        "--address",
        "127.0.0.1",
        "--port",
        "0",
        "--keepalive-interval",
        KEEPALIVE,
        "--redis-url",
        redis_url,
        *options,
        env=env,
    )
    return await wait_serving(running)


async def wait_serving(running: ClientProcess) -> ServerProcess:
    """Wait for a started ``gosmee-trio server`` to print where it listens."""
    await running.stdout.wait_for(b"\n")
    banner = running.stdout.text.split(b"\n", 1)[0].decode()
    assert banner.startswith("Serving for webhooks on "), running.describe()
    return ServerProcess(running, banner.rsplit(" ", 1)[1])


async def start_servers(
    nursery: trio.Nursery, redis_url: str, count: int
) -> list[ServerProcess]:
    """Start ``count`` replicas side by side (start-up is mostly imports)."""
    servers: list[ServerProcess | None] = [None] * count

    async def start(index: int) -> None:
        servers[index] = await start_server(nursery, redis_url)

    async with trio.open_nursery() as starting:
        for index in range(count):
            starting.start_soon(start, index)
    return [server for server in servers if server is not None]


async def start_client(
    nursery: trio.Nursery, smee_url: str, target_url: str
) -> ClientProcess:
    """Start ``gosmee-trio client`` and wait until its stream is ready."""
    running = await start_command(
        nursery, "client", "--keepalive-interval", KEEPALIVE, smee_url, target_url
    )
    await running.stderr.wait_for(b"stream ready")
    return running


async def stop(running: ClientProcess) -> None:
    """SIGTERM a process that must still be running; it must exit cleanly."""
    assert running.process.returncode is None, running.describe()
    running.process.terminate()
    assert await running.process.wait() == 0, running.describe()


async def subscribe(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    task_status: trio.TaskStatus[trio.MemoryReceiveChannel[Frame]],
) -> None:
    """Read an SSE stream; reports started with a channel of its events once the
    server has sent the ready frame (from then on nothing published is missed).

    Control frames are left out; the channel closes when the stream ends.
    """
    send, receive = trio.open_memory_channel[Frame](1000)
    ready = False
    async with send, aconnect_sse(http, "GET", url, headers=headers or {}) as source:
        assert source.response.status_code == 200, source.response.status_code
        async for sse in source.aiter_sse():
            if sse.event == "ready" or sse.data == '{"message":"ready"}':
                if not ready:
                    ready = True
                    task_status.started(receive)
                continue
            # A keepalive comment reaches us as an empty event once an id was seen.
            if not sse.data or sse.event == "ping" or sse.data == CONNECTED:
                continue
            send.send_nowait((sse.event, sse.id, sse.data))


async def take(frames: trio.MemoryReceiveChannel[Frame], count: int) -> list[Frame]:
    return [await frames.receive() for _ in range(count)]


async def post(http: httpx.AsyncClient, url: str, body: bytes) -> str:
    """POST a webhook that must be accepted; returns its stream id."""
    reply = await http.post(url, content=body)
    assert reply.status_code == 202, (reply.status_code, reply.text)
    stream_id: str = reply.json()["stream_id"]
    return stream_id
