"""A channel's bounded history of events, oldest first."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from gosmee_trio.events import RelayEvent, StreamId

if TYPE_CHECKING:
    from gosmee_trio.server.subscriber import Subscriber


class ChannelHistory:
    """History and subscribers of one channel."""

    __slots__ = ("name", "history", "history_bytes", "floor", "subscribers", "touched")

    def __init__(self, name: str, floor: StreamId) -> None:
        self.name = name
        self.history: deque[RelayEvent] = deque()
        self.history_bytes = 0
        # Every event with an id at or below the floor may have existed but is no
        # longer held: evicted, or published before this process started.
        self.floor = floor
        self.subscribers: set[Subscriber] = set()
        self.touched = time.monotonic()

    def after(self, cursor: StreamId) -> list[RelayEvent]:
        found: list[RelayEvent] = []
        for event in reversed(self.history):
            if event.stream_id <= cursor:
                break
            found.append(event)
        found.reverse()
        return found

    def append(self, event: RelayEvent, max_events: int, max_bytes: int) -> None:
        self.history.append(event)
        self.history_bytes += len(event.frame)
        while len(self.history) > 1 and (
            len(self.history) > max_events or self.history_bytes > max_bytes
        ):
            self.evict_oldest()

    def evict_oldest(self) -> int:
        old = self.history.popleft()
        self.history_bytes -= len(old.frame)
        self.floor = old.stream_id
        return len(old.frame)
