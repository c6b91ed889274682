"""Benchmark the relay server: one JSON line per measurement on stdout.

Usage: ``.venv/bin/python bench/run.py [MEASUREMENT ...]`` (all when none named).

Each measurement gets a fresh ``gosmee-trio server`` subprocess pinned to core 0, so
one result never leaks memory or peak RSS into the next; the load generators run on
core 1 in this process. Progress and server warnings go to stderr.

Each line holds ``name``, ``value`` (the headline number), ``unit``, ``parameters``
(what was run) and ``stats`` (secondary results: raw readings, percentiles, the CPU
share the server and the bench used, and the server's WARNING and ERROR counts). A
``bench_cpu`` near 1.0 would mean the load generators, not the server, set the pace.
The exit status is 1 when any measurement failed; the others still report.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import traceback
from collections.abc import AsyncIterator

import trio

from _common import Measurement, progress
from _memory import big_webhook_rss, idle_subscriber_memory
from _server import SERVER_CORE, open_server, pinning_available
from _speed import fanout, latency_200rps, relay_throughput

MEASUREMENTS: dict[str, Measurement] = {
    "relay_throughput": relay_throughput,
    "fanout": fanout,
    "idle_subscriber_memory": idle_subscriber_memory,
    "latency_200rps": latency_200rps,
    "big_webhook_rss": big_webhook_rss,
}
# Each measurement takes seconds; this only stops a hung run.
MEASUREMENT_TIMEOUT = 120.0
# 2,000 SSE connections plus posters, on both ends; the server inherits the limit.
WANTED_FILES = 8192
LOAD_CORE = 1


def main() -> int:
    names = _parse_args()
    _raise_file_limit()
    if pinning_available():
        os.sched_setaffinity(0, {LOAD_CORE})
        progress(f"server on core {SERVER_CORE}, load generators on core {LOAD_CORE}")
    else:
        progress("taskset or a second core missing: server and load share cores")
    failed = ["KeyboardInterrupt"]
    try:
        failed = trio.run(_run_all, names)
    except* KeyboardInterrupt:
        progress("interrupted; the server was stopped")
    return 1 if failed else 0


def _parse_args() -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "measurements",
        nargs="*",
        metavar="MEASUREMENT",
        help=f"any of: {', '.join(MEASUREMENTS)} (default: all)",
    )
    names: list[str] = parser.parse_args().measurements or list(MEASUREMENTS)
    unknown = [name for name in names if name not in MEASUREMENTS]
    if unknown:
        known = ", ".join(MEASUREMENTS)
        parser.error(f"unknown measurement(s) {unknown!r}; expected some of {known}")
    return names


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_FILES if hard == resource.RLIM_INFINITY else min(WANTED_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        progress(f"raised RLIMIT_NOFILE soft limit from {soft} to {wanted}")


async def _run_all(names: list[str]) -> list[str]:
    failed: list[str] = []
    # SIGINT already arrives as KeyboardInterrupt; SIGTERM must stop the server too.
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signal, signals, nursery.cancel_scope, failed)
            await _run_measurements(names, failed)
            nursery.cancel_scope.cancel()
    if failed:
        progress(f"failed: {', '.join(failed)}")
    return failed


async def _stop_on_signal(
    signals: AsyncIterator[int], scope: trio.CancelScope, failed: list[str]
) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        progress(f"received {name}; stopping the server")
        failed.append(name)
        scope.cancel()
        return


async def _run_measurements(names: list[str], failed: list[str]) -> None:
    for name in names:
        progress(f"running {name}")
        try:
            line = await _run_one(name)
        except Exception as exc:  # report and go on with the other measurements
            traceback.print_exception(exc, file=sys.stderr)
            progress(f"{name} failed: {type(exc).__name__}: {exc}")
            failed.append(name)
            continue
        print(line, flush=True)


async def _run_one(name: str) -> str:
    async with open_server() as server:
        try:
            with trio.fail_after(MEASUREMENT_TIMEOUT):
                result = await MEASUREMENTS[name](server)
        finally:
            for line in server.log_tail():
                progress(f"server stderr: {line}")
        result.stats.update(server.log_summary())
        result.parameters["server_pinned"] = pinning_available()
    progress(f"{name}: {result.value:.3f} {result.unit}")
    return result.to_json()


if __name__ == "__main__":
    sys.exit(main())
