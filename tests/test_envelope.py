from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey, PublicKey

from gosmee_trio.envelope import (
    _seal_with,
    is_envelope,
    open_envelope,
    public_key_from_text,
    public_key_text,
    seal,
)
from gosmee_trio.errors import EnvelopeError
from gosmee_trio.keyfile import load_key_file

RECIPIENT = PrivateKey(bytes(range(32)))
OTHER = PrivateKey(bytes(range(100, 132)))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _envelope(**fields: object) -> str:
    good = json.loads(seal(b"{}", RECIPIENT.public_key))
    return json.dumps({**good, **fields})


def test_seal_matches_stack_notes_known_answer_vector() -> None:
    ephemeral = PrivateKey(bytes(range(32, 64)))
    assert _b64(bytes(RECIPIENT.public_key)) == (
        "j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8="
    )

    sealed = _seal_with(
        b'{"hello":"world"}', RECIPIENT.public_key, ephemeral, bytes(range(24))
    )

    epk = _b64(bytes(ephemeral.public_key))
    assert sealed == (
        b'{"encrypted":true,"version":1,"epk":"' + epk.encode() + b'",'
        b'"nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",'
        b'"ciphertext":"tvA6zKenjf1sCkVKE9vrtxjw11UQFCeNe1HBnlbGk7Rw"}'
    )
    assert open_envelope(sealed.decode(), RECIPIENT) == b'{"hello":"world"}'


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(b"", id="0B"),
        pytest.param(b'{"body":"hello"}!', id="17B"),
        pytest.param(bytes(range(256)) * 4096, id="1MiB"),
    ],
)
def test_seal_then_open_round_trips(plaintext: bytes) -> None:
    sealed = seal(plaintext, RECIPIENT.public_key).decode()

    assert is_envelope(sealed)
    assert open_envelope(sealed, RECIPIENT) == plaintext


def test_seal_uses_fresh_ephemeral_key_and_nonce() -> None:
    first = json.loads(seal(b"same", RECIPIENT.public_key))
    second = json.loads(seal(b"same", RECIPIENT.public_key))

    assert first["epk"] != second["epk"]
    assert first["nonce"] != second["nonce"]


def test_seal_refuses_a_weak_recipient_key() -> None:
    with pytest.raises(EnvelopeError, match=r"^cannot seal an envelope for this key"):
        seal(b"x", PublicKey(bytes(32)))


def test_open_envelope_with_a_different_key_fails() -> None:
    sealed = seal(b'{"body":"hello"}', RECIPIENT.public_key).decode()

    with pytest.raises(EnvelopeError, match=r"^cannot decrypt envelope: wrong priv"):
        open_envelope(sealed, OTHER)


def test_open_envelope_with_tampered_ciphertext_fails() -> None:
    fields = json.loads(seal(b"payload", RECIPIENT.public_key))
    raw = bytearray(base64.b64decode(fields["ciphertext"]))
    raw[-1] ^= 1
    fields["ciphertext"] = _b64(bytes(raw))

    with pytest.raises(EnvelopeError, match=r"^cannot decrypt envelope: "):
        open_envelope(json.dumps(fields), RECIPIENT)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param('{"encrypted":true}', id="case48-bare-flag"),
        pytest.param('{"encrypted":true,"version":99}', id="case48-version-only"),
        pytest.param('{"body":{"encrypted":true}}', id="case48-nested"),
        pytest.param(
            '{"encrypted":false,"epk":"a","nonce":"b","ciphertext":"c"}',
            id="flag-false",
        ),
        pytest.param(
            '{"encrypted":1,"epk":"a","nonce":"b","ciphertext":"c"}', id="flag-not-bool"
        ),
        pytest.param(
            '{"encrypted":true,"epk":"","nonce":"b","ciphertext":"c"}', id="empty-epk"
        ),
        pytest.param(
            '{"encrypted":true,"epk":"a","nonce":2,"ciphertext":"c"}',
            id="nonce-not-string",
        ),
        pytest.param('[{"encrypted":true}]', id="array"),
        pytest.param('{"message":"ready"}', id="control"),
        pytest.param("not json", id="not-json"),
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_is_envelope_rejects_non_envelopes(data: str) -> None:
    assert not is_envelope(data)
    with pytest.raises(EnvelopeError, match=r"^not an encrypted envelope: expected"):
        open_envelope(data, RECIPIENT)


def test_is_envelope_leaves_the_version_to_open_envelope() -> None:
    data = _envelope(version=99)

    assert is_envelope(data)
    with pytest.raises(EnvelopeError, match=r"^unsupported envelope version 99, "):
        open_envelope(data, RECIPIENT)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"version": None},
            r"unsupported envelope version None, expe",
            id="no-version",
        ),
        pytest.param(
            {"version": True},
            r"unsupported envelope version True, expe",
            id="version-bool",
        ),
        pytest.param(
            {"version": 1.0},
            r"unsupported envelope version 1\.0, expe",
            id="version-float",
        ),
        pytest.param(
            {"epk": "not base64!"},
            r"envelope epk is not standard base64: ",
            id="epk-not-base64",
        ),
        pytest.param(
            {"nonce": _b64(bytes(23))},
            r"envelope nonce should be 24 bytes,"
            r" got 23$",
            id="short-nonce",
        ),
        pytest.param(
            {"epk": _b64(bytes(31))},
            r"envelope epk should be 32 bytes, "
            r"got 31$",
            id="short-epk",
        ),
        pytest.param(
            {"ciphertext": "AA"},
            r"envelope ciphertext is not standard ba",
            id="unpadded-ciphertext",
        ),
        pytest.param(
            {"ciphertext": _b64(b"short")},
            r"cannot decrypt envelope: ",
            id="shorter-than-tag",
        ),
        pytest.param(
            {"epk": _b64(bytes(32))}, r"cannot decrypt envelope: ", id="weak-epk"
        ),
    ],
)
def test_open_envelope_names_the_fault(fields: dict[str, object], message: str) -> None:
    with pytest.raises(EnvelopeError, match=f"^{message}"):
        open_envelope(_envelope(**fields), RECIPIENT)


KEY_URL_SAFE = "csT0h-0-7k0oqabfWBEUkurQl3BOBw0pR8W9gfgbKho"
KEY_STANDARD = "csT0h+0+7k0oqabfWBEUkurQl3BOBw0pR8W9gfgbKho="


@pytest.mark.parametrize(
    "text",
    [pytest.param(KEY_URL_SAFE, id="url-safe"), pytest.param(KEY_STANDARD, id="std")],
)
def test_public_key_from_text_reads_both_forms(text: str) -> None:
    key = public_key_from_text(text)

    assert base64.b64encode(bytes(key)).decode() == KEY_STANDARD
    assert public_key_text(key) == KEY_URL_SAFE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "not-a-key",
            r"expected a 32-byte key as 43 characters of URL-"
            r"safe base64 or 44 of standard base64, got 'not-a-key' \(9 ",
            id="short",
        ),
        pytest.param(
            "", r"expected a 32-byte key .* got '' \(0 characters\)$", id="empty"
        ),
        pytest.param(
            KEY_URL_SAFE + "=",
            r"expected a 32-byte key .*\(44 characters",
            id="url-safe-padded",
        ),
        pytest.param(
            KEY_STANDARD[:-1],
            r"expected a 32-byte key .*\(43 characters",
            id="std-unpadded",
        ),
        pytest.param(
            KEY_URL_SAFE + "\n",
            r"expected a 32-byte key .*\(44 characters",
            id="trailing-newline",
        ),
        pytest.param(
            KEY_URL_SAFE + "AAAA",
            r"expected a 32-byte key .*\(47 charac",
            id="too-long",
        ),
    ],
)
def test_public_key_from_text_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        public_key_from_text(text)


def test_upstream_envelope_vector_opens(shared_dir: Path) -> None:
    vectors = shared_dir / "spec" / "vectors" / "envelope"
    pair = load_key_file(vectors / "client-key.json")
    frames = (vectors / "sse-stream.txt").read_text(encoding="utf-8").split("\n\n")
    data = frames[2].removeprefix("data: ")

    assert is_envelope(data)
    message = json.loads(open_envelope(data, pair.private))

    assert base64.b64decode(message["bodyB"]) == (vectors / "body.json").read_bytes()
    assert message["x-github-event"] == "issues"
    assert message["x-github-delivery"] == "11111111-2222-3333-4444-555555555555"
    expected_text = (vectors / "public-key.txt").read_text(encoding="ascii")
    assert public_key_text(pair.public) + "\n" == expected_text
