from __future__ import annotations

import pytest

from gosmee_trio.client.consumer import sse_url


@pytest.mark.parametrize(
    ("smee_url", "expected"),
    [
        (
            "https://hooks.example.com/aBcDeFgHiJkL",
            "https://hooks.example.com/events/aBcDeFgHiJkL",
        ),
        (
            "http://127.0.0.1:3333/aBcDeFgHiJkL/",
            "http://127.0.0.1:3333/events/aBcDeFgHiJkL",
        ),
        (
            "https://example.com/relay/aBcDeFgHiJkL",
            "https://example.com/relay/events/aBcDeFgHiJkL",
        ),
        ("https://smee.io/aBcDeFgHiJkL", "https://smee.io/aBcDeFgHiJkL"),
    ],
)
def test_sse_url(smee_url: str, expected: str) -> None:
    assert sse_url(smee_url) == expected
