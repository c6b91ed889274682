"""GitHub's rate-limit answers and how long they make us wait; sync and pure."""

from __future__ import annotations

import pytest

from gosmee_trio.replay.ratelimit import (
    MAX_WAIT,
    SECONDARY_LIMIT_WAIT,
    quota_reset,
    refusal_wait,
    wait_until,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "message", "wait"),
    [
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)},
            "API rate limit exceeded for user ID 1.",
            42.0,
            id="primary-403",
        ),
        pytest.param(
            429,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)},
            "",
            42.0,
            id="primary-429",
        ),
        pytest.param(403, {"retry-after": "7"}, "", 7.0, id="retry-after-403"),
        pytest.param(
            429,
            {"retry-after": "7", "x-ratelimit-remaining": "0"},
            "",
            7.0,
            id="retry-after-wins",
        ),
        pytest.param(
            403,
            {},
            "You have exceeded a secondary rate limit.",
            SECONDARY_LIMIT_WAIT,
            id="secondary-no-time",
        ),
        pytest.param(429, {}, "", SECONDARY_LIMIT_WAIT, id="429-no-time"),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)},
            "",
            1.0,
            id="reset-passed",
        ),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 86400)},
            "",
            MAX_WAIT,
            id="clock-skew",
        ),
    ],
)
def test_refusal_wait_follows_githubs_rules(
    status: int, headers: dict[str, str], message: str, wait: float
) -> None:
    assert refusal_wait(status, headers, message, now=NOW) == wait


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        pytest.param(403, {"x-ratelimit-remaining": "4999"}, "Forbidden", id="denied"),
        pytest.param(404, {"retry-after": "5"}, "Not Found", id="not-found"),
        pytest.param(200, {"x-ratelimit-remaining": "0"}, "", id="ok"),
    ],
)
def test_refusal_wait_is_none_for_other_answers(
    status: int, headers: dict[str, str], message: str
) -> None:
    assert refusal_wait(status, headers, message, now=NOW) is None


def test_quota_reset_only_once_the_quota_is_used_up() -> None:
    assert quota_reset({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "99"}) == 99
    assert (
        quota_reset({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "99"}) is None
    )
    assert (
        quota_reset({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"}) is None
    )


def test_wait_until_is_bounded() -> None:
    assert wait_until(NOW + 10.5, now=NOW) == 10.5
    assert wait_until(NOW - 10, now=NOW) == 1.0
