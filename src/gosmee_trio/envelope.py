"""Sealing and opening gosmee's encrypted envelopes; pure.

An envelope carries one relay message to one subscriber of a protected channel:

    {"encrypted":true,"version":1,"epk":"<b64>","nonce":"<b64>","ciphertext":"<b64>"}

in standard padded base64 and the key order of upstream's Go struct. Public keys travel
as unpadded URL-safe base64 (``keygen`` output, channels files, ``pubkey``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import nacl.utils
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

from gosmee_trio.errors import EnvelopeError

# NaCl box (https://nacl.cr.yp.to/box.html): X25519, then XSalsa20-Poly1305 with a
# 24-byte nonce; ciphertext = tag(16) || encrypted message, nonce not included. It is
# Go's box.Seal/Open (https://pkg.go.dev/golang.org/x/crypto/nacl/box), as upstream.
ENVELOPE_VERSION = 1
_URL_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
_STANDARD_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")


def seal(plaintext: bytes, recipient: PublicKey) -> bytes:
    """Encrypt ``plaintext`` for ``recipient`` into compact envelope JSON bytes.

    Each call uses a fresh ephemeral keypair and random nonce: no two envelopes match.

    Raises:
        EnvelopeError: when ``recipient`` cannot be encrypted to.
    """
    return _seal_with(
        plaintext, recipient, PrivateKey.generate(), nacl.utils.random(Box.NONCE_SIZE)
    )


def _seal_with(
    plaintext: bytes, recipient: PublicKey, ephemeral: PrivateKey, nonce: bytes
) -> bytes:
    try:
        ciphertext = Box(ephemeral, recipient).encrypt(plaintext, nonce).ciphertext
    except CryptoError as exc:
        raise EnvelopeError(f"cannot seal an envelope for this key: {exc}") from exc
    # Built by hand rather than with json.dumps: every value is base64 (nothing to
    # escape), and for a large payload the encoder's extra copies dominate the cost.
    return b"".join(
        (
            b'{"encrypted":true,"version":1,"epk":"',
            base64.b64encode(bytes(ephemeral.public_key)),
            b'","nonce":"',
            base64.b64encode(nonce),
            b'","ciphertext":"',
            *_base64_pieces(ciphertext),
            b'"}',
        )
    )


def _base64_pieces(data: bytes) -> list[bytes]:
    # Pieces of 3 MiB (a multiple of 3, so they join into one valid encoding): each
    # call holds the GIL only briefly, which matters when sealing runs in a thread.
    step = 3 * 1024 * 1024
    view = memoryview(data)
    return [
        base64.b64encode(view[i : i + step]) for i in range(0, len(data), step)
    ] or [b""]


def is_envelope(data: str) -> bool:
    """Whether ``data`` is JSON with ``encrypted`` true and non-empty ``epk``,
    ``nonce`` and ``ciphertext`` strings; ``open_envelope`` checks the version."""
    return _parse_envelope(data) is not None


def open_envelope(data: str, private_key: PrivateKey) -> bytes:
    """Decrypt an envelope addressed to ``private_key``; returns the plaintext.

    Raises:
        EnvelopeError: when ``data`` is not an envelope, has another version, holds
            fields of the wrong encoding or size, or will not decrypt with this key.
    """
    fields = _parse_envelope(data)
    if fields is None:
        raise EnvelopeError(
            "not an encrypted envelope: expected a JSON object with encrypted true "
            "and non-empty epk, nonce and ciphertext strings"
        )
    version = fields.get("version")
    if type(version) is not int or version != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported envelope version {version!r}, expected 1")

    epk = _decode_field(fields, "epk", PublicKey.SIZE)
    nonce = _decode_field(fields, "nonce", Box.NONCE_SIZE)
    ciphertext = _decode_field(fields, "ciphertext", None)
    try:
        return Box(private_key, PublicKey(epk)).decrypt(ciphertext, nonce)
    except CryptoError as exc:
        problem = "wrong private key, or the envelope was altered"
        raise EnvelopeError(f"cannot decrypt envelope: {problem}") from exc


def public_key_from_text(text: str) -> PublicKey:
    """Read a public key from unpadded URL-safe base64 (43 characters, upstream's
    form) or padded standard base64 (44 characters).

    Raises:
        ValueError: naming what is wrong with ``text``.
    """
    if _URL_SAFE_KEY.fullmatch(text):
        raw = base64.urlsafe_b64decode(text + "=")
    elif _STANDARD_KEY.fullmatch(text):
        raw = base64.b64decode(text)
    else:
        raise ValueError(
            "expected a 32-byte key as 43 characters of URL-safe base64 or 44 of "
            f"standard base64, got {text[:64]!r} ({len(text)} characters)"
        )
    return PublicKey(raw)


def public_key_text(key: PublicKey) -> str:
    """The URL-safe, unpadded base64 form that ``keygen`` prints and channels list."""
    return base64.urlsafe_b64encode(bytes(key)).decode("ascii").rstrip("=")


def _parse_envelope(data: str) -> dict[str, Any] | None:
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or fields.get("encrypted") is not True:
        return None
    sealed = (fields.get(name) for name in ("epk", "nonce", "ciphertext"))
    return fields if all(isinstance(v, str) and v for v in sealed) else None


def _decode_field(fields: dict[str, Any], name: str, size: int | None) -> bytes:
    try:
        raw = base64.b64decode(fields[name], validate=True)
    except binascii.Error as exc:
        raise EnvelopeError(f"envelope {name} is not standard base64: {exc}") from None
    if size is not None and len(raw) != size:
        raise EnvelopeError(f"envelope {name} should be {size} bytes, got {len(raw)}")
    return raw
