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
