"""Memory measurements: idle subscribers, and one very large webhook."""

from __future__ import annotations

import trio

from _common import (
    KIB,
    Result,
    elapsed_s,
    json_body,
    new_channel,
    now_ns,
    open_subscribers,
    post_many,
    wait_finished,
    warm_up,
)
from _server import ServerProcess

IDLE_SUBSCRIBERS = 2000
# Let the server finish whatever bookkeeping follows the last ready frame.
SETTLE_SECONDS = 1.0
BIG_SUBSCRIBERS = 10
# Just under the server's default --max-body-size of 26214400 bytes (25 MiB).
BIG_BODY_BYTES = 25 * 1024 * 1024 - 4096


async def idle_subscriber_memory(server: ServerProcess) -> Result:
    """Server RSS growth per idle SSE connection, in KiB."""
    await warm_up(server)
    await trio.sleep(SETTLE_SECONDS)
    before = server.memory_kib()["VmRSS"]
    async with trio.open_nursery() as nursery:
        start = now_ns()
        await open_subscribers(nursery, server.port, new_channel(), IDLE_SUBSCRIBERS)
        opened = now_ns()
        await trio.sleep(SETTLE_SECONDS)
        after = server.memory_kib()["VmRSS"]
        nursery.cancel_scope.cancel()
    return Result(
        "idle_subscriber_memory",
        (after - before) / IDLE_SUBSCRIBERS,
        "KiB/connection",
        {
            "connections": IDLE_SUBSCRIBERS,
            "measure": "VmRSS after every connection saw ready, minus VmRSS before",
        },
        {
            "rss_before_kib": before,
            "rss_after_kib": after,
            "open_s": round(elapsed_s(start, opened), 3),
        },
    )


async def big_webhook_rss(server: ServerProcess) -> Result:
    """Peak server RSS growth for one huge webhook, as a multiple of its size."""
    await warm_up(server)
    await trio.sleep(SETTLE_SECONDS)
    channel = new_channel()
    body = json_body(BIG_BODY_BYTES)
    async with trio.open_nursery() as nursery:
        subscribers = await open_subscribers(
            nursery, server.port, channel, BIG_SUBSCRIBERS, expect=1
        )
        before = server.memory_kib()
        peak_reset = server.reset_peak()
        start = now_ns()
        failures = await post_many(server.port, channel, 1, 1, body)
        end = await wait_finished(subscribers)
        after = server.memory_kib()
        nursery.cancel_scope.cancel()
    growth = (after["VmHWM"] - before["VmRSS"]) * KIB
    return Result(
        "big_webhook_rss",
        growth / len(body),
        "x payload",
        {
            "body_bytes": len(body),
            "subscribers": BIG_SUBSCRIBERS,
            "measure": "(VmHWM after delivery - VmRSS before) / body size",
        },
        {
            "rss_before_kib": before["VmRSS"],
            "hwm_before_kib": before["VmHWM"],
            "hwm_after_kib": after["VmHWM"],
            "rss_after_kib": after["VmRSS"],
            "peak_reset": peak_reset,
            "delivered_s": round(elapsed_s(start, end), 3),
            "non_202": failures,
        },
    )
