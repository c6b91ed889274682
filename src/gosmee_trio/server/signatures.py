"""Webhook signature checks: which header a provider signs with, and how.

Pure: no I/O. When secrets are configured the server asks `verify_signature` about
every webhook and answers ``401 invalid signature`` when it says no.

The first header present in this order decides, as in upstream
(gosmee-reference.md §2.7): a bad value there is not rescued by another header.

    order  header               value          check
    1      X-Gitlab-Token       <secret>       equals a secret (GitLab)
    2      X-Hub-Signature-256  sha256=<hex>   HMAC-SHA256 (GitHub, Gitea, Forgejo)
    3      X-Hub-Signature      sha1=<hex>     HMAC-SHA1 (GitHub legacy)
                                sha256=<hex>   HMAC-SHA256 (Bitbucket Cloud and Server)
                                <hex>          HMAC-SHA256 (upstream gosmee)
    4      X-Gitea-Signature    <hex>          HMAC-SHA256 (Gitea)
                                sha256=<hex>   HMAC-SHA256 (upstream gosmee)
    5      X-Forgejo-Signature  <hex>          HMAC-SHA256 (Forgejo)
                                sha256=<hex>   HMAC-SHA256 (same shapes as Gitea)
    none of them                               rejected

HMACs are keyed with the secret's UTF-8 bytes and cover the raw body. HMAC-SHA1 is
still a sound MAC (SHA-1's collisions do not carry over to HMAC), so GitHub's legacy
header stays accepted for senders that send only that one.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence

_GITLAB_TOKEN = "x-gitlab-token"

# How each HMAC header's value may be written: (prefix, digest) pairs, tried in
# order. The bare form has the empty prefix, so it must come last.
_HMAC_HEADERS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("x-hub-signature-256", (("sha256=", "sha256"),)),
    ("x-hub-signature", (("sha1=", "sha1"), ("sha256=", "sha256"), ("", "sha256"))),
    ("x-gitea-signature", (("sha256=", "sha256"), ("", "sha256"))),
    ("x-forgejo-signature", (("sha256=", "sha256"), ("", "sha256"))),
)

SIGNATURE_HEADERS: tuple[str, ...] = (
    _GITLAB_TOKEN,
    *(name for name, _ in _HMAC_HEADERS),
)
"""The headers `verify_signature` looks at, lower-case, in the order it checks them."""

_DIGEST_SIZES = {"sha1": 20, "sha256": 32}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def verify_signature(
    headers: Mapping[str, str], body_chunks: Sequence[bytes], secrets: Sequence[str]
) -> bool:
    """Whether a webhook was signed with one of ``secrets``.

    Each configured secret is tried in turn, so old and new both pass while a
    secret is being rotated. Comparisons are constant-time. A malformed header
    value is a mismatch, never an error.

    Args:
        headers: The request headers: names lower-case, values decoded as Latin-1
            (so each character is one byte of the header, as ASGI gives them),
            repeated headers joined with ``", "``.
        body_chunks: The raw body as it arrived; fed to the HMAC chunk by chunk, so
            a large body is never copied.
        secrets: The configured secrets. With none every request passes, as in
            upstream (behaviour case 13); callers skip the check instead.
    """
    if not secrets:
        return True
    token = headers.get(_GITLAB_TOKEN)
    if token is not None:
        return _matches_token(token, secrets)

    for name, forms in _HMAC_HEADERS:
        value = headers.get(name)
        if value is not None:
            parsed = _parse_signature(value, forms)
            return parsed is not None and _matches_hmac(*parsed, body_chunks, secrets)
    return False


def _matches_token(token: str, secrets: Sequence[str]) -> bool:
    # Latin-1 gives back the header's bytes; a character it cannot encode was never
    # one of them. An empty token must not match an empty secret that slipped past
    # the config.
    try:
        received = token.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return bool(received) and any(
        hmac.compare_digest(received, _secret_bytes(secret)) for secret in secrets
    )


def _parse_signature(
    value: str, forms: Iterable[tuple[str, str]]
) -> tuple[str, bytes] | None:
    for prefix, digest in forms:
        if value.startswith(prefix):
            return _decode_hex(value[len(prefix) :], digest)
    return None


def _decode_hex(text: str, digest: str) -> tuple[str, bytes] | None:
    # NOTE: upstream compares hex text, so uppercase fails there. We compare digest
    # bytes: hex case carries no information and every provider sends lowercase, so
    # accepting uppercase lets nobody forge anything. The checks come first because
    # bytes.fromhex also skips spaces, and to reject non-ASCII digits.
    if len(text) != 2 * _DIGEST_SIZES[digest] or not _HEX_DIGITS.issuperset(text):
        return None
    return digest, bytes.fromhex(text)


def _matches_hmac(
    digest: str, expected: bytes, body_chunks: Sequence[bytes], secrets: Sequence[str]
) -> bool:
    # Returning at the first match tells the timing of a valid request only, which
    # its sender already knows; a forged one always pays for every secret.
    for secret in secrets:
        mac = hmac.new(_secret_bytes(secret), digestmod=digest)
        for chunk in body_chunks:
            mac.update(chunk)
        if hmac.compare_digest(mac.digest(), expected):
            return True
    return False


def _secret_bytes(secret: str) -> bytes:
    # argv and the environment decode bytes that are not UTF-8 with
    # "surrogateescape"; encoding the same way gives back what the user typed.
    return secret.encode("utf-8", "surrogateescape")
