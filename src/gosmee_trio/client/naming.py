"""Names derived from an event: file-safe event types and timestamps; pure."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNSAFE = re.compile(r"[^a-z0-9_.:-]+")


# Event types are short in practice (``pull_request_review_comment`` is 27); a file
# name must stay well under the 255-byte limit of common filesystems.
MAX_EVENT_TYPE = 64


def safe_event_type(event_type: str) -> str:
    """The event type, lower-cased, full name kept (``repo:push``), safe in a path."""
    safe = _UNSAFE.sub("_", event_type.strip().lower()).strip("._")
    return safe[:MAX_EVENT_TYPE].rstrip("._")


def event_time(timestamp_ms: int | None) -> str:
    """``YYYY-MM-DDTHH.MM.SS.mmm`` in UTC, for file names and hooks.

    Dots instead of colons keep the name valid on every filesystem. Upstream gosmee
    puts the month where the seconds belong; we do not.
    """
    ms = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        ms = time.time_ns() // 1_000_000
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H.%M.%S}.{ms % 1000:03d}"
