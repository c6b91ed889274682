"""Relay throughput in Redis mode against memory mode, side by side.

Usage: ``.venv/bin/python bench/redis.py`` (needs ``redis-server`` on PATH).

Three runs of the same load (5,000 one-KiB JSON webhooks from 8 posters):
- ``memory``: one server process, in-memory broker, one subscriber;
- ``redis-1``: one server process on Redis, one subscriber;
- ``redis-2``: two server processes on one Redis, posters split between them and
  one subscriber on each, every subscriber expecting every event (each event is
  relayed by both processes).
The figure is events per second received by every subscriber. Nothing is pinned (two
server processes pinned to one core would only measure that core): the scheduler
spreads servers, redis-server and the load generators over the machine's cores, so
on a small machine read the figures as relative to each other.
One JSON line per run on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from contextlib import AsyncExitStack
from functools import partial

import trio

from _common import (
    KIB,
    elapsed_s,
    json_body,
    new_channel,
    now_ns,
    open_subscribers,
    post_many,
    progress,
    wait_finished,
    warm_up,
)
from _server import ServerProcess, open_server

EVENTS = 5000
POSTERS = 8


async def measure(servers: list[ServerProcess]) -> dict[str, object]:
    for server in servers:
        await warm_up(server)
    channel = new_channel()
    async with trio.open_nursery() as nursery:
        subscribers = []
        for server in servers:
            subscribers += await open_subscribers(
                nursery, server.port, channel, 1, expect=EVENTS
            )
        start = now_ns()
        failures = 0

        async def post_share(server: ServerProcess, share: int) -> None:
            nonlocal failures
            posters = max(1, POSTERS // len(servers))
            failures += await post_many(
                server.port, channel, share, posters, json_body(KIB)
            )

        async with trio.open_nursery() as posting:
            for index, server in enumerate(servers):
                share = EVENTS // len(servers) + (index < EVENTS % len(servers))
                posting.start_soon(post_share, server, share)
        end = await wait_finished(subscribers)
        nursery.cancel_scope.cancel()
    seconds = elapsed_s(start, end)
    return {
        "value": round(EVENTS / seconds, 1),
        "unit": "events/s",
        "elapsed_s": round(seconds, 3),
        "non_202": failures,
        "processes": len(servers),
        "subscribers": len(servers),
    }


async def run_redis(processes: int) -> dict[str, object]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", folder]
        async with trio.open_nursery() as nursery:
            redis = await nursery.start(_run_quietly, command)
            await _wait_for_port(port)
            url = f"redis://127.0.0.1:{port}"
            async with AsyncExitStack() as stack:
                servers = [
                    await stack.enter_async_context(
                        open_server("--redis-url", url, core=None)
                    )
                    for _ in range(processes)
                ]
                result = await measure(servers)
            redis.terminate()
    return result


async def run_memory() -> dict[str, object]:
    async with open_server(core=None) as server:
        return await measure([server])


async def main() -> None:
    runs = [
        ("memory", run_memory),
        ("redis-1", partial(run_redis, 1)),
        ("redis-2", partial(run_redis, 2)),
    ]
    for name, run in runs:
        progress(f"running {name}")
        result = await run()
        result["name"] = f"relay_throughput_{name}"
        print(json.dumps(result), flush=True)


async def _run_quietly(
    command: list[str], task_status: trio.TaskStatus[trio.Process]
) -> None:
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    task_status.started(process)
    try:
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _wait_for_port(port: int) -> None:
    with trio.fail_after(10):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.02)  # not listening yet; nothing to wait on
                continue
            await stream.aclose()
            return


if __name__ == "__main__":
    try:
        trio.run(main)
    except KeyboardInterrupt:
        sys.exit(1)
