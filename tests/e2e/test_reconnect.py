"""The client survives server restarts and silently dead streams."""

from __future__ import annotations

from functools import partial

import httpx
import trio

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.serve import Server
from tests.e2e.test_relay import start_client
from tests.helpers import RecordingTarget

CHANNEL = "reconnect-chan-1"


async def test_client_reconnects_and_resumes_after_server_restart(
    nursery: trio.Nursery, http: httpx.AsyncClient, target: RecordingTarget
) -> None:
    broker = Broker()
    first = trio.CancelScope()
    relay = Server(
        ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5), broker
    )

    async def run_first(task_status: trio.TaskStatus[str]) -> None:
        with first:
            await relay.run(task_status=task_status)

    await nursery.start(run_first)
    url = relay.state.public_url
    port = int(url.rsplit(":", 1)[1])
    client, _ = await start_client(nursery, f"{url}/{CHANNEL}", target.url)
    await http.post(f"{url}/{CHANNEL}", content=b"one")
    with trio.fail_after(10):
        assert (await target.next()).body == b"one"

    first.cancel()  # the server process dies; its broker's history survives here
    await trio.testing.wait_all_tasks_blocked(0.05)
    again = Server(
        ServerConfig(address="127.0.0.1", port=port, keepalive_interval=0.5), broker
    )
    await nursery.start(again.run)
    for body in (b"two", b"three"):
        await http.post(f"{url}/{CHANNEL}", content=body)

    with trio.fail_after(15):
        assert [(await target.next()).body for _ in range(2)] == [b"two", b"three"]
    assert client.consumer is not None and client.consumer.reconnects >= 1


async def test_silent_stream_is_detected_by_the_watchdog(nursery: trio.Nursery) -> None:
    connections = trio.Semaphore(0)
    frame = b'data: {"message":"ready"}\n\n'
    ready = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(frame), frame)
    )

    async def half_open(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.send_all(ready)
        connections.release()
        await trio.sleep_forever()  # never another byte, like a dead peer

    listeners = await nursery.start(
        partial(trio.serve_tcp, half_open, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    await start_client(
        nursery,
        f"http://127.0.0.1:{port}/{CHANNEL}",
        "http://127.0.0.1:9/unused",
        keepalive_interval=0.2,
    )
    with trio.fail_after(10):
        await connections.acquire()
        await (
            connections.acquire()
        )  # a second connection: the client gave up on the first
