"""How long GitHub's rate-limit answers ask us to wait; pure.

GitHub's rules (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
a 403 or 429 with ``Retry-After`` means wait that many seconds; with
``X-RateLimit-Remaining: 0`` wait until the epoch second in ``X-RateLimit-Reset``;
a secondary limit that names no time means wait at least a minute.
"""

from __future__ import annotations

from collections.abc import Mapping

from gosmee_trio.retry import parse_retry_after

# GitHub refills the primary quota every hour, so a reset further away than that
# means our clock disagrees with GitHub's: never wait longer than one period.
MAX_WAIT = 3600.0
# Waiting less than a second gains nothing and, if our clock runs ahead of
# GitHub's, would spend another request on an answer that is still "no".
MIN_WAIT = 1.0
# GitHub's advice for a secondary rate limit that names no time to wait.
SECONDARY_LIMIT_WAIT = 60.0
_REFUSED = frozenset({403, 429})


def refusal_wait(
    status: int, headers: Mapping[str, str], message: str, *, now: float
) -> float | None:
    """Seconds to wait before repeating a request GitHub refused for rate limits.

    Args:
        status: GitHub's status code.
        headers: its response headers, looked up by lower-case name.
        message: the ``message`` of its JSON error body, if any.
        now: the current epoch time.

    Returns:
        None when the answer is not a rate-limit refusal (a plain 403 is a
        permission problem, and waiting would not fix it).
    """
    if status not in _REFUSED:
        return None
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    if retry_after is not None:
        return _bounded(retry_after)
    reset = quota_reset(headers)
    if reset is not None:
        return _bounded(reset - now)
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_WAIT
    return None


def quota_reset(headers: Mapping[str, str]) -> float | None:
    """Epoch second the quota refills at, when this answer used the last of it."""
    if headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    reset = headers.get("x-ratelimit-reset", "").strip()
    return float(reset) if reset.isdigit() else None


def wait_until(reset: float, *, now: float) -> float:
    """Seconds to wait for a quota that refills at ``reset``."""
    return _bounded(reset - now)


def _bounded(seconds: float) -> float:
    return min(max(seconds, MIN_WAIT), MAX_WAIT)
