"""The reads a Redis-mode stream makes: where a stream ends and starts, and what
follows a cursor. Each has a deadline; every failure is a ``BrokerUnavailable``
saying what was being read."""

from __future__ import annotations

from typing import NamedTuple

import coredis
import trio

from gosmee_trio.events import (
    MAX_ID_PART,
    RelayEvent,
    StreamId,
    format_stream_id,
    parse_stream_id,
)
from gosmee_trio.server.brokerapi import BrokerUnavailable
from gosmee_trio.server.redis_entries import (
    COMMAND_TIMEOUT,
    REDIS_ERRORS,
    describe,
    event_of,
    stream_key,
    text_of,
)


async def newest(client: coredis.Redis[bytes], channel: str, what: str) -> StreamId:
    """The newest id in the stream, or 0-0 when it is empty or missing.

    Raises:
        BrokerUnavailable: Redis could not be read.
    """
    try:
        with trio.fail_after(COMMAND_TIMEOUT):
            entries = await client.xrevrange(
                stream_key(channel), end="+", start="-", count=1
            )
    except REDIS_ERRORS as exc:
        raise BrokerUnavailable(f"read redis stream {what}: {describe(exc)}") from None
    return parse_stream_id(text_of(entries[0].identifier)) if entries else (0, 0)


class StreamHead(NamedTuple):
    """What a stream holds: its oldest id, whether older entries were trimmed, and
    the newest id it ever gave out (None for ids: nothing held / no stream)."""

    oldest: StreamId | None
    trimmed: bool
    newest_ever: StreamId | None


async def stream_head(client: coredis.Redis[bytes], channel: str) -> StreamHead:
    """See ``StreamHead``.

    Raises:
        BrokerUnavailable: Redis could not be read.
    """
    try:
        with trio.fail_after(COMMAND_TIMEOUT):
            info = await client.xinfo_stream(stream_key(channel))
    except REDIS_ERRORS as exc:
        if "no such key" in str(exc).lower():
            return StreamHead(None, False, None)
        raise BrokerUnavailable(f"read redis stream history: {describe(exc)}") from None
    last = info.get("last-generated-id")
    newest_ever = parse_stream_id(text_of(last)) if last else None
    first = info.get("first-entry")
    if not first:
        return StreamHead(None, False, newest_ever)
    added = info.get("entries-added")
    length = info.get("length")
    oldest = parse_stream_id(text_of(first.identifier))
    # Redis before 7.0 does not count what was added: assume trimming.
    trimmed = (
        added > length if isinstance(added, int) and isinstance(length, int) else True
    )
    return StreamHead(oldest, trimmed, newest_ever)


async def read_after(
    client: coredis.Redis[bytes], channel: str, cursor: StreamId | None, count: int
) -> list[RelayEvent]:
    """Up to ``count`` events after ``cursor`` (None: from the oldest).

    Raises:
        BrokerUnavailable: Redis could not be read.
    """
    if cursor == (MAX_ID_PART, MAX_ID_PART):
        return []  # nothing can follow the largest id (and Redis refuses "(" it)
    start = b"-" if cursor is None else b"(" + format_stream_id(cursor).encode()
    try:
        with trio.fail_after(COMMAND_TIMEOUT):
            entries = await client.xrange(
                stream_key(channel), start=start, end=b"+", count=count
            )
    except REDIS_ERRORS as exc:
        raise BrokerUnavailable(f"read redis stream history: {describe(exc)}") from None
    events = []
    for entry in entries:
        event = event_of(channel, entry.identifier, entry.field_values)
        if event is not None:
            events.append(event)
    return events


async def not_streams(
    client: coredis.Redis[bytes], channels: list[str]
) -> list[tuple[str, str]]:
    """The channels whose key exists but is not a stream, with what it is; stops
    early (with what it found) if Redis fails."""
    found = []
    for name in channels:
        try:
            with trio.fail_after(COMMAND_TIMEOUT):
                kind = text_of(await client.type(stream_key(name)) or b"none")
        except REDIS_ERRORS:
            break
        if kind not in ("stream", "none"):
            found.append((name, kind))
    return found
