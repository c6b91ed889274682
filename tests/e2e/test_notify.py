"""The real commands under a stand-in systemd: READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.helpers import free_port

COMMAND = [sys.executable, "-m", "gosmee_trio"]
# Short enough that a test sees several pings, long enough for a loaded CI machine.
WATCHDOG_USEC = 400_000


class StandInSystemd:
    """The receiving end of ``$NOTIFY_SOCKET``, as systemd binds it."""

    def __init__(self, name: str, sock: socket.socket) -> None:
        self.name = name
        self._stdlib = sock
        self._sock = trio.socket.from_stdlib_socket(sock)

    async def next_message(self) -> str:
        data: bytes = await self._sock.recv(4096)
        return data.decode()

    async def next_non_ping(self) -> str:
        while (message := await self.next_message()) == "WATCHDOG=1":
            pass
        return message

    def pending(self) -> list[str]:
        """Datagrams already queued, without waiting."""
        found = []
        while True:
            try:
                found.append(self._stdlib.recv(4096, socket.MSG_DONTWAIT).decode())
            except BlockingIOError:
                return found


@pytest.fixture(params=["path", "abstract"])
def systemd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StandInSystemd]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if request.param == "path":
            name = str(tmp_path / "notify")
            sock.bind(name)
        else:
            name = f"@gosmee-trio-e2e-{uuid.uuid4().hex}"
            sock.bind("\0" + name[1:])
        yield StandInSystemd(name, sock)


async def _start(nursery: trio.Nursery, notify_socket: str, *args: str) -> trio.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSMEE_")}
    env |= {"NOTIFY_SOCKET": notify_socket, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [*COMMAND, *args],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    )
    return process


async def _read_line(stream: trio.abc.ReceiveStream | None) -> bytes:
    assert stream is not None
    seen = b""
    while not seen.endswith(b"\n"):
        chunk = await stream.receive_some(1)
        assert chunk, f"stdout ended before a full line; got {seen!r}"
        seen += chunk
    return seen


async def test_server_notifies_ready_after_binding_then_pings_then_stopping(
    nursery: trio.Nursery, systemd: StandInSystemd
) -> None:
    with trio.fail_after(30):
        server = await _start(
            nursery, systemd.name, "server", "--address", "127.0.0.1", "--port", "0"
        )
        banner = (await _read_line(server.stdout)).decode().strip()
        assert banner.startswith("Serving for webhooks on http://127.0.0.1:")

        # Nothing before READY=1, which names the URL the banner printed: the port
        # was bound when systemd heard of it.
        assert await systemd.next_message() == f"READY=1\nSTATUS={banner}"
        assert await systemd.next_message() == "WATCHDOG=1"
        assert await systemd.next_message() == "WATCHDOG=1"

        server.send_signal(signal.SIGTERM)
        assert await systemd.next_non_ping() == (
            "STOPPING=1\nSTATUS=Shutting down: ending open streams"
        )
        assert await server.wait() == 0
    assert systemd.pending() == [], "no ping once the shutdown began"


async def test_client_is_ready_before_its_stream_connects(
    nursery: trio.Nursery, systemd: StandInSystemd
) -> None:
    # Nothing listens on the server's port: the client keeps reconnecting, and
    # systemd must still hear READY=1 so that the unit's start-up succeeds.
    server_url = f"http://127.0.0.1:{free_port()}/notify-channel-1"
    with trio.fail_after(30):
        client = await _start(
            nursery,
            systemd.name,
            "client",
            server_url,
            "http://user:pw@127.0.0.1:9/hook?k=v",
        )
        ready = await systemd.next_message()
        assert ready == (
            "READY=1\nSTATUS=Client started, forwarding to http://127.0.0.1:9/hook"
        )
        assert await systemd.next_message() == "WATCHDOG=1"

        client.send_signal(signal.SIGTERM)
        assert await systemd.next_non_ping() == (
            "STOPPING=1\nSTATUS=Finishing the event in flight"
        )
        assert await client.wait() == 0
