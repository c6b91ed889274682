from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from gosmee_trio.errors import ConfigError
from gosmee_trio.keyfile import (
    KeyPair,
    generate_keypair,
    load_key_file,
    readable_by_others,
    write_key_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_key_file_round_trips_case49(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "client.json"
    pair = generate_keypair()

    write_key_file(path, pair)

    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert load_key_file(path) == pair


def test_key_file_is_in_upstream_shape(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    private = PrivateKey(bytes(range(32)))

    write_key_file(path, KeyPair(private, private.public_key))

    assert path.read_bytes() == (
        b'{"public_key":"j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8=",'
        b'"private_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}'
    )


def test_key_file_makes_every_missing_folder_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "client.json"

    write_key_file(path, generate_keypair())

    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700


def test_key_file_is_not_replaced_without_force(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    first = generate_keypair()
    write_key_file(path, first)

    with pytest.raises(
        ConfigError,
        match=rf"^key file '{re.escape(str(path))}' already exists; "
        r"use --force to replace it$",
    ):
        write_key_file(path, generate_keypair())
    assert load_key_file(path) == first


def test_key_file_is_replaced_with_force_and_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text("old")
    path.chmod(0o644)
    pair = generate_keypair()

    write_key_file(path, pair, force=True)

    assert _mode(path) == 0o600
    assert load_key_file(path) == pair
    assert [p.name for p in tmp_path.iterdir()] == ["client.json"]


def test_key_file_write_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "folder"
    path.mkdir()

    with pytest.raises(
        ConfigError, match=rf"^cannot write key file '{re.escape(str(path))}': "
    ):
        write_key_file(path, generate_keypair(), force=True)


PRIVATE = PrivateKey(bytes(range(32)))
GOOD = {
    "public_key": _b64(bytes(PRIVATE.public_key)),
    "private_key": _b64(bytes(PRIVATE)),
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            None,
            r"key file '{path}' does not exist; create one with "
            r"'gosmee-trio keygen --key-file <path>'$",
            id="missing",
        ),
        pytest.param("{", r"key file '{path}' is not valid JSON: ", id="not-json"),
        pytest.param(
            b"\xff{}", r"cannot read key file '{path}': 'utf-8' codec ", id="not-utf8"
        ),
        pytest.param(
            "[]",
            r"key file '{path}' should hold a JSON object with "
            r"public_key and private_key, got list$",
            id="not-object",
        ),
        pytest.param(
            {"public_key": GOOD["public_key"]},
            r"key file '{path}' has no private_key string$",
            id="no-private",
        ),
        pytest.param(
            {**GOOD, "public_key": 7},
            r"key file '{path}' has no public_key string$",
            id="public-not-string",
        ),
        pytest.param(
            {**GOOD, "private_key": "***"},
            r"key file '{path}': private_key is not standard base64$",
            id="private-not-base64",
        ),
        pytest.param(
            {**GOOD, "public_key": GOOD["public_key"].rstrip("=")},
            r"key file '{path}': public_key is not standard base64$",
            id="public-unpadded",
        ),
        pytest.param(
            {**GOOD, "private_key": _b64(bytes(31))},
            r"key file '{path}': private_key should decode to 32 bytes, "
            r"got 31$",
            id="private-short",
        ),
        pytest.param(
            {**GOOD, "public_key": _b64(bytes(33))},
            r"key file '{path}': public_key should decode to 32 bytes, "
            r"got 33$",
            id="public-long",
        ),
        pytest.param(
            {**GOOD, "public_key": _b64(bytes(32))},
            r"key file '{path}': public_key does not belong to "
            r"private_key$",
            id="mismatched",
        ),
    ],
)
def test_load_key_file_names_the_problem(
    tmp_path: Path, content: object, message: str
) -> None:
    path = tmp_path / "client.json"
    if content is not None:
        text = content if isinstance(content, str | bytes) else json.dumps(content)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    with pytest.raises(
        ConfigError, match="^" + message.replace("{path}", re.escape(str(path)))
    ):
        load_key_file(path)


def test_load_key_file_never_echoes_the_private_key(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    secret = GOOD["private_key"][:-2] + "!="
    path.write_text(json.dumps({**GOOD, "private_key": secret}))

    with pytest.raises(ConfigError) as caught:
        load_key_file(path)
    assert GOOD["private_key"][:20] not in str(caught.value)


def test_readable_by_others_spots_a_shared_private_key(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    write_key_file(path, generate_keypair())
    assert not readable_by_others(path)
    path.chmod(0o644)
    assert readable_by_others(path)
    assert not readable_by_others(tmp_path / "missing.json")
