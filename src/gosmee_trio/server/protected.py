"""Protected channels: which subscriber keys may read which channel; pure.

Read once at start-up from upstream's channels file:

    {"channels": {"<channel>": {"allowed_public_keys": ["<url-safe key>", ...]}}}

A subscriber to a protected channel must present a listed key as ``pubkey`` and then
receives every event sealed for that key. Channels not in the file stay plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

from gosmee_trio.config import CHANNEL_PATTERN, is_valid_channel
from gosmee_trio.envelope import public_key_from_text
from gosmee_trio.errors import ConfigError

# A low-order public key makes X25519 give the all-zero secret, which libsodium
# refuses: such a key could be authorised but never sealed for, so it is refused at
# start-up (upstream accepts it). Any private key serves as the probe.
_PROBE = PrivateKey(bytes(range(1, 33)))
_SHAPE = '{"channels": {"<channel>": {"allowed_public_keys": ["<key>", ...]}}}'


@dataclass(frozen=True)
class ProtectedChannels:
    """The protected channels and the raw 32-byte public keys allowed on each."""

    channels: Mapping[str, frozenset[bytes]]

    @classmethod
    def load(cls, path: Path | None) -> ProtectedChannels:
        """Read the channels file; None means no channel is protected.

        Raises:
            ConfigError: naming the file, channel or key at fault, so the server
                refuses to start.
        """
        if path is None:
            return cls(MappingProxyType({}))
        document = _read_json(path)
        entries = document.get("channels") if isinstance(document, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise _error(f"{str(path)!r} lists no channels; expected {_SHAPE}")
        channels = {name: _allowed_keys(name, entry) for name, entry in entries.items()}
        return cls(MappingProxyType(channels))

    def is_protected(self, channel: str) -> bool:
        """Whether subscribers to ``channel`` need a listed key."""
        return channel in self.channels

    def authorise(self, channel: str, pubkey_param: str | None) -> PublicKey | None:
        """The subscriber's key when ``pubkey_param`` is listed for ``channel``.

        None when the channel is not protected (send plaintext) and, for a protected
        channel, when the key is missing, malformed or not listed (answer 404): check
        ``is_protected`` first to tell the two apart.
        """
        allowed = self.channels.get(channel)
        if allowed is None or pubkey_param is None:
            return None
        try:
            key = public_key_from_text(pubkey_param)
        except ValueError:
            return None
        return key if bytes(key) in allowed else None


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(f"file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read {str(path)!r}: {exc}") from exc
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise _error(f"{str(path)!r} is not valid JSON: {exc}") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # A channel listed twice would silently lose its first key list.
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"{key!r} appears twice")
        seen[key] = value
    return seen


def _allowed_keys(channel: str, entry: object) -> frozenset[bytes]:
    if not is_valid_channel(channel):
        raise _error(
            f"encrypted channel {channel!r} must match {CHANNEL_PATTERN.pattern}"
        )
    texts = entry.get("allowed_public_keys") if isinstance(entry, dict) else None
    if not isinstance(texts, list) or not texts:
        raise _error(f"encrypted channel {channel!r} has no allowed_public_keys")

    return frozenset(_decode_key(channel, text) for text in texts)


def _decode_key(channel: str, text: object) -> bytes:
    fault = f"invalid public key for channel {channel!r}"
    if not isinstance(text, str):
        raise _error(f"{fault}: expected a string, got {text!r}")
    try:
        key = public_key_from_text(text)
    except ValueError as exc:
        raise _error(f"{fault}: {exc}") from None
    try:
        Box(_PROBE, key)
    except CryptoError:
        raise _error(
            f"{fault}: {text!r} is a weak key that cannot be encrypted to"
        ) from None
    return bytes(key)


def _error(problem: str) -> ConfigError:
    return ConfigError(f"load protected channels: {problem}")
