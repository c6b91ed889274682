"""What the routes need from a broker, whichever keeps the events.

Two brokers implement it: ``broker.Broker`` keeps events in this process's memory;
``redis_broker.RedisBroker`` keeps them in Redis Streams so that several server
processes share channels. The routes (intake, the two stream wires, protected
channels, the web page) only ever use this interface.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import trio

from gosmee_trio.errors import RelayError
from gosmee_trio.events import RelayEvent, StreamId, format_stream_id
from gosmee_trio.sse import encode_event

# What a stream receives: an event, or a frame made for that stream alone (a gap).
Item = RelayEvent | bytes


class BrokerUnavailable(RelayError):
    """The broker's store cannot be reached; the message says what failed."""


@dataclass(frozen=True, slots=True)
class BrokerStatistics:
    """A snapshot of a broker's counters."""

    channels: int
    subscribers: dict[str, int]
    lagging: int
    lag_events: int
    gaps: int
    published: int
    delivered: int
    history_bytes: int


class Published(Protocol):
    """What intake reports about an event it published."""

    @property
    def stream_id_text(self) -> str: ...
    @property
    def delivery_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def body_size(self) -> int: ...


class EventStream(Protocol):
    """One open stream's subscription."""

    # Where the stream started (the ready frame's id); the cursor moves on from it.
    start: StreamId
    cursor: StreamId

    async def receive_batch(self, max_bytes: int) -> list[Item]:
        """Wait for one item, then take the ones ready now.

        Raises:
            trio.EndOfChannel: the stream is over (shutdown, or the store went away).
        """
        ...


class EventBroker(Protocol):
    """Publishing and subscribing, as the routes see it."""

    @property
    def closed(self) -> bool: ...

    @property
    def problem(self) -> str:
        """Why the broker cannot serve right now; empty when it can."""
        ...

    async def check(self) -> str:
        """Ask the store now whether it answers: ``problem``, or what a probe found
        (for ``/health``); empty when all is well."""
        ...

    def close(self) -> None:
        """End every open stream; used at shutdown."""

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Connect, report started, then do background work until cancelled.

        Raises:
            BrokerUnavailable: the store cannot be reached at start-up.
        """

    async def publish_webhook(
        self,
        channel: str,
        raw_headers: Sequence[tuple[bytes, bytes]],
        query_string: bytes,
        body_chunks: list[bytes],
        timestamp_ms: int,
    ) -> Published:
        """Store and fan out one webhook; empties ``body_chunks``.

        Raises:
            BrokerUnavailable: it could not be stored; nothing was published.
        """
        ...

    def open_stream(
        self, channel: str, cursor: StreamId | None
    ) -> AbstractAsyncContextManager[EventStream]:
        """Subscribe to everything after ``cursor`` (None: from now on).

        Entering raises ``BrokerUnavailable`` when the store cannot be read and
        ``trio.ClosedResourceError`` after ``close``.
        """
        ...

    def statistics(self) -> BrokerStatistics: ...


def gap_frame(requested: StreamId, oldest: StreamId | None) -> bytes:
    """The ``gosmee-gap`` event: history no longer reaches back to ``requested``."""
    data = {
        "error": "missed_history",
        "requested_id": format_stream_id(requested),
        "oldest_id": format_stream_id(oldest) if oldest else "",
    }
    return encode_event(
        json.dumps(data, separators=(",", ":")).encode(), event="gosmee-gap"
    )
