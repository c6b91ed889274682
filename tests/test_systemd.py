"""sd_notify against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from gosmee_trio import systemd


class FakeSystemd:
    """The receiving end of ``$NOTIFY_SOCKET``: a bound datagram socket."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name

    def messages(self) -> list[str]:
        """Every datagram received so far, without waiting."""
        found = []
        while True:
            try:
                found.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return found


@pytest.fixture(params=["path", "abstract"])
def fake_systemd(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSystemd]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if request.param == "path":
            name = str(tmp_path / "notify")
            sock.bind(name)
        else:
            name = f"@gosmee-trio-test-{uuid.uuid4().hex}"
            sock.bind("\0" + name[1:])
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        yield FakeSystemd(sock, name)


def test_notify_sends_one_datagram_to_the_socket(fake_systemd: FakeSystemd) -> None:
    assert systemd.notify("READY=1\nSTATUS=Serving for webhooks on http://x")
    assert fake_systemd.messages() == [
        "READY=1\nSTATUS=Serving for webhooks on http://x"
    ]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="unset"),
        pytest.param("", id="empty"),
        pytest.param("vsock:2:1234", id="vsock-not-supported"),
        pytest.param("relative/path", id="relative-path"),
    ],
)
def test_notify_is_a_no_op_without_a_usable_socket(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert not systemd.notify("READY=1")


def test_notify_failure_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, logger="gosmee_trio.systemd"):
        assert not systemd.notify("WATCHDOG=1\nSTATUS=x")
    [record] = caplog.records
    assert record.getMessage().startswith("cannot send WATCHDOG=1 to systemd: ")


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        pytest.param("30000000", None, 30.0, id="usec-only"),
        pytest.param("500000", "self", 0.5, id="pid-is-us"),
        pytest.param("30000000", "1", None, id="pid-is-another-process"),
        pytest.param(None, None, None, id="unset"),
        pytest.param("0", None, None, id="zero"),
        pytest.param("soon", None, None, id="not-a-number"),
    ],
)
def test_watchdog_interval_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    usec: str | None,
    pid: str | None,
    expected: float | None,
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)
    assert systemd.watchdog_interval() == expected


async def test_feed_watchdog_pings_at_half_the_interval_while_healthy(
    fake_systemd: FakeSystemd,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.testing.MockClock,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    healthy = True
    async with trio.open_nursery() as nursery:
        nursery.start_soon(systemd.feed_watchdog, lambda: healthy)
        await trio.sleep(3.5)  # pings at 0, 1, 2 and 3 s
        assert fake_systemd.messages() == ["WATCHDOG=1"] * 4
        healthy = False
        await trio.sleep(3)
        assert fake_systemd.messages() == []
        healthy = True
        await trio.sleep(1)
        assert fake_systemd.messages() == ["WATCHDOG=1"]
        nursery.cancel_scope.cancel()


async def test_feed_watchdog_returns_at_once_without_a_watchdog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    with trio.fail_after(1):
        await systemd.feed_watchdog(lambda: True)
