"""The client's encryption key file, in upstream ``keygen``'s format.

Compact JSON without a trailing newline, both raw 32-byte Curve25519 keys in
standard padded base64:

    {"public_key":"<b64>","private_key":"<b64>"}

Paths are used as given, without ``~`` expansion, as upstream does.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey, PublicKey

from gosmee_trio.client.checkpoint import write_atomically
from gosmee_trio.errors import ConfigError

# Only the owner may read a private key; its folder is kept private too.
_FILE_MODE = 0o600
_DIR_MODE = 0o700


@dataclass(frozen=True)
class KeyPair:
    """A Curve25519 keypair for NaCl box."""

    private: PrivateKey
    public: PublicKey


def generate_keypair() -> KeyPair:
    """A fresh random keypair."""
    private = PrivateKey.generate()
    return KeyPair(private, private.public_key)


def write_key_file(path: Path, pair: KeyPair, *, force: bool = False) -> None:
    """Write ``pair`` to ``path`` with mode 0600, creating missing folders 0700.

    The file is replaced atomically, so a reader sees the old keys or the new ones.

    Args:
        path: where to write; not ``~``-expanded.
        pair: the keys to store.
        force: replace an existing file instead of refusing.

    Raises:
        ConfigError: when the file exists and ``force`` is false, or it cannot be
            written.
    """
    # NOTE: checking, then renaming, leaves a window in which another process could
    # create the file; keygen is run by hand, so refusing is a courtesy, not a lock.
    if os.path.lexists(path) and not force:
        raise ConfigError(
            f"key file {str(path)!r} already exists; use --force to replace it"
        )
    document = {
        "public_key": _encode(bytes(pair.public)),
        "private_key": _encode(bytes(pair.private)),
    }
    data = json.dumps(document, separators=(",", ":")).encode("ascii")
    try:
        _make_private_dirs(path.parent)
        write_atomically(path, data, _FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write key file {str(path)!r}: {exc}") from exc


def readable_by_others(path: Path) -> bool:
    """Whether group or others may read ``path`` (a private key should be 0600)."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def load_key_file(path: Path) -> KeyPair:
    """Read the keypair that ``write_key_file`` (or upstream ``keygen``) wrote.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"key file {str(path)!r} does not exist; create one with "
            "'gosmee-trio keygen --key-file <path>'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read key file {str(path)!r}: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"key file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"key file {str(path)!r} should hold a JSON object with public_key "
            f"and private_key, got {type(document).__name__}"
        )

    private = PrivateKey(_decode_key(path, document, "private_key"))
    public = PublicKey(_decode_key(path, document, "public_key"))
    if private.public_key != public:
        raise ConfigError(
            f"key file {str(path)!r}: public_key does not belong to private_key"
        )
    return KeyPair(private, public)


def _decode_key(path: Path, document: dict[str, object], field: str) -> bytes:
    # Values are never echoed: one of them is a secret.
    value = document.get(field)
    if not isinstance(value, str):
        raise ConfigError(f"key file {str(path)!r} has no {field} string")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ConfigError(
            f"key file {str(path)!r}: {field} is not standard base64"
        ) from None
    if len(raw) != PrivateKey.SIZE:
        raise ConfigError(
            f"key file {str(path)!r}: {field} should decode to 32 bytes, got {len(raw)}"
        )
    return raw


def _make_private_dirs(directory: Path) -> None:
    # Path.mkdir(parents=True) gives missing ancestors the default mode; upstream
    # (Go's MkdirAll) makes every missing folder 0700.
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=_DIR_MODE, exist_ok=True)


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
