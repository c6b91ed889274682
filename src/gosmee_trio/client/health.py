"""The client's ``--health-port`` endpoint: is the stream alive, what got through.

``GET /health`` answers JSON for probes; ``GET /metrics`` the same figures and more
for Prometheus (``client/metrics.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gosmee_trio import __version__
from gosmee_trio.client.forwarder import RetryState

log = logging.getLogger(__name__)


@dataclass
class ClientCounters:
    """What the client has done so far; shown on ``/health``.

    ``stream_error`` is why the last connection to the stream ended or was refused
    (None while it is live); ``retrying`` the delivery being retried, if any.
    """

    state: str = "connecting"
    stream_error: str | None = None
    last_event_time: float | None = None
    reconnects: int = 0
    delivered: int = 0
    failed: int = 0
    dead_letters: int = 0
    hook_failures: int = 0
    retrying: RetryState | None = None

    @property
    def healthy(self) -> bool:
        return self.state == "live"


class HealthServer:
    """Serves ``GET /health``: 200 while the stream is live, 503 otherwise; and
    ``GET /metrics`` in Prometheus text format when given a registry.

    Args:
        port: TCP port on every interface, as upstream (probes come from outside).
        counters: a callable returning the current counters.
        registry: the client's metrics; without one ``/metrics`` is a 404.
    """

    def __init__(
        self, port: int, counters: Any, registry: CollectorRegistry | None = None
    ) -> None:
        self.port = port
        self._counters = counters
        self._registry = registry

    async def run(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; ``task_status.started(url)`` once listening."""
        config = Config()
        config.bind = [f"0.0.0.0:{self.port}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, self._app, config))  # type: ignore[arg-type]
            log.info("health endpoint listening", extra={"url": binds[0]})
            task_status.started(binds[0])

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        counters: ClientCounters = self._counters()
        if scope["path"] == "/metrics" and self._registry is not None:
            status, body = 200, generate_latest(self._registry)
            content_type = CONTENT_TYPE_LATEST.encode()
        elif scope["path"] != "/health":
            status, body = 404, b"404 page not found\n"
            content_type = b"text/plain; charset=utf-8"
        else:
            status = 200 if counters.healthy else 503
            report = {"version": __version__, "healthy": counters.healthy} | asdict(
                counters
            )
            body = json.dumps(report).encode() + b"\n"
            content_type = b"application/json"
        headers = [
            (b"content-type", content_type),
            (b"x-gosmee-version", __version__.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})
