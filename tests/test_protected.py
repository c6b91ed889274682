from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from gosmee_trio.envelope import public_key_text
from gosmee_trio.errors import ConfigError
from gosmee_trio.server.protected import ProtectedChannels

CHANNEL = "test-channel"
ALLOWED = PrivateKey(bytes(range(32))).public_key
UNLISTED = PrivateKey(bytes(range(1, 33))).public_key
ALLOWED_TEXT = public_key_text(ALLOWED)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "channels.json"
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.fixture(name="protected")
def _protected(tmp_path: Path) -> ProtectedChannels:
    document = {"channels": {CHANNEL: {"allowed_public_keys": [ALLOWED_TEXT]}}}
    return ProtectedChannels.load(_write(tmp_path, document))


def test_no_file_protects_nothing_case42() -> None:
    channels = ProtectedChannels.load(None)

    assert not channels.is_protected(CHANNEL)
    assert channels.authorise(CHANNEL, ALLOWED_TEXT) is None


def test_listed_key_is_allowed_case43(protected: ProtectedChannels) -> None:
    assert protected.is_protected(CHANNEL)
    assert protected.channels == {CHANNEL: frozenset({bytes(ALLOWED)})}
    assert protected.authorise(CHANNEL, ALLOWED_TEXT) == ALLOWED


def test_unlisted_channel_stays_plaintext(protected: ProtectedChannels) -> None:
    assert not protected.is_protected("other-channel-x")
    assert protected.authorise("other-channel-x", ALLOWED_TEXT) is None


@pytest.mark.parametrize(
    "pubkey",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("not-a-key", id="malformed"),
        pytest.param(ALLOWED_TEXT[:-1], id="short"),
        pytest.param(ALLOWED_TEXT + "A", id="long"),
        pytest.param(public_key_text(UNLISTED), id="unlisted"),
        pytest.param("A" * 43, id="all-zero"),
    ],
)
def test_authorise_refuses_other_keys(
    protected: ProtectedChannels, pubkey: str | None
) -> None:
    assert protected.authorise(CHANNEL, pubkey) is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            {"channels": {CHANNEL: {"allowed_public_keys": ["not-a-key"]}}},
            r"invalid public key for channel 'test-channel': expected a 32-byte key "
            r"as 43 characters of URL-safe base64 or 44 of standard base64, got "
            r"'not-a-key' \(9 characters\)$",
            id="case44-bad-key",
        ),
        pytest.param(
            {"channels": {"abc": {"allowed_public_keys": [ALLOWED_TEXT]}}},
            r"encrypted channel 'abc' must match \[A-Za-z0-9_-\]\{12,64\}$",
            id="case45-short-channel",
        ),
        pytest.param(
            {"channels": {"": {"allowed_public_keys": [ALLOWED_TEXT]}}},
            r"encrypted channel '' must match ",
            id="empty-channel",
        ),
        pytest.param(
            {"channels": {"bad channel name!": {"allowed_public_keys": []}}},
            r"encrypted channel 'bad channel name!' must match ",
            id="bad-characters",
        ),
        pytest.param(
            {"channels": {CHANNEL: {"allowed_public_keys": []}}},
            r"encrypted channel 'test-channel' has no allowed_public_keys$",
            id="no-keys",
        ),
        pytest.param(
            {"channels": {CHANNEL: {}}},
            r"encrypted channel 'test-channel' has no allowed_public_keys$",
            id="keys-missing",
        ),
        pytest.param(
            {"channels": {CHANNEL: ["key"]}},
            r"encrypted channel 'test-channel' has no allowed_public_keys$",
            id="entry-not-object",
        ),
        pytest.param(
            {"channels": {CHANNEL: {"allowed_public_keys": [ALLOWED_TEXT, 5]}}},
            r"invalid public key for channel 'test-channel': expected a string, "
            r"got 5$",
            id="key-not-string",
        ),
        pytest.param(
            {"channels": {CHANNEL: {"allowed_public_keys": ["A" * 43]}}},
            r"invalid public key for channel 'test-channel': 'A{43}' is a weak key",
            id="weak-key",
        ),
        pytest.param(
            {"channels": {}},
            r"'{path}' lists no channels; expected ",
            id="channels-empty",
        ),
        pytest.param({}, r"'{path}' lists no channels; expected ", id="no-channels"),
        pytest.param(
            {"channels": []},
            r"'{path}' lists no channels; expected ",
            id="channels-list",
        ),
        pytest.param("[]", r"'{path}' lists no channels; expected ", id="array"),
        pytest.param("{", r"'{path}' is not valid JSON: ", id="invalid-json"),
        pytest.param(b"\xff", r"cannot read '{path}': 'utf-8' codec ", id="not-utf8"),
        pytest.param(None, r"file '{path}' does not exist$", id="missing-file"),
    ],
)
def test_load_names_the_fault(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "channels.json"
    if document is not None:
        _write(tmp_path, document)
    pattern = message.replace("{path}", re.escape(str(path)))

    with pytest.raises(ConfigError, match=f"^load protected channels: {pattern}"):
        ProtectedChannels.load(path)


def test_upstream_channels_vector_authorises_the_vector_key(shared_dir: Path) -> None:
    vectors = shared_dir / "spec" / "vectors" / "envelope"
    protected = ProtectedChannels.load(vectors / "channels.json")
    url_safe = (vectors / "public-key.txt").read_text(encoding="ascii").strip()
    standard = base64.b64encode(base64.urlsafe_b64decode(url_safe + "=")).decode()

    assert protected.is_protected("protectedchan01")
    first = protected.authorise("protectedchan01", url_safe)
    second = protected.authorise("protectedchan01", standard)
    assert first is not None
    assert public_key_text(first) == url_safe
    assert second == first


def test_a_channel_listed_twice_stops_the_server(tmp_path: Path) -> None:
    path = tmp_path / "channels.json"
    key = "csT0h-0-7k0oqabfWBEUkurQl3BOBw0pR8W9gfgbKho"
    entry = f'{{"allowed_public_keys":["{key}"]}}'
    path.write_text(
        f'{{"channels":{{"protectedchan01":{entry},"protectedchan01":{entry}}}}}'
    )
    with pytest.raises(ConfigError, match="appears twice"):
        ProtectedChannels.load(path)
