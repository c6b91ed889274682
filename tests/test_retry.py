from __future__ import annotations

import pytest

from gosmee_trio.retry import Backoff, is_retryable_status, parse_retry_after


def test_backoff_doubles_to_cap_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_backoff_retry_after_wins_but_is_capped() -> None:
    backoff = Backoff()
    assert backoff.next(retry_after=10) == 10
    assert backoff.next(retry_after=0.5) == 2
    assert backoff.next(retry_after=3600) == 30


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (301, False),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("7", 7.0, id="seconds"),
        pytest.param("Thu, 01 Jan 1970 00:01:40 GMT", 60.0, id="http-date"),
        pytest.param("Thu, 01 Jan 1970 00:00:10 GMT", 0.0, id="date-in-past"),
        pytest.param("soon", None, id="garbage"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=40.0) == expected
