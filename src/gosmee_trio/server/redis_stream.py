"""One open stream's subscription in Redis mode: a queue fed by the process's reader,
and catch-up read straight from the Redis stream.

The reader task hands every new entry to each subscriber's bounded queue with
``send_nowait``. A subscriber starts out *lagging*, and becomes so again when its
queue overflows: it then empties its queue and reads what it missed with ``XRANGE``
from its cursor, a page at a time, before it takes from the queue again (skipping what
it already sent). Every entry the queue could have dropped was in Redis before the
queue was emptied, so the range read that follows finds it; nothing is lost and
nothing is sent twice.

When the cursor is older than the oldest entry Redis still holds and entries have
been trimmed, the stream first gets a ``gosmee-gap`` event, then everything from the
oldest entry on.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import trio

from gosmee_trio.events import RelayEvent, StreamId, format_stream_id
from gosmee_trio.server.brokerapi import BrokerUnavailable, Item

if TYPE_CHECKING:
    from gosmee_trio.server.redis_broker import RedisBroker
    from gosmee_trio.server.redis_queries import StreamHead

log = logging.getLogger(__name__)

# Entries fetched per XRANGE while catching up: big enough to amortise the round
# trip, small enough that a page of 25 MiB webhooks does not swamp memory.
CATCH_UP_PAGE = 50


def _size(item: Item) -> int:
    return len(item) if isinstance(item, bytes) else len(item.frame)


class RedisSubscriber:
    """A subscription to one channel of a ``RedisBroker``."""

    def __init__(self, broker: RedisBroker, channel: str, cursor: StreamId) -> None:
        self._broker = broker
        self.channel = channel
        self.start = self.cursor = cursor
        self._send, self._receive = trio.open_memory_channel[RelayEvent](
            broker.subscriber_buffer
        )
        self._pending: deque[Item] = deque()
        self.lagging = True

    def offer(self, event: RelayEvent) -> None:
        """Queue ``event`` without waiting; a full queue turns on catch-up."""
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            if not self.lagging:
                self.lagging = True
                self._broker.note_lag(self)
        except trio.ClosedResourceError:
            pass

    def end(self) -> None:
        """End the stream once what is already queued has been taken."""
        self._send.close()

    @property
    def queue_depth(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def catch_up(self) -> None:
        """Read the next page of what the queue cannot supply, from Redis.

        Raises:
            BrokerUnavailable: Redis could not be read.
        """
        if not self._pending:
            # Whatever the queue holds now is in Redis already, so the range read
            # below covers it; dropping it here is what makes overflow lossless.
            self._drain_queue()
        # Reset before the reads: an overflow during them sets it again.
        self.lagging = False
        broker = self._broker
        head = await broker.stream_head(self.channel)
        oldest = head.oldest
        start: StreamId | None = self.cursor
        if _lost_before(self.cursor, head):
            self._pending.append(broker.gap(self, oldest))
            start = None  # from the oldest entry held, inclusive
            if oldest is None:
                self.cursor = (0, 0)  # nothing held: everything new is after this
        events = await broker.read_after(self.channel, start, CATCH_UP_PAGE)
        if events:
            self._pending.extend(events)
            self.cursor = events[-1].stream_id
        if len(events) == CATCH_UP_PAGE:
            self.lagging = True  # there may be more

    async def receive_batch(self, max_bytes: int) -> list[Item]:
        """Wait for one item, then take every item ready now, up to ``max_bytes``.

        Raises:
            trio.EndOfChannel: the broker closed or Redis went away.
        """
        items: list[Item] = []
        size = 0
        while not items or size < max_bytes:
            if self._pending:
                item = self._pending.popleft()
            elif self.lagging:
                if items:
                    break  # send what we have before the next round trip
                try:
                    await self.catch_up()
                except BrokerUnavailable as exc:
                    log.warning(
                        "ending a stream: %s",
                        exc,
                        extra={
                            "channel": self.channel,
                            "stream_id": format_stream_id(self.cursor),
                        },
                    )
                    raise trio.EndOfChannel from exc
                continue
            else:
                try:
                    event = (
                        await self._receive.receive()
                        if not items
                        else self._receive.receive_nowait()
                    )
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    if items:
                        break
                    raise
                if event.stream_id <= self.cursor:
                    continue  # already sent, from a range read
                self.cursor = event.stream_id
                item = event
            items.append(item)
            size += _size(item)
        self._broker.delivered += len(items)
        return items

    def _drain_queue(self) -> None:
        while True:
            try:
                self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return


def _lost_before(cursor: StreamId, head: StreamHead) -> bool:
    """Whether entries after ``cursor`` may be gone.

    Trimming is the usual cause. A cursor other than 0-0 that is older than all
    the stream holds (or a stream that is gone) also means loss: Redis lost its data
    in a restart without persistence, or the key was deleted. So does a cursor newer
    than any id the stream ever gave out: it came from a Redis that has since lost
    its data (waiting for ids to pass it would hide every new event). Redis does not
    say which ids it dropped, so an id that was itself the last one dropped is
    reported too, though nothing after it was lost.
    """
    if head.newest_ever is not None and cursor > head.newest_ever:
        return True
    if head.oldest is None:
        return cursor != (0, 0)
    return cursor < head.oldest and (head.trimmed or cursor != (0, 0))
