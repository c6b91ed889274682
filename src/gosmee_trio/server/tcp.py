"""Hypercorn's TCP server with a bound on writes to a peer that stopped reading.

NOTE: hypercorn 0.18 writes every chunk inside a shield with no deadline. A stream
subscriber that stops reading (a frozen laptop, a stuck proxy) fills the socket
buffer, and from then on that write never returns and cannot be cancelled: the
connection is never closed and graceful shutdown hangs forever. Here each write may
stall for at most ``STALL_TIMEOUT`` without progress; then the connection is closed.
"""

from __future__ import annotations

import logging

import hypercorn.trio.run
import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger(__name__)

# A peer that accepts no byte of a 64 KiB piece in 10 s reads slower than 6.4 KB/s
# or not at all; either way it cannot keep up with a relay and only holds memory.
STALL_TIMEOUT = 10.0
PIECE_BYTES = 64 * 1024


class StallSafeTCPServer(TCPServer):
    async def run(self) -> None:
        # NOTE: an exception escaping one connection's task ends hypercorn's whole
        # serve() (seen: h11 LocalProtocolError after a refused websocket handshake).
        # One bad connection is closed and logged; the server goes on.
        try:
            await super().run()
        except Exception:
            log.exception("connection failed; closing it")

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                await _send_with_progress(self.stream, event.data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, _Stalled):
                await self.stream.aclose()
                await self.protocol.handle(Closed())


class _Stalled(Exception):
    pass


async def _send_with_progress(stream: trio.abc.SendStream, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), PIECE_BYTES):
        # Shielded like hypercorn's own write (a cancelled write leaves half an HTTP
        # frame on the wire), but bounded.
        with trio.move_on_after(STALL_TIMEOUT, shield=True) as scope:
            await stream.send_all(view[start : start + PIECE_BYTES])
        if scope.cancelled_caught:
            raise _Stalled


def install() -> None:
    """Make hypercorn's trio worker use ``StallSafeTCPServer``."""
    setattr(hypercorn.trio.run, "TCPServer", StallSafeTCPServer)  # noqa: B010
