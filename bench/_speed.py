"""Speed measurements: relay throughput, fan-out, and latency at a fixed rate."""

from __future__ import annotations

import base64
import json

import trio

from _common import (
    KIB,
    CpuMeter,
    Result,
    elapsed_s,
    json_body,
    new_channel,
    now_ns,
    open_subscribers,
    percentile,
    post_many,
    wait_finished,
    warm_up,
)
from _load import Poster, SseSubscriber
from _server import ServerProcess

THROUGHPUT_EVENTS = 5000
THROUGHPUT_POSTERS = 8
FANOUT_SUBSCRIBERS = 50
# 2000 events x 50 subscribers is 100k deliveries: several seconds at the target.
FANOUT_EVENTS = 2000
FANOUT_POSTERS = 8
LATENCY_RATE = 200.0  # webhooks per second
LATENCY_SECONDS = 10.0
# Connections sharing the schedule, so one slow reply does not delay the next send
# (an open-loop load, free of coordinated omission up to a 20 ms reply).
LATENCY_POSTERS = 4
LATENCY_DEFINITION = (
    "subscriber receive time minus POST send time, both time.perf_counter_ns in "
    "the bench process; the send time travels in the webhook body"
)


async def relay_throughput(server: ServerProcess) -> Result:
    """Events per second one subscriber receives from several concurrent posters."""
    await warm_up(server)
    channel = new_channel()
    async with trio.open_nursery() as nursery:
        subscribers = await open_subscribers(
            nursery, server.port, channel, 1, expect=THROUGHPUT_EVENTS
        )
        meter = CpuMeter(server)
        start = now_ns()
        failures = await post_many(
            server.port, channel, THROUGHPUT_EVENTS, THROUGHPUT_POSTERS, json_body(KIB)
        )
        posted = now_ns()
        end = await wait_finished(subscribers)
        cpu = meter.stop()
        nursery.cancel_scope.cancel()
    seconds = elapsed_s(start, end)
    return Result(
        "relay_throughput",
        THROUGHPUT_EVENTS / seconds,
        "events/s",
        {
            "events": THROUGHPUT_EVENTS,
            "posters": THROUGHPUT_POSTERS,
            "subscribers": 1,
            "body_bytes": KIB,
        },
        {
            "elapsed_s": round(seconds, 3),
            "post_rate": round(THROUGHPUT_EVENTS / elapsed_s(start, posted), 1),
            "non_202": failures,
            **cpu,
        },
    )


async def fanout(server: ServerProcess) -> Result:
    """Deliveries per second from one channel to many subscribers."""
    await warm_up(server)
    channel = new_channel()
    async with trio.open_nursery() as nursery:
        subscribers = await open_subscribers(
            nursery, server.port, channel, FANOUT_SUBSCRIBERS, expect=FANOUT_EVENTS
        )
        meter = CpuMeter(server)
        start = now_ns()
        failures = await post_many(
            server.port, channel, FANOUT_EVENTS, FANOUT_POSTERS, json_body(KIB)
        )
        posted = now_ns()
        end = await wait_finished(subscribers)
        cpu = meter.stop()
        nursery.cancel_scope.cancel()
    seconds = elapsed_s(start, end)
    return Result(
        "fanout",
        FANOUT_EVENTS * FANOUT_SUBSCRIBERS / seconds,
        "deliveries/s",
        {
            "events": FANOUT_EVENTS,
            "subscribers": FANOUT_SUBSCRIBERS,
            "posters": FANOUT_POSTERS,
            "body_bytes": KIB,
        },
        {
            "elapsed_s": round(seconds, 3),
            "events_per_s": round(FANOUT_EVENTS / seconds, 1),
            "post_rate": round(FANOUT_EVENTS / elapsed_s(start, posted), 1),
            "non_202": failures,
            **cpu,
        },
    )


class _LatencyRecorder:
    """Turns received frames into latencies using the send time in each body."""

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []

    def on_frame(self, frame: bytes, received_ns: int) -> None:
        if not frame.startswith(b"id: "):
            return  # control frames, keepalives
        data = frame[frame.index(b"\ndata: ") + len(b"\ndata: ") :]
        body = json.loads(base64.b64decode(json.loads(data)["bodyB"]))
        self.latencies_ns.append(received_ns - body["sent_ns"])


async def latency_200rps(server: ServerProcess) -> Result:
    """Latency from POST to subscriber at a fixed, moderate webhook rate."""
    await warm_up(server)
    channel = new_channel()
    total = int(LATENCY_RATE * LATENCY_SECONDS)
    recorder = _LatencyRecorder()
    replies_ns: list[int] = []
    late_ns: list[int] = []
    async with trio.open_nursery() as nursery:
        subscriber = SseSubscriber(
            server.port, channel, expect=total, on_frame=recorder.on_frame
        )
        await nursery.start(subscriber.run)
        first = trio.current_time() + 0.1
        meter = CpuMeter(server)

        async def post_share(index: int) -> None:
            poster = Poster(server.port, channel)
            try:
                for seq in range(index, total, LATENCY_POSTERS):
                    scheduled = first + seq / LATENCY_RATE
                    await trio.sleep_until(scheduled)
                    late_ns.append(int((trio.current_time() - scheduled) * 1e9))
                    sent = now_ns()
                    body = json_body(KIB, seq=seq, sent_ns=sent)
                    if await poster.post(body) != 202:
                        raise RuntimeError(f"expected 202 for webhook {seq}")
                    replies_ns.append(now_ns() - sent)
            finally:
                poster.close()

        async with trio.open_nursery() as posters:
            for index in range(LATENCY_POSTERS):
                posters.start_soon(post_share, index)
        await wait_finished([subscriber])
        cpu = meter.stop()
        nursery.cancel_scope.cancel()
    result = _latency_result(recorder.latencies_ns, replies_ns, late_ns)
    result.stats.update(cpu)
    return result


def _latency_result(
    latencies_ns: list[int], replies_ns: list[int], late_ns: list[int]
) -> Result:
    ms = sorted(value / 1e6 for value in latencies_ns)
    replies = sorted(value / 1e6 for value in replies_ns)
    return Result(
        "latency_200rps",
        percentile(ms, 99),
        "ms",
        {
            "rate_per_s": LATENCY_RATE,
            "duration_s": LATENCY_SECONDS,
            "posters": LATENCY_POSTERS,
            "subscribers": 1,
            "body_bytes": KIB,
            "value_is": "p99",
            "definition": LATENCY_DEFINITION,
        },
        {
            "samples": len(ms),
            "p50_ms": round(percentile(ms, 50), 3),
            "p90_ms": round(percentile(ms, 90), 3),
            "p99_ms": round(percentile(ms, 99), 3),
            "max_ms": round(ms[-1], 3),
            "reply_p50_ms": round(percentile(replies, 50), 3),
            "reply_p99_ms": round(percentile(replies, 99), 3),
            "send_late_max_ms": round(max(late_ns) / 1e6, 3),
        },
    )
