"""The real ``gosmee-trio server`` as a subprocess, pinned to core 0 when possible."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO

import trio

# Cold start imports quart, hypercorn and cyclopts: about a second on a slow core.
STARTUP_TIMEOUT = 30.0
# Above hypercorn's 3 s graceful shutdown, so a clean stop is never cut short.
STOP_GRACE = 10.0
SERVER_CORE = 0

_SERVING = re.compile(rb"Serving for webhooks on http://127\.0\.0\.1:(\d+)")
_MAX_BANNER = 64 * 1024


@dataclass
class ServerProcess:
    """A running server: its pid (for /proc) and port, plus its captured stderr."""

    pid: int
    port: int
    stderr: IO[bytes]

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM from /proc/<pid>/status, in KiB."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        return values

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used, from /proc/<pid>/stat."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            # Fields after the parenthesised command name; utime and stime are 14, 15.
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            return False
        return True

    def log_summary(self) -> dict[str, int]:
        """Count the server's WARNING and ERROR lines written so far."""
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", errors="replace")
        return {
            "server_warnings": text.count("WARNING"),
            "server_errors": text.count("ERROR"),
        }

    def log_tail(self, lines: int = 5) -> list[str]:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", errors="replace")
        return text.splitlines()[-lines:]


def pinning_available() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def server_command(*extra: str, core: int | None = SERVER_CORE) -> list[str]:
    command = [sys.executable, "-m", "gosmee_trio", "server"]
    command += ["--address", "127.0.0.1", "--port", "0", "--log-level", "warn", *extra]
    if core is not None and pinning_available():
        # taskset execs the server, so the pid we get is the server's own.
        return ["taskset", "-c", str(core), *command]
    return command


@asynccontextmanager
async def open_server(
    *extra: str, core: int | None = SERVER_CORE
) -> AsyncIterator[ServerProcess]:
    """Start a fresh server, yield it once listening, stop it on the way out.

    ``extra`` goes on its command line; ``core`` pins it (None: not pinned)."""
    with tempfile.TemporaryFile() as stderr:
        async with trio.open_nursery() as nursery:
            run = partial(
                trio.run_process,
                server_command(*extra, core=core),
                stdout=subprocess.PIPE,
                stderr=stderr,
                check=False,
            )
            process: trio.Process = await nursery.start(run)
            try:
                assert process.stdout is not None
                port = await _read_port(process.stdout, stderr)
                nursery.start_soon(_drain, process.stdout)
                yield ServerProcess(process.pid, port, stderr)
            finally:
                with trio.move_on_after(STOP_GRACE + 5, shield=True):
                    await _stop(process)


async def _read_port(stdout: trio.abc.ReceiveStream, stderr: IO[bytes]) -> int:
    seen = b""
    with trio.fail_after(STARTUP_TIMEOUT):
        while len(seen) < _MAX_BANNER:
            data = await stdout.receive_some()
            if not data:
                break
            seen += data
            match = _SERVING.search(seen)
            if match:
                return int(match[1])
    stderr.seek(0)
    raise RuntimeError(
        f"expected the server to print 'Serving for webhooks on ...', "
        f"got stdout {seen!r} and stderr {stderr.read()[-2000:]!r}"
    )


async def _drain(stdout: trio.abc.ReceiveStream) -> None:
    # The server prints nothing more, but an unread pipe must never block it.
    while await stdout.receive_some():
        pass


async def _stop(process: trio.Process) -> None:
    if process.returncode is None:
        process.terminate()
    with trio.move_on_after(STOP_GRACE):
        await process.wait()
    if process.returncode is None:
        print(f"server pid {process.pid} ignored SIGTERM; killing", file=sys.stderr)
        process.kill()
        await process.wait()
