"""In-process fan-out from a channel to its subscribers, with bounded history.

Publishing encodes an event once and hands a reference to every subscriber's bounded
memory channel with ``send_nowait``; it never waits on anyone. A subscriber whose
queue is full is marked *lagging*: once it has drained its queue it reads the events it
missed from the channel's history by stream id. When history no longer reaches back
that far it first receives a ``gosmee-gap`` event naming what was lost, then carries on
from the oldest event still held. A reconnecting client is served the same way: it
starts out lagging at its ``Last-Event-ID``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import trio

from gosmee_trio.events import (
    RelayEvent,
    StreamId,
    StreamIdGenerator,
    format_stream_id,
)
from gosmee_trio.server.brokerapi import BrokerStatistics, gap_frame
from gosmee_trio.server.history import ChannelHistory
from gosmee_trio.server.subscriber import Subscriber
from gosmee_trio.wire import build_event

__all__ = ["Broker", "BrokerStatistics"]

log = logging.getLogger(__name__)

# 100 queued events per subscriber, as upstream: a healthy subscriber drains in
# microseconds, and one that falls further behind reads from history instead, so a
# larger queue would only cost memory.
SUBSCRIBER_BUFFER = 100
# History per channel: enough for a client that was away for a few minutes of a busy
# repository, small enough for a 1 GiB VPS with dozens of channels.
HISTORY_EVENTS = 1000
HISTORY_BYTES = 64 * 1024 * 1024
# History of all channels together: anyone who knows the server can create channels,
# so the sum must be bounded too. 256 MiB fits the server unit's MemoryMax of 512M
# with room for the payloads in flight.
HISTORY_TOTAL_BYTES = 256 * 1024 * 1024
# A channel nobody listens to keeps its history this long after its last webhook, so
# a laptop that slept through lunch can still resume.
HISTORY_TTL = 3600.0
# How often publishing sweeps out idle channels; the sweep is O(channels).
SWEEP_INTERVAL = 60.0


class Broker:
    """In-memory fan-out with per-channel history; the embedded default broker."""

    def __init__(
        self,
        *,
        subscriber_buffer: int = SUBSCRIBER_BUFFER,
        history_events: int = HISTORY_EVENTS,
        history_bytes: int = HISTORY_BYTES,
        history_ttl: float = HISTORY_TTL,
        history_total_bytes: int = HISTORY_TOTAL_BYTES,
        ids: StreamIdGenerator | None = None,
    ) -> None:
        self.subscriber_buffer = subscriber_buffer
        self._history_events = history_events
        self._history_bytes = history_bytes
        self._history_ttl = history_ttl
        self._history_total = history_total_bytes
        self._total_bytes = 0
        self._ids = ids or StreamIdGenerator()
        # Ids at or below this may belong to events this process no longer holds:
        # published before it started, or in a channel swept out for idleness.
        self._swept_floor = self._ids.last
        self._channels: dict[str, ChannelHistory] = {}
        self._closed = False
        self._last_sweep = time.monotonic()
        self._published = 0
        self._delivered = 0
        self._lag_events = 0
        self._gaps = 0

    @property
    def problem(self) -> str:
        return ""

    async def check(self) -> str:
        return ""

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Nothing to connect to: reports started at once."""
        task_status.started()

    async def publish_webhook(
        self,
        channel: str,
        raw_headers: Sequence[tuple[bytes, bytes]],
        query_string: bytes,
        body_chunks: list[bytes],
        timestamp_ms: int,
    ) -> RelayEvent:
        """Build the event for one webhook and publish it; empties ``body_chunks``."""
        event = build_event(
            channel,
            self.next_stream_id(),
            raw_headers,
            query_string,
            body_chunks,
            timestamp_ms,
        )
        self.publish(event)
        return event

    @asynccontextmanager
    async def open_stream(
        self, channel: str, cursor: StreamId | None
    ) -> AsyncIterator[Subscriber]:
        """``subscribe`` from ``cursor``, or from now on when it is None."""
        start = self.tail(channel) if cursor is None else cursor
        with self.subscribe(channel, start) as subscriber:
            yield subscriber

    def next_stream_id(self) -> StreamId:
        return self._ids.next()

    def tail(self, channel: str) -> StreamId:
        """The cursor a new subscriber starts from: everything after now.

        Taken from this channel alone (its newest event, or where its history
        starts), so a stream's starting id says nothing about other channels.
        """
        state = self._channels.get(channel)
        if state is None:
            return self._swept_floor
        return state.history[-1].stream_id if state.history else state.floor

    def publish(self, event: RelayEvent) -> None:
        """Add ``event`` to its channel's history and offer it to every subscriber."""
        channel = self._channel(event.channel)
        before = channel.history_bytes
        channel.append(event, self._history_events, self._history_bytes)
        self._total_bytes += channel.history_bytes - before
        self._trim_total(keep=channel)
        channel.touched = time.monotonic()
        self._published += 1
        for subscriber in channel.subscribers:
            subscriber.offer(event)
        self._sweep_if_due()

    @contextmanager
    def subscribe(self, channel: str, cursor: StreamId) -> Iterator[Subscriber]:
        """Register a subscriber that receives every event after ``cursor``.

        Raises:
            trio.ClosedResourceError: when the broker is already closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("broker is closed")
        state = self._channel(channel)
        subscriber = Subscriber(self, state, cursor, ahead=cursor > self._ids.last)
        state.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            state.subscribers.discard(subscriber)
            state.touched = time.monotonic()
            subscriber.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every subscriber's stream; used at shutdown."""
        self._closed = True
        for state in self._channels.values():
            for subscriber in state.subscribers:
                subscriber.close()

    def statistics(self) -> BrokerStatistics:
        subscribers = {
            name: len(state.subscribers)
            for name, state in self._channels.items()
            if state.subscribers
        }
        lagging = sum(
            sub.lagging
            for state in self._channels.values()
            for sub in state.subscribers
        )
        return BrokerStatistics(
            channels=len(self._channels),
            subscribers=subscribers,
            lagging=lagging,
            lag_events=self._lag_events,
            gaps=self._gaps,
            published=self._published,
            delivered=self._delivered,
            history_bytes=self._total_bytes,
        )

    def _channel(self, name: str) -> ChannelHistory:
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = ChannelHistory(name, self._swept_floor)
        return state

    def _trim_total(self, keep: ChannelHistory) -> None:
        # Evict the oldest events across all channels until the sum fits; the newest
        # event of the channel just published to always stays.
        while self._total_bytes > self._history_total:
            candidates = [
                state
                for state in self._channels.values()
                if state.history and (state is not keep or len(state.history) > 1)
            ]
            if not candidates:
                return
            oldest = min(candidates, key=lambda state: state.history[0].stream_id)
            self._total_bytes -= oldest.evict_oldest()

    def _note_lag(self, subscriber: Subscriber) -> None:
        self._lag_events += 1
        log.warning(
            "subscriber lagging; it will catch up from history",
            extra={
                "channel": subscriber._channel.name,
                "queue_depth": subscriber.queue_depth,
            },
        )

    def _gap_frame(self, subscriber: Subscriber, channel: ChannelHistory) -> bytes:
        self._gaps += 1
        oldest = channel.history[0].stream_id if channel.history else None
        log.warning(
            "history no longer reaches back to the subscriber's cursor; sending a gap",
            extra={
                "channel": channel.name,
                "stream_id": format_stream_id(subscriber.cursor),
                "queue_depth": subscriber.queue_depth,
            },
        )
        return gap_frame(subscriber.cursor, oldest)

    def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL:
            return
        self._last_sweep = now
        expired = [
            name
            for name, state in self._channels.items()
            if not state.subscribers and now - state.touched > self._history_ttl
        ]
        for name in expired:
            state = self._channels.pop(name)
            self._total_bytes -= state.history_bytes
            if state.history:
                self._swept_floor = max(self._swept_floor, state.history[-1].stream_id)
