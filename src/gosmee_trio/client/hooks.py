"""Exec hooks: run a user command per event with ``sh -c`` (``--exec``).

The command gets the payload and headers as temp files and learns about the event
from ``GOSMEE_*`` variables. It does not inherit the client's environment: only an
allowlist of harmless names, plus the names the user lists in ``--exec-env-vars``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import trio

from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.naming import event_time, safe_event_type
from gosmee_trio.errors import HookError

log = logging.getLogger(__name__)

# What a hook may see of the client's environment: enough to find programs, temp
# dirs, the user and the locale; never tokens or keys the client happens to hold.
_PASSED_THROUGH = frozenset(
    {"PATH", "HOME", "TMPDIR", "TEMP", "TMP", "USER", "USERNAME", "LOGNAME", "SHELL"}
    | {"LANG", "LC_ALL", "LC_CTYPE", "TZ"}
)
# Output kept per stream and hook run. Anything a human needs from a hook's output
# fits in 64 KiB; the rest is read (so the hook never blocks on a full pipe) and
# counted but not kept, so a chatty hook cannot grow our memory or flood the log.
OUTPUT_CAP = 64 * 1024


@dataclass(frozen=True, slots=True)
class HookConfig:
    """What to run per event, and for which events.

    Args:
        command: shell command, run with ``sh -c``.
        on_events: event types to run for; empty runs for every event.
        env_vars: extra names passed through from the client's environment.
        timeout: seconds before the command and its children are killed; None
            waits for ever, like upstream gosmee.
    """

    command: str
    on_events: tuple[str, ...] = ()
    env_vars: tuple[str, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class HookResult:
    """How one hook run ended; ``ran`` is False when the event was filtered out."""

    ran: bool
    returncode: int | None
    duration_ms: int


def should_run(config: HookConfig, event: IncomingEvent) -> bool:
    """Whether ``event`` passes ``--exec-on-events``.

    Both the raw type and its safe form are matched, so ``repo:push`` matches as a
    whole (upstream cut it down to ``repo``).
    """
    if not config.on_events:
        return True
    if not event.event_type:
        return False
    wanted = config.on_events
    return event.event_type in wanted or safe_event_type(event.event_type) in wanted


def hook_environment(
    parent: Mapping[str, str],
    config: HookConfig,
    event: IncomingEvent,
    payload_path: str,
    headers_path: str,
) -> dict[str, str]:
    """The hook's whole environment: allowlisted parent names plus ``GOSMEE_*``."""
    extra = set(config.env_vars)
    env = {
        name: value
        for name, value in parent.items()
        if name in _PASSED_THROUGH or name.startswith("LC_") or name in extra
    }
    relayed = {
        "GOSMEE_EVENT_TYPE": event.event_type,
        "GOSMEE_EVENT_ID": event.delivery_id,
        "GOSMEE_CONTENT_TYPE": event.content_type,
        "GOSMEE_STREAM_ID": event.stream_id,
    }
    # Values came off the wire: a NUL cannot go into an environment at all.
    env.update({name: value.replace("\x00", "") for name, value in relayed.items()})
    env.update(
        GOSMEE_TIMESTAMP=event_time(event.timestamp_ms),
        GOSMEE_PAYLOAD_FILE=payload_path,
        GOSMEE_HEADERS_FILE=headers_path,
    )
    return env


async def run_hook(config: HookConfig, event: IncomingEvent) -> HookResult:
    """Run the hook for one event, unless ``--exec-on-events`` filters it out.

    The payload and headers are written to 0600 temp files for the command and
    removed when it ends, however it ends. stdout and stderr are logged at INFO.

    Cancellation: the command's whole process group is killed, the temp files are
    removed, and ``trio.Cancelled`` propagates. Cancelling a hook never blocks.

    Errors:
        HookError: the temp files could not be written, the command could not be
            started, exited non-zero, was killed by a signal, or outlived
            ``config.timeout`` (then it and every child it started were killed).
    """
    fields = _log_fields(event)
    if not should_run(config, event):
        log.debug("exec skipped: event type not in --exec-on-events", extra=fields)
        return HookResult(ran=False, returncode=None, duration_ms=0)

    started = time.monotonic()
    try:
        paths = await trio.to_thread.run_sync(_write_temp_files, event)
    except OSError as exc:
        raise HookError(f"cannot write the exec temp files: {exc}") from exc
    try:
        env = hook_environment(os.environ, config, event, *paths)
        returncode = await _run_with_timeout(config, env, fields)
    finally:
        # Sync on purpose: this runs under cancellation too, where awaiting is not
        # allowed without a shield.
        _remove_files(paths)

    duration_ms = round((time.monotonic() - started) * 1000)
    if returncode != 0:
        raise HookError(
            f"exec command failed: {_exit_reason(returncode)}", returncode=returncode
        )
    log.info(
        "exec command completed successfully for event %s",
        event.event_type or "without a type",
        extra=fields | {"duration_ms": duration_ms},
    )
    return HookResult(ran=True, returncode=0, duration_ms=duration_ms)


async def _run_with_timeout(
    config: HookConfig, env: dict[str, str], fields: dict[str, object]
) -> int:
    stdout, stderr = _CappedOutput(), _CappedOutput()
    returncode: int | None = None
    limit = math.inf if config.timeout is None else config.timeout
    with trio.move_on_after(limit):
        returncode = await _run_command(config.command, env, stdout, stderr)

    # Logged on failure and timeout too: stderr is usually what explains them.
    for name, output in (("stdout", stdout), ("stderr", stderr)):
        if text := output.text():
            log.info("exec %s: %s", name, text, extra=fields)
    if returncode is None:
        raise HookError(f"exec command timed out after {config.timeout:g}s")
    return returncode


async def _run_command(
    command: str, env: dict[str, str], stdout: _CappedOutput, stderr: _CappedOutput
) -> int:
    """``sh -c command`` in a session of its own; the group dies if we are cancelled."""
    # Our own pipes rather than capture_stdout=True, which would keep all output in
    # memory; nursery.start also hands us the pid to kill the group by. NOTE: like
    # upstream, a background child that keeps the pipes open is waited for.
    group = _ProcessGroup()
    finished = False
    try:
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    ["sh", "-c", command],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                    check=False,
                    start_new_session=True,
                    deliver_cancel=group.deliver_cancel,
                )
            )
            group.pid = process.pid
            assert process.stdout is not None and process.stderr is not None
            nursery.start_soon(stdout.drain, process.stdout)
            nursery.start_soon(stderr.drain, process.stderr)
        finished = True
    except* OSError as errors:
        raise HookError(
            f"cannot start exec command: {errors.exceptions[0]}"
        ) from errors
    finally:
        if not finished:
            # run_process only kills while the shell is alive; a background child
            # may still hold our pipes after the shell exited, so kill the group.
            group.kill()
    assert process.returncode is not None
    return process.returncode


@dataclass
class _ProcessGroup:
    """The hook's process group, killed at most once."""

    pid: int = 0
    killed: bool = False

    async def deliver_cancel(self, process: trio.Process) -> None:
        self.pid = process.pid
        self.kill()

    def kill(self) -> None:
        if not self.pid or self.killed:
            return
        self.killed = True
        # SIGKILL, no SIGTERM grace: a cancelled or timed-out hook gets no say in
        # how long shutdown or the next event waits. EPERM is macOS for a group of
        # zombies, ESRCH a group that is gone already.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class _CappedOutput:
    """The first ``OUTPUT_CAP`` bytes of a stream, and how many more there were."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.dropped = 0

    async def drain(self, stream: trio.abc.ReceiveStream) -> None:
        async with stream:
            async for chunk in stream:
                room = max(OUTPUT_CAP - len(self.kept), 0)
                self.kept += chunk[:room]
                self.dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        text = self.kept.decode(errors="replace").strip()
        if self.dropped:
            text += f" [... {self.dropped} more bytes not logged]"
        return text


def _write_temp_files(event: IncomingEvent) -> tuple[str, str]:
    payload = _write_temp_file("gosmee-payload-", event.body)
    try:
        headers = json.dumps(dict(event.headers), sort_keys=True).encode()
        return payload, _write_temp_file("gosmee-headers-", headers)
    except BaseException:
        _remove_files((payload,))
        raise


def _write_temp_file(prefix: str, data: bytes) -> str:
    # mkstemp creates the file 0600 with O_EXCL: payloads can carry secrets, and no
    # other local user may read the file or plant one under our name.
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".json")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _remove_files(paths: tuple[str, ...]) -> None:
    for path in paths:
        # The hook may have removed a file itself, which is its right.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _exit_reason(returncode: int) -> str:
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by signal {signal.Signals(-returncode).name}"
    except ValueError:  # real-time signals have no name
        return f"killed by signal {-returncode}"


def _log_fields(event: IncomingEvent) -> dict[str, object]:
    return {
        "event_type": event.event_type,
        "delivery_id": event.delivery_id,
        "stream_id": event.stream_id,
    }
