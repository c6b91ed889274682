"""Names derived from an event: file-safe event types and timestamps; pure."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNSAFE = re.compile(r"[^a-z0-9_.:-]+")


def safe_event_type(event_type: str) -> str:
    """The event type, lower-cased, full name kept (``repo:push``), safe in a path."""
    return _UNSAFE.sub("_", event_type.strip().lower()).strip("._")


def event_time(timestamp_ms: int | None) -> str:
    """``YYYY-MM-DDTHH.MM.SS.mmm`` in UTC, for file names and hooks.

    Dots instead of colons keep the name valid on every filesystem. Upstream gosmee
    puts the month where the seconds belong; we do not.
    """
    ms = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H.%M.%S}.{ms % 1000:03d}"
