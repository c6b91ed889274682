"""Real server, real client, real target: byte-exact delivery end to end."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
import uuid
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.client.daemon import Client
from gosmee_trio.config import ClientConfig
from gosmee_trio.server.serve import Server
from tests.helpers import Received, RecordingTarget


@pytest.fixture
def server(server_in_each_mode: Server) -> Server:
    """Every test here runs against the in-memory broker and against Redis."""
    return server_in_each_mode


CHANNEL = "e2e-channel-0001"
SECRET = b"it's a secret to everybody"


async def start_client(
    nursery: trio.Nursery, smee_url: str, target_url: str, **options: object
) -> tuple[Client, trio.CancelScope]:
    """Start a real client; returns it with a scope that stops it."""
    scope = trio.CancelScope()
    options.setdefault("keepalive_interval", 0.5)
    client = Client(ClientConfig(smee_url, target_url, **options))  # type: ignore[arg-type]

    async def run(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            await client.run(task_status=task_status)

    with trio.fail_after(10):
        await nursery.start(run)
    return client, scope


async def relay(
    http: httpx.AsyncClient,
    target: RecordingTarget,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> Received:
    reply = await http.post(url, content=body, headers=headers)
    assert reply.status_code == 202, reply.text
    with trio.fail_after(10):
        return await target.next()


def github_headers(body: bytes, event: str = "push") -> dict[str, str]:
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return {
        "User-Agent": "GitHub-Hookshot/5f4c3e1",
        "Accept": "*/*",
        "Content-Type": "application/json",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-ID": "79929171",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


async def test_github_push_arrives_byte_exact_and_signature_verifies(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    body = json.dumps(
        {"ref": "refs/heads/main", "head_commit": {"message": "Fix café ✓"}},
        ensure_ascii=False,
    ).encode()
    headers = github_headers(body)
    await start_client(nursery, f"{server_url}/{CHANNEL}", f"{target.url}/hook")

    got = await relay(http, target, f"{server_url}/{CHANNEL}", body, headers)

    assert got.method == "POST"
    assert got.path == "/hook"
    assert got.body == body
    signature = got.header("X-Hub-Signature-256") or ""
    expected = "sha256=" + hmac.new(SECRET, got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    for name, value in headers.items():
        assert got.header(name) == value, name
    assert got.header("content-length") == str(len(body))
    assert got.header_names().count("host") == 1
    assert "transfer-encoding" not in got.header_names()


BODIES = [
    pytest.param(
        b"name=caf%C3%A9&tags=a&tags=b&empty=",
        "application/x-www-form-urlencoded",
        id="form-urlencoded",
    ),
    pytest.param(bytes(range(256)), "application/octet-stream", id="all-256-bytes"),
    pytest.param(
        unicodedata.normalize("NFD", "Zoë 👩‍👩‍👧 e\u0301 ✓ 🎉").encode(),
        "text/plain; charset=utf-8",
        id="utf8-emoji-combining",
    ),
    pytest.param(os.urandom(5 * 1024 * 1024), "application/octet-stream", id="5-MB"),
    pytest.param(b"<?xml version='1.0'?><a>&amp;</a>", "application/xml", id="xml"),
    pytest.param(b"", "application/json", id="empty"),
]


@pytest.mark.parametrize(("body", "content_type"), BODIES)
async def test_any_body_arrives_byte_exact_with_its_content_type(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    body: bytes,
    content_type: str,
) -> None:
    await start_client(nursery, f"{server_url}/{CHANNEL}", target.url)
    headers = {"Content-Type": content_type, "X-Custom": "kept"}
    got = await relay(http, target, f"{server_url}/{CHANNEL}", body, headers)
    assert got.body == body
    assert got.header("content-type") == content_type
    assert got.header("x-custom") == "kept"
    assert got.header("content-length") == str(len(body))


async def test_repeated_query_keys_are_appended_in_order(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    await start_client(nursery, f"{server_url}/{CHANNEL}", f"{target.url}/hook?token=t")
    url = f"{server_url}/{CHANNEL}?a=1&a=2&b=x%20y"
    got = await relay(http, target, url, b"{}", {})
    assert got.path == "/hook"
    assert got.query == b"token=t&a=1&a=2&b=x%20y"


async def test_restarted_client_receives_exactly_the_events_it_missed(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    smee_url = f"{server_url}/{CHANNEL}"
    first, scope = await start_client(nursery, smee_url, target.url)
    for n in range(2):
        await relay(http, target, smee_url, b"before-%d" % n, {})
    scope.cancel()
    assert first.consumer is not None
    last_id = first.consumer.last_id
    assert last_id

    for n in range(3):
        assert (await http.post(smee_url, content=b"missed-%d" % n)).status_code == 202
    await start_client(nursery, smee_url, target.url, last_event_id=last_id)
    await http.post(smee_url, content=b"live")

    with trio.fail_after(10):
        bodies = [(await target.next()).body for _ in range(4)]
    assert bodies == [b"missed-0", b"missed-1", b"missed-2", b"live"]


async def test_events_on_other_channels_are_not_delivered(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    await start_client(nursery, f"{server_url}/{CHANNEL}", target.url)
    await http.post(f"{server_url}/other-channel-xyz", content=b"not for us")
    got = await relay(http, target, f"{server_url}/{CHANNEL}", b"for us", {})
    assert got.body == b"for us"
    assert len(target.received) == 1


async def test_real_github_fixtures_arrive_byte_exact(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    shared_dir: Path,
) -> None:
    fixtures = sorted(
        (shared_dir / "fixtures" / "github-webhooks").glob("*.payload.json")
    )
    assert fixtures
    await start_client(nursery, f"{server_url}/{CHANNEL}", target.url)
    for path in fixtures:
        body = path.read_bytes()
        event = path.name.split(".", 1)[0]
        got = await relay(
            http, target, f"{server_url}/{CHANNEL}", body, github_headers(body, event)
        )
        assert got.body == body, path.name
        assert got.header("x-github-event") == event
