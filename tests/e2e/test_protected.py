"""Protected channels end to end: key files, per-subscriber envelopes, 404s."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

from gosmee_trio.config import ServerConfig
from gosmee_trio.envelope import public_key_text
from gosmee_trio.keyfile import generate_keypair, load_key_file, write_key_file
from gosmee_trio.server.serve import Server
from tests.e2e.test_relay import start_client
from tests.helpers import RecordingTarget, message_of, read_events

PROTECTED = "protectedchan01"
OPEN = "openchannel-01"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_key_file(first, generate_keypair())
    write_key_file(second, generate_keypair())
    return first, second


@pytest.fixture
async def protected_url(
    nursery: trio.Nursery, keys: tuple[Path, Path], tmp_path: Path
) -> str:
    listed = [public_key_text(load_key_file(path).public) for path in keys]
    channels = tmp_path / "channels.json"
    channels.write_text(
        json.dumps({"channels": {PROTECTED: {"allowed_public_keys": listed}}})
    )
    relay = Server(
        ServerConfig(
            address="127.0.0.1",
            port=0,
            keepalive_interval=0.5,
            encrypted_channels_file=channels,
        )
    )
    await nursery.start(relay.run)
    return relay.state.public_url


def _open_plain_nacl(data: str, key: PrivateKey) -> dict[str, object]:
    envelope = json.loads(data)
    assert list(envelope) == ["encrypted", "version", "epk", "nonce", "ciphertext"]
    box = Box(key, PublicKey(base64.b64decode(envelope["epk"])))
    plain = box.decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["nonce"])
    )
    return message_of(plain.decode())


async def test_authorised_client_gets_exactly_the_posted_bytes(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    protected_url: str,
    keys: tuple[Path, Path],
    target: RecordingTarget,
) -> None:
    await start_client(
        nursery, f"{protected_url}/{PROTECTED}", target.url, encryption_key_file=keys[0]
    )
    body = '{"title":"café — ✓"}'.encode() + bytes(range(256))
    reply = await http.post(f"{protected_url}/{PROTECTED}", content=body)
    assert reply.status_code == 202  # POSTs to protected channels work as usual
    with trio.fail_after(10):
        got = await target.next()
    assert got.body == body


async def test_each_subscriber_gets_its_own_envelope(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    protected_url: str,
    keys: tuple[Path, Path],
) -> None:
    pairs = [load_key_file(path) for path in keys]
    results: list[list[tuple[str, str, str]]] = [[], []]

    async def listen(index: int) -> None:
        pubkey = public_key_text(pairs[index].public)
        url = f"{protected_url}/events/{PROTECTED}?pubkey={pubkey}"
        results[index].extend(await read_events(http, url, 1))

    with trio.fail_after(10):
        async with trio.open_nursery() as inner:
            inner.start_soon(listen, 0)
            inner.start_soon(listen, 1)
            await trio.testing.wait_all_tasks_blocked(0.05)
            await http.post(f"{protected_url}/{PROTECTED}", content=b"secret")
    data = [results[0][0][2], results[1][0][2]]
    assert data[0] != data[1]
    assert results[0][0][1] == results[1][0][1]  # same stream id
    for index, pair in enumerate(pairs):
        message = _open_plain_nacl(data[index], pair.private)
        assert base64.b64decode(str(message["bodyB"])) == b"secret"
    with pytest.raises(
        CryptoError, match="^An error occurred trying to decrypt the message$"
    ):
        _open_plain_nacl(data[0], pairs[1].private)


async def test_unauthorised_keys_get_the_unknown_page_404(
    http: httpx.AsyncClient, protected_url: str
) -> None:
    unknown = await http.get(f"{protected_url}/events/short")
    stranger = public_key_text(generate_keypair().public)
    for query in ("", "?pubkey=", f"?pubkey={stranger}", "?pubkey=!!!", "?pubkey=AAAA"):
        reply = await http.get(f"{protected_url}/events/{PROTECTED}{query}")
        assert (reply.status_code, reply.text) == (404, unknown.text)
        assert reply.headers["content-type"] == unknown.headers["content-type"]
    page = await http.get(f"{protected_url}/{PROTECTED}")
    assert page.status_code == 404


async def test_unprotected_channel_stays_plaintext_even_with_a_pubkey(
    http: httpx.AsyncClient, protected_url: str
) -> None:
    pubkey = public_key_text(generate_keypair().public)
    results: list[tuple[str, str, str]] = []

    async def listen() -> None:
        results.extend(
            await read_events(http, f"{protected_url}/events/{OPEN}?pubkey={pubkey}", 1)
        )

    with trio.fail_after(10):
        async with trio.open_nursery() as inner:
            inner.start_soon(listen)
            await trio.testing.wait_all_tasks_blocked(0.05)
            await http.post(f"{protected_url}/{OPEN}", content=b'{"plain":true}')
    assert "ciphertext" not in results[0][2]
    assert base64.b64decode(message_of(results[0][2])["bodyB"]) == b'{"plain":true}'


async def test_new_channels_are_never_protected(
    http: httpx.AsyncClient, protected_url: str
) -> None:
    for _ in range(20):
        assert PROTECTED not in (await http.get(f"{protected_url}/new")).text


async def test_keygen_writes_a_private_key_file_and_refuses_to_overwrite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "client.json"
    command = [sys.executable, "-m", "gosmee_trio", "keygen", "--key-file", str(path)]
    with trio.fail_after(30):
        first = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True
        )
        again = await trio.run_process(
            command, check=False, capture_stdout=True, capture_stderr=True
        )
        path.chmod(0o644)
        forced = await trio.run_process([*command, "--force"], capture_stdout=True)
    printed = first.stdout.decode().strip()
    assert len(printed) == 43
    assert again.returncode == 1
    assert "already exists; use --force" in again.stderr.decode()
    assert forced.stdout.decode().strip() != printed
    assert public_key_text(load_key_file(path).public) == forced.stdout.decode().strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


async def test_bad_channels_file_stops_the_server_with_a_clear_message(
    tmp_path: Path,
) -> None:
    channels = tmp_path / "channels.json"
    channels.write_text('{"channels": {"abc": {"allowed_public_keys": ["x"]}}}')
    with trio.fail_after(30):
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "gosmee_trio",
                "server",
                "--port",
                "0",
                "--encrypted-channels-file",
                str(channels),
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            capture_stderr=True,
        )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "gosmee-trio: error: load protected channels: encrypted channel 'abc' must "
        "match [A-Za-z0-9_-]{12,64}\n"
    )


async def test_client_refuses_a_key_file_with_smee_io(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "gosmee_trio",
                "client",
                "--encryption-key-file",
                str(keys[0]),
                "https://smee.io/abcdefghijkl",
                "http://127.0.0.1:9/",
            ],
            check=False,
            capture_stderr=True,
        )
    assert result.returncode == 1
    assert (
        "client key files are only supported with gosmee server URLs"
        in result.stderr.decode()
    )
