"""Third-party client processes in tests: started, watched through their output,
stopped."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from functools import partial

import trio

# Loopback only: no client under test may route its requests through a proxy.
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass
class OutputLog:
    """Everything a process wrote to one pipe, with a wait for a marker."""

    text: bytes = b""
    ended: bool = False
    _changed: trio.Event = field(default_factory=trio.Event)

    async def drain(self, stream: trio.abc.ReceiveStream | None) -> None:
        assert stream is not None
        async for chunk in stream:
            self._grow(bytes(chunk))
        self.ended = True
        self._grow(b"")

    async def wait_for(self, marker: bytes, count: int = 1) -> None:
        """Wait until ``marker`` has been written ``count`` times."""
        while self.text.count(marker) < count:
            assert not self.ended, f"output ended before {marker!r}: {self.text!r}"
            await self._changed.wait()

    async def wait_for_or_end(self, marker: bytes) -> bool:
        """Wait until ``marker`` is written (True) or the output ends first, as
        when the process exits at start-up (False)."""
        while marker not in self.text:
            if self.ended:
                return False
            await self._changed.wait()
        return True

    def _grow(self, chunk: bytes) -> None:
        self.text += chunk
        self._changed.set()
        self._changed = trio.Event()


@dataclass(frozen=True)
class ClientProcess:
    """A running process and both of its output pipes, drained as they fill."""

    process: trio.Process
    stdout: OutputLog
    stderr: OutputLog

    def describe(self) -> str:
        return f"stdout {self.stdout.text!r}, stderr {self.stderr.text!r}"


async def start_process(nursery: trio.Nursery, command: list[str]) -> ClientProcess:
    """Start ``command`` in ``nursery``; its pipes are drained there too."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            command,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    )
    running = ClientProcess(process, OutputLog(), OutputLog())
    nursery.start_soon(running.stdout.drain, process.stdout)
    nursery.start_soon(running.stderr.drain, process.stderr)
    return running


async def stop_process(client: ClientProcess) -> None:
    """Check that the process is still running, then end it with SIGTERM."""
    code = client.process.returncode
    assert code is None, f"process exited early with {code}: {client.describe()}"
    client.process.terminate()
    # Callers bound this with their own fail_after.
    assert await client.process.wait() == -signal.SIGTERM
