"""Exec hooks: behaviour cases 110-118 plus file modes, timeouts and cancellation."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest
import trio
import trio.testing

from gosmee_trio.client.hooks import (
    OUTPUT_CAP,
    HookConfig,
    HookResult,
    hook_environment,
    run_hook,
    should_run,
)
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.errors import HookError

# Bytes that survive no text round trip: NUL, invalid UTF-8, CR LF, no final newline.
BINARY_BODY = b'{"hello":"world"}\x00\xff\xfe\r\n\x80end'
# 2023-10-27T10:00:01Z, the moment behaviour case 111 expects.
TIMESTAMP_MS = int(datetime(2023, 10, 27, 10, 0, 1, tzinfo=UTC).timestamp() * 1000)


def _event(event_type: str = "push", body: bytes = BINARY_BODY) -> IncomingEvent:
    return IncomingEvent(
        stream_id="1698400801000-0",
        headers=(
            ("X-Github-Event", event_type),
            ("Content-Type", "application/json"),
            ("X-Github-Delivery", "delivery-123"),
        ),
        body=body,
        query=(),
        event_type=event_type,
        delivery_id="delivery-123",
        content_type="application/json",
        timestamp_ms=TIMESTAMP_MS,
    )


def _hook_files() -> set[str]:
    return {
        name
        for name in os.listdir(tempfile.gettempdir())
        if name.startswith(("gosmee-payload-", "gosmee-headers-"))
    }


async def _run(command: str) -> HookResult:
    with trio.fail_after(10):
        return await run_hook(HookConfig(command), _event())


def _all_removed(paths: list[str]) -> bool:
    return not any(os.path.exists(path) for path in paths)


def _env_of(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


async def test_hook_gets_exact_payload_bytes(tmp_path: Path) -> None:
    # case 110
    out = tmp_path / "payload"
    result = await _run(f'cp "$GOSMEE_PAYLOAD_FILE" {shlex.quote(str(out))}')

    assert result.ran and result.returncode == 0
    assert out.read_bytes() == BINARY_BODY


async def test_hook_env_describes_the_event(tmp_path: Path) -> None:
    # case 111
    out = tmp_path / "env"
    await _run(f"env > {shlex.quote(str(out))}")

    env = _env_of(out)
    assert env["GOSMEE_EVENT_TYPE"] == "push"
    assert env["GOSMEE_EVENT_ID"] == "delivery-123"
    assert env["GOSMEE_CONTENT_TYPE"] == "application/json"
    assert env["GOSMEE_TIMESTAMP"] == "2023-10-27T10.00.01.000"
    assert env["GOSMEE_STREAM_ID"] == "1698400801000-0"
    payload, headers = (
        Path(env["GOSMEE_PAYLOAD_FILE"]),
        Path(env["GOSMEE_HEADERS_FILE"]),
    )
    assert payload.parent == headers.parent == Path(tempfile.gettempdir())
    assert payload.name.startswith("gosmee-payload-") and payload.suffix == ".json"
    assert headers.name.startswith("gosmee-headers-") and headers.suffix == ".json"


async def test_hook_env_is_not_inherited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # case 112
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out = tmp_path / "env"
    await _run(f"env > {shlex.quote(str(out))}")

    env = _env_of(out)
    assert env["PATH"] == "/usr/bin:/bin"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "hunter2" not in out.read_text()


async def test_hook_headers_file_is_sorted_json(tmp_path: Path) -> None:
    # case 113
    out = tmp_path / "headers"
    await _run(f'cp "$GOSMEE_HEADERS_FILE" {shlex.quote(str(out))}')

    headers = json.loads(out.read_bytes())
    assert headers["X-Github-Event"] == "push"
    assert list(headers) == sorted(headers)
    assert headers == {
        "Content-Type": "application/json",
        "X-Github-Delivery": "delivery-123",
        "X-Github-Event": "push",
    }


async def test_hook_temp_files_are_private_while_it_runs(tmp_path: Path) -> None:
    out = tmp_path / "modes"
    await _run(
        f'ls -l "$GOSMEE_PAYLOAD_FILE" "$GOSMEE_HEADERS_FILE" > {shlex.quote(str(out))}'
    )

    modes = [line.split()[0] for line in out.read_text().splitlines()]
    assert modes == ["-rw-------", "-rw-------"]


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param("exit 0", id="success"),
        pytest.param("exit 1", id="failure"),
        pytest.param('rm "$GOSMEE_PAYLOAD_FILE"', id="hook-removed-one"),
    ],
)
async def test_hook_temp_files_are_removed(tmp_path: Path, ending: str) -> None:
    # case 114
    out = tmp_path / "paths"
    record = (
        f'echo "$GOSMEE_PAYLOAD_FILE" "$GOSMEE_HEADERS_FILE" > {shlex.quote(str(out))}'
    )
    command = f"{record}; {ending}"
    with contextlib.suppress(HookError):
        await _run(command)

    paths = out.read_text().split()
    assert len(paths) == 2
    assert _all_removed(paths)


@pytest.mark.parametrize(
    ("command", "returncode", "message"),
    [
        pytest.param("exit 1", 1, r"^exec command failed: exit status 1$", id="exit-1"),
        pytest.param("exit 3", 3, r"^exec command failed: exit status 3$", id="exit-3"),
        pytest.param(
            "kill -9 $$",
            -9,
            r"^exec command failed: killed by signal SIGKILL$",
            id="signal",
        ),
        pytest.param(
            "kill -35 $$",
            -35,
            r"^exec command failed: killed by signal 35$",
            id="nameless-real-time-signal",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="Linux signal number"
            ),
        ),
    ],
)
async def test_hook_failure_raises(command: str, returncode: int, message: str) -> None:
    # case 115
    with pytest.raises(HookError, match=message) as caught:
        await _run(command)
    assert caught.value.returncode == returncode


async def test_hook_that_cannot_start_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hook's PATH is the client's, so an empty one leaves no ``sh`` to run.
    monkeypatch.setenv("PATH", "/nonexistent")
    before = _hook_files()
    with pytest.raises(
        HookError, match=r"^cannot start exec command: .*'sh'"
    ) as caught:
        await _run("true")
    assert caught.value.returncode is None
    assert _hook_files() <= before


async def test_hook_temp_dir_missing_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(
        HookError, match=r"^cannot write the exec temp files: "
    ) as caught:
        await _run("true")
    assert caught.value.returncode is None


async def test_hook_payload_file_removed_when_headers_file_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[str] = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp_once(prefix: str, suffix: str) -> tuple[int, str]:
        if created:
            raise OSError(28, "No space left on device")
        fd, path = real_mkstemp(prefix=prefix, suffix=suffix, dir=tmp_path)
        created.append(path)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_once)
    with pytest.raises(HookError, match=r"^cannot write the exec temp files: .*space"):
        await _run("true")
    assert len(created) == 1 and _all_removed(created)


@pytest.mark.parametrize(
    ("on_events", "event_type", "runs"),
    [
        pytest.param(("push",), "push", True, id="listed"),
        pytest.param(("pull_request",), "push", False, id="not-listed"),
        pytest.param(("push",), "", False, id="no-event-type"),
        pytest.param((), "push", True, id="no-filter"),
        pytest.param((), "", True, id="no-filter-no-event-type"),
        pytest.param(("pull_request", "push", "issues"), "push", True, id="in-list"),
        pytest.param(("repo:push",), "repo:push", True, id="full-bitbucket-name"),
        pytest.param(("repo",), "repo:push", False, id="no-prefix-match"),
        pytest.param(("merge_request_hook",), "Merge Request Hook", True, id="safe"),
    ],
)
def test_should_run_filters_by_event_type(
    on_events: tuple[str, ...], event_type: str, runs: bool
) -> None:
    # case 116
    config = HookConfig("exit 1", on_events=on_events)
    assert should_run(config, _event(event_type)) is runs


async def test_hook_filtered_out_is_skipped_without_error() -> None:
    # case 116: the command would fail, but it never runs.
    config = HookConfig("exit 1", on_events=("pull_request",))
    with trio.fail_after(10):
        result = await run_hook(config, _event("push"))
    assert result == HookResult(ran=False, returncode=None, duration_ms=0)


async def test_hook_stderr_only_is_success_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # case 117
    caplog.set_level(logging.INFO, logger="gosmee_trio.client.hooks")
    result = await _run("echo '  something odd  ' >&2")

    assert result.ran and result.returncode == 0 and result.duration_ms >= 0
    output, done = caplog.records
    assert output.getMessage() == "exec stderr: something odd"
    assert (output.event_type, output.delivery_id, output.stream_id) == (  # type: ignore[attr-defined]
        "push",
        "delivery-123",
        "1698400801000-0",
    )
    assert done.getMessage() == "exec command completed successfully for event push"
    assert done.duration_ms == result.duration_ms  # type: ignore[attr-defined]


async def test_hook_output_in_the_log_is_capped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gosmee_trio.client.hooks")
    size = 4 * OUTPUT_CAP
    await _run(f"dd if=/dev/zero bs=1024 count={size // 1024} 2>/dev/null | tr '\\0' x")

    (output,) = [r for r in caplog.records if "exec stdout" in r.getMessage()]
    kept, marker = output.getMessage().removeprefix("exec stdout: ").split(" ", 1)
    assert len(kept) == OUTPUT_CAP and set(kept) == {"x"}
    assert marker == f"[... {size - OUTPUT_CAP} more bytes not logged]"


def test_hook_environment_allowlist() -> None:
    # case 118
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_MESSAGES": "C",
        "AWS_SECRET_ACCESS_KEY": "hunter2",
        "CUSTOM_EXTRA": "yes",
    }
    config = HookConfig("true", env_vars=("CUSTOM_EXTRA", "MISSING_EXTRA"))
    env = hook_environment(parent, config, _event(), "/tmp/p.json", "/tmp/h.json")

    assert {k: v for k, v in env.items() if not k.startswith("GOSMEE_")} == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_MESSAGES": "C",
        "CUSTOM_EXTRA": "yes",
    }
    assert env["GOSMEE_PAYLOAD_FILE"] == "/tmp/p.json"
    assert env["GOSMEE_HEADERS_FILE"] == "/tmp/h.json"


def test_hook_environment_gosmee_names_win_over_passed_through() -> None:
    parent = {"GOSMEE_EVENT_TYPE": "forged"}
    config = HookConfig("true", env_vars=("GOSMEE_EVENT_TYPE",))
    env = hook_environment(parent, config, _event(), "p", "h")
    assert env["GOSMEE_EVENT_TYPE"] == "push"


# Hooks that leave a grandchild behind. It reports its pid and the temp files through
# a FIFO and keeps the FIFO open until it dies, so EOF on our end proves it is dead.
# "& wait": the shell is still alive when the hook is stopped. "&": the shell has
# exited and only the grandchild, holding the hook's stderr pipe, is left.
_GRANDCHILD = (
    'sh -c \'echo $$ "$GOSMEE_PAYLOAD_FILE" "$GOSMEE_HEADERS_FILE";'
    " exec sleep 100' > {fifo} &"
)
_LEFTOVERS = [
    pytest.param(_GRANDCHILD + " wait", id="shell-waiting"),
    pytest.param(_GRANDCHILD, id="shell-exited"),
]


class _Grandchild:
    """Our end of the FIFO a hook's grandchild holds open while it lives."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.quoted = shlex.quote(str(fifo))
        self.pid = 0
        self.paths: list[str] = []
        self._reader: BinaryIO | None = None

    async def wait_started(self) -> None:
        self._reader = await trio.to_thread.run_sync(
            self.fifo.open, "rb", abandon_on_cancel=True
        )
        line = await trio.to_thread.run_sync(
            self._reader.readline, abandon_on_cancel=True
        )
        pid, *self.paths = line.decode().split()
        self.pid = int(pid)

    async def wait_dead(self) -> None:
        assert self._reader is not None
        rest = await trio.to_thread.run_sync(self._reader.read, abandon_on_cancel=True)
        self._reader.close()
        assert rest == b""
        await _wait_exited(self.pid)


async def _wait_exited(pid: int) -> None:
    """Return once ``pid`` has exited; a zombie init has not reaped yet counts."""
    if not hasattr(os, "pidfd_open"):
        return  # not Linux: EOF on the FIFO is the proof we have
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


@pytest.fixture
def grandchild(tmp_path: Path) -> _Grandchild:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return _Grandchild(fifo)


@pytest.mark.parametrize("template", _LEFTOVERS)
async def test_hook_timeout_kills_the_whole_group(
    mock_clock: trio.testing.MockClock, grandchild: _Grandchild, template: str
) -> None:
    # The mock clock only moves when we say so: the timeout fires after the
    # grandchild has started, never before. (fail_after runs on that clock too;
    # pytest-timeout is the wall-clock guard here.)
    config = HookConfig(template.format(fifo=grandchild.quoted), timeout=30)

    async def run() -> None:
        with pytest.raises(HookError, match=r"^exec command timed out after 30s$"):
            await run_hook(config, _event())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await grandchild.wait_started()
            mock_clock.jump(30)
            await grandchild.wait_dead()

    assert _all_removed(grandchild.paths)


@pytest.mark.parametrize("template", _LEFTOVERS)
async def test_hook_cancelled_kills_the_whole_group(
    grandchild: _Grandchild, template: str
) -> None:
    config = HookConfig(template.format(fifo=grandchild.quoted))
    finished = trio.Event()

    async def run(scope: trio.CancelScope) -> None:
        with scope:
            await run_hook(config, _event())
        finished.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()
            nursery.start_soon(run, scope)
            await grandchild.wait_started()
            scope.cancel()
            await finished.wait()
            await grandchild.wait_dead()

    assert scope.cancelled_caught
    assert _all_removed(grandchild.paths)
