"""The relayed event and its stream ids; pure, no I/O.

A stream id has upstream's Redis shape ``<ms>-<seq>``, so ids from our in-memory
broker and from a Redis stream compare the same way and a client treats both as
durable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from gosmee_trio.errors import StreamIdError

StreamId = tuple[int, int]
# Both halves of a Redis stream id are unsigned 64-bit numbers.
MAX_ID_PART = 2**64 - 1

_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")

# Headers that delivery-id and event-type are read from, in upstream's order.
DELIVERY_ID_HEADERS = (
    "x-github-delivery",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gitlab-delivery",
    "x-event-id",
)
EVENT_TYPE_HEADERS = (
    "x-github-event",
    "x-gitlab-event",
    "x-gitea-event",
    "x-forgejo-event",
    "x-event-key",
)


def parse_stream_id(text: str) -> StreamId:
    """Parse ``<ms>-<seq>``.

    Raises:
        StreamIdError: when ``text`` has another shape.
    """
    match = _STREAM_ID.fullmatch(text)
    if match is None or int(match[1]) > MAX_ID_PART or int(match[2]) > MAX_ID_PART:
        raise StreamIdError(
            f"expected a stream id like '1718000000125-0', got {text!r}"
        )
    return int(match[1]), int(match[2])


def is_stream_id(text: str) -> bool:
    return _STREAM_ID.fullmatch(text) is not None


def format_stream_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


class StreamIdGenerator:
    """Hands out strictly increasing ``(ms, seq)`` ids, even if the clock steps back."""

    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or _wall_clock_ms
        self.last: StreamId = (self._clock_ms(), 0)

    def next(self) -> StreamId:
        now = self._clock_ms()
        ms, seq = self.last
        self.last = (now, 0) if now > ms else (ms, seq + 1)
        return self.last


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RelayEvent:
    """One webhook as relayed: metadata plus its SSE frame, encoded once.

    The frame already holds the headers and the base64 body, so the event keeps no
    second copy of the payload.
    """

    channel: str
    stream_id: StreamId
    timestamp_ms: int
    delivery_id: str
    event_type: str
    body_size: int
    frame: bytes

    @property
    def stream_id_text(self) -> str:
        return format_stream_id(self.stream_id)

    @cached_property
    def smee_frame(self) -> bytes:
        """The smee.io-wire frame, built on first use and then shared."""
        from gosmee_trio.smee import smee_frame

        return smee_frame(self.frame, self.stream_id_text)


def first_header(headers: dict[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return ""
