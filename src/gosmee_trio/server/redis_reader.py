"""The one reader task per process in Redis mode.

It keeps a single blocking ``XREAD`` open over the streams of every channel that has
a subscriber on this process, and hands each new entry to those subscribers' queues.
When a channel gains its first subscriber, the XREAD in flight is cancelled and
issued again with the new set, on a new connection. So a process holds one blocking
connection to Redis however many streams it serves, plus the pooled ones for
publishing and catch-up.

When Redis fails, the open streams end (clients resume with their last id), the
failure is reported through ``RedisBroker.problem`` for ``/health``, and the reader
pings Redis with growing pauses until it answers again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import coredis
import trio
from coredis.exceptions import ResponseError

from gosmee_trio.errors import first_leaf
from gosmee_trio.events import format_stream_id, parse_stream_id
from gosmee_trio.server.redis_client import READER_NAME
from gosmee_trio.server.redis_entries import (
    COMMAND_TIMEOUT,
    REDIS_ERRORS,
    channel_of,
    describe,
    event_of,
    stream_key,
    text_of,
)

if TYPE_CHECKING:
    from gosmee_trio.server.redis_broker import RedisBroker

log = logging.getLogger(__name__)

# Entries per stream per XREAD, as upstream.
READ_COUNT = 100
# How long one XREAD blocks before it is issued again (ms). Upstream blocks 30 s; a
# shorter block lets the deadline below notice a hung Redis within seconds.
READ_BLOCK_MS = 5_000
# How long past its blocking time an XREAD may go unanswered before Redis counts as
# hung (seconds).
READ_GRACE = 5.0
# Pauses between attempts to reach Redis again after it failed (seconds).
RETRY_FIRST = 0.25
RETRY_MAX = 2.0


async def read_forever(broker: RedisBroker) -> None:
    """Fan entries out to local subscribers until cancelled."""
    while True:
        # NOTE: coredis (6.x) loses a pool slot for good each time a blocking
        # command is interrupted: it drops the connection but never gives the slot
        # back, and once all 64 are gone every command on that client waits forever.
        # So the blocking XREAD gets a client of its own, thrown away with its pool
        # after every interruption or failure; the shared client never blocks.
        failure: BaseException | None = None
        try:
            async with broker.new_client(READER_NAME) as client:
                failure = await _read_until_interrupted(broker, client)
        except* REDIS_ERRORS as group:
            # Raised by the client itself (its connection task), not by a command.
            failure = first_leaf(group)
        if failure is not None:
            await _recover(broker, failure)


async def _read_until_interrupted(
    broker: RedisBroker, client: coredis.Redis[bytes]
) -> BaseException | None:
    """Read until the set of channels changes (None) or Redis fails (the error)."""
    while True:
        if not broker.channels:
            await broker.changed.wait()
        broker.changed = trio.Event()
        streams = {
            stream_key(name): format_stream_id(reader.cursor).encode()
            for name, reader in broker.channels.items()
        }
        if not streams:
            continue
        reply = None
        with trio.CancelScope() as scope:
            broker.read_scope = scope
            try:
                # A Redis that stops answering (a hung host, a silent network
                # drop) must not freeze every stream of this process.
                with trio.fail_after(READ_BLOCK_MS / 1000 + READ_GRACE):
                    reply = await client.xread(
                        streams, count=READ_COUNT, block=READ_BLOCK_MS
                    )
            except REDIS_ERRORS as exc:
                broker.read_scope = None
                # Redis answered, with an error about a key (one of ours that now
                # holds something else): only that channel's streams end.
                if not (
                    isinstance(exc, ResponseError)
                    and await broker.drop_unreadable_channels()
                ):
                    return exc
        broker.read_scope = None
        if scope.cancelled_caught:
            return None
        if not reply:
            continue
        for key, entries in reply.items():
            name = channel_of(key)
            reader = broker.channels.get(name)
            if reader is None:
                continue  # its last subscriber left while the read was in flight
            for entry in entries:
                raw_id = entry.identifier
                sid = parse_stream_id(text_of(raw_id))
                if sid <= reader.cursor:
                    continue
                reader.cursor = sid
                event = event_of(name, raw_id, entry.field_values)
                if event is None:
                    continue
                for subscriber in reader.subscribers:
                    subscriber.offer(event)


async def _recover(broker: RedisBroker, error: BaseException) -> None:
    broker.set_problem(f"redis unavailable: {describe(error)}")
    log.error(
        "lost Redis: %s; open streams end and clients will resume once it is back",
        describe(error),
    )
    broker.end_all_streams()
    pause = RETRY_FIRST
    while True:
        await trio.sleep(pause)  # back-off between attempts, not synchronisation
        try:
            with trio.fail_after(COMMAND_TIMEOUT):
                await broker.ping()
        except REDIS_ERRORS:
            pause = min(pause * 2, RETRY_MAX)
            continue
        break
    broker.set_problem("")
    log.info("Redis is reachable again")
