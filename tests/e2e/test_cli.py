"""The real command line: processes, signals, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial

import httpx
import pytest
import trio

from tests.helpers import RecordingTarget

CHANNEL = "cli-test-channel"
COMMAND = [sys.executable, "-m", "gosmee_trio"]


async def _start(nursery: trio.Nursery, *args: str) -> trio.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSMEE_")}
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [*COMMAND, *args],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    )
    return process


async def _read_until(stream: trio.abc.ReceiveStream | None, marker: bytes) -> bytes:
    assert stream is not None
    seen = b""
    while marker not in seen:
        chunk = await stream.receive_some()
        assert chunk, (
            f"stream ended before {marker!r}; got {seen.decode(errors='replace')}"
        )
        seen += chunk
    return seen


async def _stop(process: trio.Process, signum: int) -> int:
    process.send_signal(signum)
    with trio.fail_after(5):
        return await process.wait()


@pytest.mark.parametrize("client_signal", [signal.SIGINT, signal.SIGTERM])
async def test_cli_relays_and_exits_cleanly_on_signals(
    nursery: trio.Nursery, target: RecordingTarget, client_signal: int
) -> None:
    with trio.fail_after(30):
        server = await _start(
            nursery, "server", "--address", "127.0.0.1", "--port", "0"
        )
        banner = await _read_until(server.stdout, b"\n")
        assert banner.startswith(b"Serving for webhooks on http://127.0.0.1:")
        url = banner.split(b" on ", 1)[1].strip().decode()

        client = await _start(nursery, "client", f"{url}/{CHANNEL}", f"{target.url}/x")
        await _read_until(client.stderr, b"stream ready")

        async with httpx.AsyncClient() as http:
            reply = await http.post(f"{url}/{CHANNEL}", content=b'{"cli":true}')
        assert reply.status_code == 202
        assert (await target.next()).body == b'{"cli":true}'

        assert await _stop(client, client_signal) == 0
        assert await _stop(server, signal.SIGINT) == 0


async def test_cli_rejects_bad_arguments_with_a_clear_message(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(20):
        result = await trio.run_process(
            [*COMMAND, "client", "ftp://nope/abcdefghijkl", "http://localhost:1"],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
        )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "gosmee-trio: error: SMEE_URL must be an http:// or https:// URL, "
        "got 'ftp://nope/abcdefghijkl'\n"
    )


async def test_cli_busy_port_is_one_error_line(nursery: trio.Nursery) -> None:
    with trio.fail_after(20):
        first = await _start(nursery, "server", "--address", "127.0.0.1", "--port", "0")
        url = (await _read_until(first.stdout, b"\n")).split(b" on ", 1)[1].strip()
        port = url.rsplit(b":", 1)[1].decode()
        result = await trio.run_process(
            [*COMMAND, "server", "--address", "127.0.0.1", "--port", port],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
        )
        assert await _stop(first, signal.SIGTERM) == 0
    assert result.returncode == 1
    assert result.stderr.decode().endswith(
        f"gosmee-trio: error: cannot listen on 127.0.0.1:{port}: "
        "[Errno 98] Address already in use\n"
    )
