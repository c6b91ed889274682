"""A tiny TCP load balancer for tests: each new connection goes to the first backend
that accepts it, and bytes are copied both ways until either side closes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import trio


@dataclass
class Balancer:
    """Forwards to ``backends`` (loopback ports) in order of preference.

    ``routes`` records the backend port each accepted connection was sent to, so a
    test can tell that a client really moved from one replica to another.
    """

    backends: list[int]
    routes: list[int] = field(default_factory=list)
    port: int = 0

    async def run(self, *, task_status: trio.TaskStatus[int]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_listeners, self._forward, listeners))
            task_status.started(self.port)

    async def _forward(self, downstream: trio.SocketStream) -> None:
        upstream = await self._connect()
        if upstream is None:
            await downstream.aclose()
            return
        async with downstream, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._copy, downstream, upstream, nursery.cancel_scope)
            nursery.start_soon(self._copy, upstream, downstream, nursery.cancel_scope)

    async def _connect(self) -> trio.SocketStream | None:
        for port in self.backends:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                continue  # that backend is down: try the next one
            self.routes.append(port)
            return stream
        return None

    @staticmethod
    async def _copy(
        source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope
    ) -> None:
        # Either side closing or failing (a killed backend resets its sockets) ends
        # the whole connection, as a real balancer would.
        try:
            async for chunk in source:
                await sink.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()
