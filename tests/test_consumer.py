from __future__ import annotations

import pytest

from gosmee_trio.client.consumer import refusal_hint, sse_url


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


def test_incomplete_envelope_is_refused_not_sent_as_headers() -> None:
    import httpx
    import trio
    from nacl.public import PrivateKey

    from gosmee_trio.client.consumer import Consumer
    from gosmee_trio.errors import EnvelopeError

    send, _ = trio.open_memory_channel[object](1)
    consumer = Consumer(
        "http://x/abcdefghijkl",
        httpx.AsyncClient(),
        send,
        private_key=PrivateKey.generate(),
    )
    with pytest.raises(EnvelopeError, match="^not an encrypted envelope"):
        consumer._plaintext(
            '{"encrypted":true,"version":1,"nonce":"a","ciphertext":"b"}'
        )
    assert consumer._plaintext('{"x-a":"1","bodyB":""}') == '{"x-a":"1","bodyB":""}'
    assert "pubkey=" in consumer.url


@pytest.mark.parametrize(
    ("status", "protected", "says"),
    [
        pytest.param(404, False, "--encryption-key-file", id="404-open"),
        pytest.param(404, True, "--encrypted-channels-file", id="404-protected"),
        pytest.param(401, False, "credentials", id="401"),
        pytest.param(403, True, "credentials", id="403"),
        pytest.param(400, False, "check the channel URL", id="400"),
        pytest.param(410, False, "check the channel URL", id="410"),
    ],
)
def test_refusal_hint_says_what_to_check(
    status: int, protected: bool, says: str
) -> None:
    hint = refusal_hint(status, protected=protected)
    assert hint is not None
    assert hint.startswith("check the channel URL")
    assert says in hint


@pytest.mark.parametrize("status", [301, 408, 425, 429, 500, 502, 503])
def test_refusal_hint_is_none_for_answers_that_mean_later(status: int) -> None:
    assert refusal_hint(status, protected=False) is None
