"""One open stream's view of a channel: a bounded queue, a cursor, lag catch-up."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from gosmee_trio.events import RelayEvent, StreamId
from gosmee_trio.server.brokerapi import Item
from gosmee_trio.server.history import ChannelHistory

if TYPE_CHECKING:
    from gosmee_trio.server.broker import Broker

__all__ = ["Item", "Subscriber"]


def _size(item: Item) -> int:
    return len(item) if isinstance(item, bytes) else len(item.frame)


class Subscriber:
    """One open stream's view of a channel: a bounded queue plus a cursor."""

    def __init__(
        self,
        broker: Broker,
        channel: ChannelHistory,
        cursor: StreamId,
        *,
        ahead: bool = False,
    ) -> None:
        self._broker = broker
        self._channel = channel
        self._send, self._receive = trio.open_memory_channel[RelayEvent](
            broker.subscriber_buffer
        )
        self._pending: deque[Item] = deque()
        self.start = self.cursor = cursor
        # Start lagging so that the first read catches up from history: that is how
        # Last-Event-ID resume and "nothing published after subscribe is missed" work.
        self.lagging = True
        # A cursor this process never handed out (another server's, or one from
        # before a restart with the clock set back): waiting for our ids to pass it
        # would hide every new event, so it is answered with a gap and all history.
        self._ahead = ahead

    def offer(self, event: RelayEvent) -> None:
        if self.lagging:
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.lagging = True
            self._broker._note_lag(self)
        except trio.ClosedResourceError:
            pass

    def close(self) -> None:
        self._send.close()

    @property
    def queue_depth(self) -> int:
        return self._receive.statistics().current_buffer_used

    def receive_nowait(self) -> Item:
        """The next event (or ready-made frame, such as a gap) if one is ready now.

        Raises:
            trio.WouldBlock: when nothing is ready.
            trio.EndOfChannel: when the broker is closing.
        """
        while True:
            if self._pending:
                item = self._pending.popleft()
                if not self._pending and self.lagging:
                    # Refill now so that ``lagging`` is accurate between reads.
                    self._catch_up()
                self._broker._delivered += 1
                return item
            try:
                event = self._receive.receive_nowait()
            except trio.WouldBlock:
                if not self.lagging:
                    raise
                self._catch_up()
                continue
            if self._take(event):
                return event

    async def receive(self) -> Item:
        """Wait for the next event or frame.

        Raises:
            trio.EndOfChannel: when the broker is closing.
        """
        while True:
            try:
                return self.receive_nowait()
            except trio.WouldBlock:
                pass
            event = await self._receive.receive()
            if self._take(event):
                return event

    async def receive_batch(self, max_bytes: int) -> list[Item]:
        """Wait for one item, then take every item ready now, up to ``max_bytes``
        of gosmee frames.

        Raises:
            trio.EndOfChannel: when the broker is closing.
        """
        items = [await self.receive()]
        size = _size(items[0])
        while size < max_bytes:
            try:
                item = self.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            items.append(item)
            size += _size(item)
        return items

    def _take(self, event: RelayEvent) -> bool:
        # Events at or before the cursor were already sent from history.
        if event.stream_id <= self.cursor:
            return False
        self.cursor = event.stream_id
        self._broker._delivered += 1
        return True

    def _catch_up(self) -> None:
        channel = self._channel
        if self.cursor < channel.floor or self._ahead:
            self._ahead = False
            self._pending.append(self._broker._gap_frame(self, channel))
            self.cursor = channel.floor
        missed = channel.after(self.cursor)
        if not missed:
            # No await since the lookup, so no publish can slip between the lookup
            # and this flag: from here on the queue carries everything.
            self.lagging = False
            return
        self._pending.extend(missed)
        self.cursor = missed[-1].stream_id
