from __future__ import annotations

import pytest

from gosmee_trio.client.naming import event_time, safe_event_type


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("push", "push"),
        ("repo:push", "repo:push"),
        ("Merge Request Hook", "merge_request_hook"),
        ("pullrequest:created", "pullrequest:created"),
        ("../../etc/passwd", "etc_passwd"),
        ("", ""),
    ],
)
def test_safe_event_type_keeps_full_name_and_no_path(raw: str, safe: str) -> None:
    assert safe_event_type(raw) == safe
    assert "/" not in safe_event_type(raw)


def test_event_time_has_real_seconds_not_the_month() -> None:
    # 2024-06-10 06:13:20.123 UTC; upstream would print 06.13.06.123
    assert event_time(1718000000123) == "2024-06-10T06.13.20.123"
