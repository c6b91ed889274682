"""What every measurement shares: results, bodies, subscriber and poster fleets."""

from __future__ import annotations

import json
import math
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from _load import Poster, SseSubscriber
from _server import ServerProcess

KIB = 1024
# Connects in flight at once when opening many subscribers: well under the server's
# listen backlog of 4096, so no SYN is dropped and retried after a second.
CONNECT_CONCURRENCY = 64
# Webhooks sent before measuring, so imports, caches and first-request work done
# lazily by quart and hypercorn are not counted.
WARM_UP_EVENTS = 200


@dataclass
class Result:
    """One measurement: a headline number plus what produced it."""

    name: str
    value: float
    unit: str
    parameters: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "value": round(self.value, 3),
                "unit": self.unit,
                "parameters": self.parameters,
                "stats": self.stats,
            },
            separators=(",", ":"),
        )


Measurement = Callable[[ServerProcess], Awaitable[Result]]


class CpuMeter:
    """CPU use of the server and of this process over a window, as core fractions.

    A load generator near 1.0 would mean the bench, not the server, set the pace.
    """

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self._start = (time.perf_counter(), server.cpu_seconds(), time.process_time())

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._start[0]
        server = self._server.cpu_seconds() - self._start[1]
        bench = time.process_time() - self._start[2]
        return {
            "server_cpu": round(server / wall, 2),
            "bench_cpu": round(bench / wall, 2),
        }


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def new_channel() -> str:
    return "bench-" + secrets.token_hex(8)


def json_body(size: int, **fields: object) -> bytes:
    """A JSON object of exactly ``size`` bytes: ``fields`` plus padding."""
    head = json.dumps(fields, separators=(",", ":"))[:-1]
    filler = size - len(head) - len('"pad":""}') - (1 if fields else 0)
    if filler < 0:
        raise ValueError(f"expected room for the fields in {size} bytes, got {head!r}")
    sep = "," if fields else ""
    return f'{head}{sep}"pad":"{"x" * filler}"}}'.encode()


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def elapsed_s(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1e9


async def open_subscribers(
    nursery: trio.Nursery, port: int, channel: str, count: int, *, expect: int = 0
) -> list[SseSubscriber]:
    """Open ``count`` subscribers and return once every one has seen ``ready``."""
    subscribers = [SseSubscriber(port, channel, expect=expect) for _ in range(count)]
    limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)

    async def start_one(subscriber: SseSubscriber) -> None:
        async with limiter:
            await nursery.start(subscriber.run)

    async with trio.open_nursery() as starters:
        for subscriber in subscribers:
            starters.start_soon(start_one, subscriber)
    return subscribers


async def post_many(
    port: int, channel: str, total: int, posters: int, body: bytes
) -> int:
    """POST ``body`` ``total`` times over ``posters`` connections; count non-202s."""
    failures = 0

    async def post_share(share: int) -> None:
        nonlocal failures
        poster = Poster(port, channel)
        try:
            for _ in range(share):
                if await poster.post(body) != 202:
                    failures += 1
        finally:
            poster.close()

    async with trio.open_nursery() as nursery:
        for index in range(posters):
            nursery.start_soon(post_share, total // posters + (index < total % posters))
    return failures


async def wait_finished(subscribers: Sequence[SseSubscriber]) -> int:
    """Wait for every subscriber to finish; return the last one's finish time.

    Raises:
        RuntimeError: when a subscriber saw a gap, i.e. the server dropped events.
    """
    for subscriber in subscribers:
        await subscriber.finished.wait()
    lost = [s for s in subscribers if s.gaps or s.events < s.expect]
    if lost:
        first = lost[0]
        raise RuntimeError(
            f"expected {first.expect} events per subscriber without gaps, but "
            f"{len(lost)} subscriber(s) fell short, e.g. {first.events} events "
            f"and {first.gaps} gap(s)"
        )
    return max((s.finished_ns for s in subscribers), default=time.perf_counter_ns())


async def warm_up(server: ServerProcess) -> None:
    """Push a few hundred small webhooks through one subscriber, then let go."""
    channel = new_channel()
    async with trio.open_nursery() as nursery:
        subscribers = await open_subscribers(
            nursery, server.port, channel, 1, expect=WARM_UP_EVENTS
        )
        await post_many(server.port, channel, WARM_UP_EVENTS, 4, json_body(KIB))
        await wait_finished(subscribers)
        nursery.cancel_scope.cancel()
    # Give the server a moment to run its disconnect paths before anything is read.
    await trio.sleep(0.2)


def now_ns() -> int:
    return time.perf_counter_ns()
