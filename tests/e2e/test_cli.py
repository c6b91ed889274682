"""The real command line: processes, signals, exit codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

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


async def _start_client(
    nursery: trio.Nursery, url: str, target: RecordingTarget, *options: str
) -> trio.Process:
    client = await _start(
        nursery, "client", *options, f"{url}/{CHANNEL}", f"{target.url}/x"
    )
    await _read_until(client.stderr, b"stream ready")
    return client


async def _post(url: str, body: bytes, **headers: str) -> str:
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{url}/{CHANNEL}", content=body, headers=headers)
    assert reply.status_code == 202
    stream_id: str = reply.json()["stream_id"]
    return stream_id


async def test_sigterm_during_a_slow_delivery_finishes_it_and_checkpoints(
    nursery: trio.Nursery, target: RecordingTarget, server_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "resume"
    target.statuses = [1.5]
    with trio.fail_after(40):
        client = await _start_client(
            nursery, server_url, target, "--resume-state-file", str(state)
        )
        first = await _post(server_url, b"in flight")
        await _post(server_url, b"after")
        assert (await target.next()).body == b"in flight"
        assert await _stop(client, signal.SIGTERM) == 0
        assert state.read_text() == f"{first}\n"

        again = await _start_client(
            nursery, server_url, target, "--resume-state-file", str(state)
        )
        assert (await target.next()).body == b"after"
        assert await _stop(again, signal.SIGINT) == 0
    assert [r.body for r in target.received] == [b"in flight", b"after"]


async def _read_to_end(stream: trio.abc.ReceiveStream | None) -> bytes:
    assert stream is not None
    seen = b""
    while chunk := await stream.receive_some():
        seen += chunk
    return seen


async def test_sigterm_cutting_off_a_slow_delivery_warns_and_it_comes_back(
    nursery: trio.Nursery, target: RecordingTarget, server_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "resume"
    options = ("--resume-state-file", str(state), "--shutdown-grace", "1")
    target.statuses = [5.0]  # far longer than the grace period
    with trio.fail_after(40):
        client = await _start_client(nursery, server_url, target, *options)
        stream_id = await _post(server_url, b"slow", **{"X-GitHub-Delivery": "d-slow"})
        assert (await target.next()).body == b"slow"
        assert await _stop(client, signal.SIGTERM) == 0
        said = await _read_to_end(client.stderr)
        [line] = [line for line in said.splitlines() if b"cut off" in line]
        assert line.startswith(b"WARNING") or b" WARNING " in line
        assert f"stream_id={stream_id}".encode() in line
        assert b"delivery_id=d-slow" in line
        assert b"not checkpointed" in line
        assert b"delivered again on the next start" in line

        again = await _start_client(nursery, server_url, target, *options)
        assert (await target.next()).body == b"slow"
        assert await _stop(again, signal.SIGINT) == 0


async def test_resume_state_survives_kill_9(
    nursery: trio.Nursery, target: RecordingTarget, server_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "resume"
    with trio.fail_after(40):
        client = await _start_client(
            nursery, server_url, target, "--resume-state-file", str(state)
        )
        one = await _post(server_url, b"one")
        assert (await target.next()).body == b"one"
        while not (state.exists() and state.read_text() == f"{one}\n"):
            await trio.testing.wait_all_tasks_blocked(0.01)
        client.kill()
        await client.wait()
        await _post(server_url, b"two")
        await _post(server_url, b"three")
        again = await _start_client(
            nursery, server_url, target, "--resume-state-file", str(state)
        )
        assert [(await target.next()).body for _ in range(2)] == [b"two", b"three"]
        assert await _stop(again, signal.SIGTERM) == 0


async def test_frozen_server_is_detected_and_the_client_reconnects(
    nursery: trio.Nursery, target: RecordingTarget
) -> None:
    with trio.fail_after(60):
        server = await _start(
            nursery,
            "server",
            "--address",
            "127.0.0.1",
            "--port",
            "0",
            "--keepalive-interval",
            "0.3",
        )
        banner = await _read_until(server.stdout, b"\n")
        url = banner.split(b" on ", 1)[1].strip().decode()
        client = await _start_client(
            nursery, url, target, "--keepalive-interval", "0.3"
        )
        server.send_signal(signal.SIGSTOP)  # half-open: connected, but silent
        await _read_until(client.stderr, b"stream ended")
        server.send_signal(signal.SIGCONT)
        await _read_until(client.stderr, b"stream ready")
        await _post(url, b"after the freeze")
        assert (await target.next()).body == b"after the freeze"
        assert await _stop(client, signal.SIGTERM) == 0
        assert await _stop(server, signal.SIGTERM) == 0


async def test_new_url_asks_the_given_server(server_url: str) -> None:
    with trio.fail_after(20):
        result = await trio.run_process(
            [*COMMAND, "client", "--new-url", f"{server_url}/ignored-channel"],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
        )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        re.escape(server_url) + r"/[A-Za-z]{12}\n", result.stdout.decode()
    )


async def test_new_url_failure_is_one_error_line() -> None:
    with trio.fail_after(20):
        result = await trio.run_process(
            [*COMMAND, "client", "-u", "http://127.0.0.1:9/"],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
        )
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: ")
    assert result.stdout == b""
