"""Talk to systemd's service manager without libsystemd: readiness and the watchdog.

The notify protocol is one datagram of newline-separated ``KEY=VALUE`` lines sent to
the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET``: a file system path, or ``@name``
for a socket in the abstract namespace. Outside systemd the variable is unset and
every call here is a cheap no-op, so the commands call them unconditionally.
https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html

The messages we send:

- ``READY=1`` (with ``STATUS=``) once the command is really up, for ``Type=notify``;
- ``STOPPING=1`` when a graceful shutdown begins;
- ``WATCHDOG=1`` every half ``WatchdogSec=`` while the process is healthy.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

import trio

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (``KEY=VALUE`` lines) to systemd.

    Returns:
        True when the datagram was sent. False when not run by systemd with a
        notify socket (nothing to do) or when sending failed, which is logged at
        WARNING and never raised: a lost status message must not stop the relay.
    """
    address = _socket_address(os.environ.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # A full receive queue on systemd's side must never stall the event loop:
            # the datagram is dropped instead, and the next ping tries again.
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as exc:
        first_line = state.partition("\n")[0]
        log.warning("cannot send %s to systemd: %s", first_line, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """The watchdog timeout systemd expects pings within, in seconds.

    Read from ``$WATCHDOG_USEC``. None when no watchdog is set, or when
    ``$WATCHDOG_PID`` names another process (the variables were inherited from a
    parent that systemd is watching, not meant for us).
    """
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


async def feed_watchdog(healthy: Callable[[], bool]) -> None:
    """Send ``WATCHDOG=1`` every half watchdog interval while ``healthy()`` is true.

    What "healthy" means, and what it does not: the pings are sent by a Trio task,
    so they only go out while the event loop is scheduling tasks. A loop wedged by a
    blocking call or a busy loop sends none, and systemd restarts the service; that
    is the failure this catches. ``healthy()`` adds what the caller knows on top
    (the server: the broker is still open and no shutdown has begun). It does not
    prove that every request is answered: a peer that is merely slow, or a stream
    that is down and reconnecting, is not a reason to restart the process.

    Returns at once when systemd set no watchdog; otherwise runs until cancelled.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    log.debug("feeding the systemd watchdog every %.1fs", interval / 2)
    while True:
        if healthy():
            notify("WATCHDOG=1")
        # Half the timeout, as sd_watchdog_enabled(3) advises: one late wake-up of
        # the loop (a long garbage collection, say) does not cost a restart.
        await trio.sleep(interval / 2)


def _socket_address(name: str) -> str | None:
    if name.startswith("@"):
        # NOTE: systemd writes the abstract namespace's leading NUL byte as "@".
        return "\0" + name[1:]
    if name.startswith("/"):
        return name
    # Unset, or a transport we do not speak (systemd 253+ also allows "vsock:").
    return None
