"""Back-off policy and failure classification for the client; pure."""

from __future__ import annotations

import email.utils
import time

# First wait 1 s: long enough not to hammer a target that is restarting, short
# enough that a blip costs a developer almost nothing.
INITIAL_DELAY = 1.0
# 30 s cap, as upstream: a target or server that is down for an hour is retried
# twice a minute, which is cheap and still picks it up quickly when it returns.
MAX_DELAY = 30.0

# Statuses that say "try again later" rather than "this request is wrong".
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Backoff:
    """Delay between attempts: 1 s doubling to 30 s; ``Retry-After`` wins."""

    def __init__(self, initial: float = INITIAL_DELAY, cap: float = MAX_DELAY) -> None:
        self._initial = initial
        self._cap = cap
        self._next = initial

    def next(self, retry_after: float | None = None) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, self._cap)
        return delay

    def reset(self) -> None:
        self._next = self._initial


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)
