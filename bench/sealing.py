"""Micro-benchmark of sealing frames for protected-channel subscribers.

Usage: ``.venv/bin/python bench/sealing.py``

Times ``seal_frame`` (re-encoding one event frame as an envelope for one subscriber)
for 1 KiB, 1 MiB and 25 MiB payloads, and reports the longest time the event loop
would be held for one 25 MiB event sent to 10 subscribers when sealing runs on the
loop versus in worker threads (what the server does past 256 KiB).
"""

from __future__ import annotations

import json
import os
import statistics
import time

import trio
import trio.lowlevel
from nacl.public import PrivateKey

from gosmee_trio.server.sealing import THREAD_SEAL_BYTES, seal_frame, seal_frames
from gosmee_trio.wire import build_event

KIB = 1024
MIB = 1024 * KIB
RUNS = {KIB: 2000, MIB: 20, 25 * MIB: 3}


def _frame(size: int) -> bytes:
    body = os.urandom(size)
    headers = [(b"content-type", b"application/octet-stream")]
    return build_event("bench-channel", (1, 0), headers, b"", [body], 1).frame


def seal_cost(size: int) -> dict[str, object]:
    frame = _frame(size)
    recipient = PrivateKey.generate().public_key
    times = []
    for _ in range(RUNS[size]):
        start = time.perf_counter_ns()
        seal_frame(frame, recipient)
        times.append((time.perf_counter_ns() - start) / 1000)
    median = statistics.median(times)
    return {
        "name": "seal_frame",
        "value": round(median, 1),
        "unit": "us",
        "parameters": {"payload_bytes": size, "runs": RUNS[size]},
        "stats": {"mib_per_s": round(len(frame) / MIB / (median / 1e6), 1)},
    }


async def _longest_stall(subscribers: int, threaded: bool) -> float:
    frame = _frame(25 * MIB)
    keys = [PrivateKey.generate().public_key for _ in range(subscribers)]
    limiter = trio.CapacityLimiter(1)
    longest = 0.0
    done = trio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await trio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    async def seal_all() -> None:
        async with trio.open_nursery() as nursery:
            for key in keys:
                if threaded:
                    nursery.start_soon(seal_frames, [frame], key, limiter)
                else:
                    nursery.start_soon(_seal_inline, frame, key)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        nursery.start_soon(seal_all)
    return longest * 1000


async def _seal_inline(frame: bytes, key: object) -> None:
    seal_frame(frame, key)  # type: ignore[arg-type]
    await trio.lowlevel.checkpoint()


def main() -> int:
    for size in (KIB, MIB, 25 * MIB):
        print(json.dumps(seal_cost(size)), flush=True)
    for threaded in (False, True):
        stall = trio.run(_longest_stall, 10, threaded)
        result = {
            "name": "seal_25mib_to_10_subscribers_longest_loop_stall",
            "value": round(stall, 1),
            "unit": "ms",
            "parameters": {
                "sealing": "worker threads" if threaded else "on the event loop",
                "thread_threshold_bytes": THREAD_SEAL_BYTES,
            },
        }
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
