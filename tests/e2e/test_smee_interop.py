"""The real third-party smee clients against our server.

npm ``smee-client`` (pinned by tests/interop/package-lock.json) and ``pysmee`` (a dev
extra) subscribe to our server's smee wire, ``GET /{channel}``, and forward to a
recording target; each test asserts exactly what reached the target. Both clients
rebuild the request from the event's JSON, so neither can hand over the original
bytes: where a client changes them itself, the expected requests in
``smee_cases.py`` pin what it does. Our own client reads the same wire for
comparison. docs/compatibility.md records the results.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.server.serve import Server
from tests.e2e.processes import start_process, stop_process
from tests.e2e.smee_cases import (
    FORBIDDEN_HEADERS,
    MARKER,
    OUR_CLIENT,
    PYSMEE,
    SECRET,
    SMEE_CLIENT,
    WEBHOOKS,
    Profile,
    Webhook,
)
from tests.e2e.test_relay import start_client
from tests.helpers import Received, RecordingTarget


@pytest.fixture
def server(server_in_each_mode: Server) -> Server:
    """Every test here runs against the in-memory broker and against Redis."""
    return server_in_each_mode


CHANNEL = "smee-interop-channel"
INTEROP = Path(__file__).resolve().parents[1] / "interop"
SMEE_CLIENT_BIN = INTEROP / "node_modules" / ".bin" / "smee"
# Generous: a cold Node or Python start on a busy CI machine takes seconds.
STEP_TIMEOUT = 20


def _smee_client_command(source: str, target: str) -> list[str]:
    if not SMEE_CLIENT_BIN.exists():
        pytest.skip(f"npm smee-client missing: run `npm ci` in {INTEROP}")
    return [str(SMEE_CLIENT_BIN), "--url", source, "--target", target]


def _pysmee_command(source: str, target: str) -> list[str]:
    script = shutil.which("pysmee", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("pysmee missing: install the dev extras")
    # -v logs "Connected to" (on the ready event) and each ping; one worker keeps
    # deliveries in order (five run concurrently by default).
    return [script, "-v", "forward", "--workers", "1", source, target]


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body[:100]
    yield body[100:]


async def _post(http: httpx.AsyncClient, url: str, hook: Webhook) -> tuple[int, int]:
    """Send ``hook``; return the window (ms since the epoch) the server saw it in."""
    content = _chunks(hook.body) if hook.chunked else hook.body
    before = time.time_ns() // 1_000_000
    headers = [*hook.headers().items(), *hook.hop_headers]
    reply = await http.post(url + hook.query, content=content, headers=headers)
    after = time.time_ns() // 1_000_000
    assert reply.status_code == 202, reply.text
    return before, after


def _signature_verifies(got: Received) -> bool:
    digest = hmac.new(SECRET, got.body, hashlib.sha256).hexdigest()
    sent = got.header("x-hub-signature-256") or ""
    return hmac.compare_digest(f"sha256={digest}", sent)


def _assert_delivered(
    got: Received, hook: Webhook, profile: Profile, case: str, window: tuple[int, int]
) -> None:
    expected = profile.delivers[case]
    assert (got.method, got.path) == ("POST", "/hook")
    assert got.body == expected.body
    assert json.loads(got.body) == hook.event_body()
    assert got.header("content-type") == expected.content_type
    assert got.header("content-length") == str(len(got.body))
    assert got.query == expected.query
    assert _signature_verifies(got) is expected.signature_verifies

    # The provider's headers arrive as sent, and nothing carries the body.
    for name, value in hook.headers().items():
        if name != "Content-Type":
            assert got.header(name) == value, name
    if profile.exact_headers:
        assert set(got.header_names()) == profile.header_names
    assert profile.header_names <= set(got.header_names())
    assert not FORBIDDEN_HEADERS & set(got.header_names())
    for name, value in got.headers:
        assert MARKER not in value, name

    # NOTE: smee.io clients turn every leftover top-level key of the event into a
    # header, so the event's numeric timestamp arrives as a "timestamp" header.
    if not profile.timestamp_header:
        assert got.header("timestamp") is None
        return
    timestamp = got.header("timestamp") or ""
    assert timestamp.isdigit()
    assert window[0] <= int(timestamp) <= window[1]


async def _relay(
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    profile: Profile,
    case: str,
) -> None:
    hook = WEBHOOKS[case]
    window = await _post(http, f"{server_url}/{CHANNEL}", hook)
    _assert_delivered(await target.next(), hook, profile, case, window)


@pytest.mark.parametrize("case", list(WEBHOOKS))
async def test_smee_client_forwards_each_webhook(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    case: str,
) -> None:
    command = _smee_client_command(f"{server_url}/{CHANNEL}", f"{target.url}/hook")
    with trio.fail_after(STEP_TIMEOUT):
        client = await start_process(nursery, command)
        # Printed when the stream opens; the server subscribes before answering.
        await client.stdout.wait_for(f"Connected to {server_url}/{CHANNEL}".encode())

        await _relay(http, server_url, target, SMEE_CLIENT, case)
        # It logs the answer only after the target has recorded the request.
        await client.stdout.wait_for(f"POST {target.url}/hook".encode())
        await stop_process(client)
    assert re.search(rb"POST \S+ - 200\n", client.stdout.text)
    assert client.stderr.text == b""


async def test_smee_client_forwards_a_session_of_webhooks_in_order(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    command = _smee_client_command(f"{server_url}/{CHANNEL}", f"{target.url}/hook")
    with trio.fail_after(STEP_TIMEOUT * 2):
        client = await start_process(nursery, command)
        await client.stdout.wait_for(b"Connected to ")
        for case in WEBHOOKS:
            await _relay(http, server_url, target, SMEE_CLIENT, case)
        await client.stdout.wait_for(b"POST ", count=len(WEBHOOKS))
        await stop_process(client)
    answers = re.findall(rb"POST \S+ - (\d+)", client.stdout.text)
    assert answers == [b"200"] * len(WEBHOOKS)
    assert client.stderr.text == b""


async def test_smee_client_crashes_on_the_gosmee_path(
    nursery: trio.Nursery, server_url: str, target: RecordingTarget
) -> None:
    source = f"{server_url}/events/{CHANNEL}"
    command = _smee_client_command(source, f"{target.url}/hook")
    with trio.fail_after(STEP_TIMEOUT):
        client = await start_process(nursery, command)
        # The unnamed {"message":"connected"} reaches its message handler, which
        # has no "body" to stringify and throws outside its try block.
        assert await client.process.wait() == 1
        await client.stderr.wait_for(b"ERR_INVALID_ARG_TYPE")
    assert b"Connected to " in client.stdout.text
    assert target.received == []


@pytest.mark.parametrize("case", list(WEBHOOKS))
async def test_pysmee_forwards_each_webhook(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    case: str,
) -> None:
    command = _pysmee_command(f"{server_url}/{CHANNEL}", f"{target.url}/hook")
    with trio.fail_after(STEP_TIMEOUT):
        client = await start_process(nursery, command)
        # Logged when the named ready event arrives, so the stream is subscribed.
        await client.stderr.wait_for(f"Connected to {server_url}/{CHANNEL}".encode())

        await _relay(http, server_url, target, PYSMEE, case)
        await client.stderr.wait_for(f"POST {target.url}/hook - 200".encode())
        await stop_process(client)
    assert b"ERROR" not in client.stderr.text


async def test_pysmee_takes_pings_as_keepalives(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    command = _pysmee_command(f"{server_url}/{CHANNEL}", f"{target.url}/hook")
    with trio.fail_after(STEP_TIMEOUT):
        client = await start_process(nursery, command)
        # The fixture's server pings every 0.5 s; a named ping is never forwarded.
        await client.stderr.wait_for(b"Ping ", count=2)
        await _relay(http, server_url, target, PYSMEE, "form")
        await stop_process(client)
    assert len(target.received) == 1
    assert b"Unknown event" not in client.stderr.text


async def test_pysmee_forwards_nothing_from_the_gosmee_path(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    source = f"{server_url}/events/{CHANNEL}"
    command = _pysmee_command(source, f"{target.url}/hook")
    failure = b"ERROR: Exception 'body' processing message"
    with trio.fail_after(STEP_TIMEOUT):
        client = await start_process(nursery, command)
        # gosmee's connected and ready messages, then the webhook: none has "body".
        await client.stderr.wait_for(failure, count=2)
        await _post(http, f"{server_url}/{CHANNEL}", WEBHOOKS["github-push"])
        await client.stderr.wait_for(failure, count=3)
        await stop_process(client)
    assert target.received == []


@pytest.mark.parametrize("case", list(WEBHOOKS))
async def test_our_client_on_the_smee_wire_forwards_each_webhook(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    case: str,
) -> None:
    source = f"{server_url}/{CHANNEL}"
    await start_client(nursery, source, f"{target.url}/hook", smee_stream=True)
    with trio.fail_after(STEP_TIMEOUT):
        await _relay(http, server_url, target, OUR_CLIENT, case)


async def test_smee_client_create_channel_gets_a_channel_url(
    server_url: str, http: httpx.AsyncClient
) -> None:
    if not SMEE_CLIENT_BIN.exists():
        pytest.skip(f"npm smee-client missing: run `npm ci` in {INTEROP}")
    # smee-client's own createChannel(): HEAD /new without following redirects,
    # then the Location header is the channel URL.
    script = (
        'import { SmeeClient } from "smee-client";'
        "console.log(await SmeeClient.createChannel("
        "{ newChannelUrl: process.argv[1] }));"
    )
    with trio.fail_after(STEP_TIMEOUT):
        result = await trio.run_process(
            ["node", "--input-type=module", "-e", script, f"{server_url}/new"],
            cwd=INTEROP,
            capture_stdout=True,
            capture_stderr=True,
        )
        url = result.stdout.decode().strip()
        assert re.fullmatch(re.escape(server_url) + r"/[A-Za-z0-9_-]{12,64}", url)
        reply = await http.post(url, content=b"{}")
    assert reply.status_code == 202
