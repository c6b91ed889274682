"""Server processes reaching Redis by each kind of URL (a Unix socket, TLS with a CA
of one's own, the URL from ``GOSMEE_REDIS_URL``), and untrimmed streams."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.server.redis_entries import text_of
from tests.e2e.redis_relays import (
    COMMAND,
    KEEPALIVE,
    post,
    start_command,
    start_server,
    subscribe,
    take,
    wait_serving,
)
from tests.helpers import message_of
from tests.redis_server import RedisServer

CHANNEL = "redis-url-channel"
UNTRIMMED = "redis-url-untrimmed"
TRIMMED = "redis-url-trimmed"


def _body(data: str | bytes) -> bytes:
    text = data.decode() if isinstance(data, bytes) else data
    return base64.b64decode(message_of(text)["bodyB"])


async def test_webhook_is_relayed_through_redis_on_a_unix_socket(
    nursery: trio.Nursery, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path, unix_socket=True)
    with trio.fail_after(30):
        await redis.start(nursery)
        server = await start_server(nursery, f"unix://{redis.socket_path}?db=3")
        stream = await nursery.start(subscribe, http, f"{server.url}/events/{CHANNEL}")
        stream_id = await post(http, f"{server.url}/{CHANNEL}", b"over a socket")
        (event,) = await take(stream, 1)
        async with redis.client(db=3) as client:
            (stored,) = await client.xrange(f"gosmee:stream:{CHANNEL}")
        others = await redis.clients()

    assert event[1] == stream_id == text_of(stored.identifier)
    assert _body(event[2]) == _body(stored.field_values[b"payload"]) == b"over a socket"
    # Every connection but this test's own came in over the socket (flag U).
    assert others and all("U" in info["flags"] for info in others), others


async def test_server_takes_its_redis_url_from_the_environment(
    nursery: trio.Nursery, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    with trio.fail_after(30):
        running = await start_command(
            nursery,
            *("server", "--address", "127.0.0.1", "--port", "0"),
            *("--keepalive-interval", KEEPALIVE),
            env={"GOSMEE_REDIS_URL": redis_server.url},
        )
        server = await wait_serving(running)
        stream_id = await post(http, f"{server.url}/{CHANNEL}", b"from the env")
        async with redis_server.client() as client:
            stored = await client.xrange(f"gosmee:stream:{CHANNEL}")

    assert re.fullmatch(r"[0-9]+-[0-9]+", stream_id)
    assert [text_of(entry.identifier) for entry in stored] == [stream_id]
    assert list(stored[0].field_values) == [b"payload"]
    assert _body(stored[0].field_values[b"payload"]) == b"from the env"


async def test_stream_maxlen_zero_keeps_every_entry(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    # Two entries per stream node, so trimming (which drops whole nodes) shows at
    # once on the server that trims; the other must keep all of them.
    redis = RedisServer(tmp_path, extra=("--stream-node-max-entries", "2"))
    count = 300
    limits = httpx.Limits(max_connections=8)
    with trio.fail_after(60):
        await redis.start(nursery)
        keeping = await start_server(nursery, redis.url, "--redis-stream-maxlen", "0")
        trimming = await start_server(nursery, redis.url, "--redis-stream-maxlen", "4")
        async with httpx.AsyncClient(timeout=10, limits=limits) as http:
            kept_ids = await _post_many(http, f"{keeping.url}/{UNTRIMMED}", count)
            await _post_many(http, f"{trimming.url}/{TRIMMED}", count)
        async with redis.client() as client:
            kept = await client.xrange(f"gosmee:stream:{UNTRIMMED}")
            trimmed = await client.xlen(f"gosmee:stream:{TRIMMED}")

    assert [text_of(entry.identifier) for entry in kept] == sorted(
        kept_ids, key=lambda sid: tuple(map(int, sid.split("-")))
    )
    assert sorted(_body(entry.field_values[b"payload"]) for entry in kept) == sorted(
        b"%d" % n for n in range(count)
    )
    assert 4 <= trimmed < 10, trimmed


async def _post_many(http: httpx.AsyncClient, url: str, count: int) -> list[str]:
    """POST bodies ``0`` … ``count - 1``, a few at a time; their stream ids."""
    ids: list[str] = []
    send, receive = trio.open_memory_channel[int](count)
    for n in range(count):
        send.send_nowait(n)
    send.close()

    async def poster() -> None:
        async for n in receive:
            ids.append(await post(http, url, b"%d" % n))

    async with trio.open_nursery() as posting:
        for _ in range(4):
            posting.start_soon(poster)
    return ids


async def test_webhook_is_relayed_over_tls_to_redis_with_a_ca_of_its_own(
    nursery: trio.Nursery, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path, tls=True)
    with trio.fail_after(30):
        await redis.start(nursery)
        # The CA named in the URL, or by OpenSSL's SSL_CERT_FILE.
        by_url = await start_server(
            nursery, f"{redis.url}?ssl_ca_certs={redis.ca_file}"
        )
        by_env = await start_server(
            nursery, redis.url, env={"SSL_CERT_FILE": str(redis.ca_file)}
        )
        streams = [
            await nursery.start(subscribe, http, f"{server.url}/events/{CHANNEL}")
            for server in (by_url, by_env)
        ]
        ids = [
            await post(http, f"{by_url.url}/{CHANNEL}", b"one"),
            await post(http, f"{by_env.url}/{CHANNEL}", b"two"),
        ]
        got = [await take(stream, 2) for stream in streams]

    for frames in got:
        assert [sid for _, sid, _ in frames] == ids
        assert [_body(data) for _, _, data in frames] == [b"one", b"two"]


@pytest.mark.parametrize(
    ("host", "query", "problem"),
    [
        # OpenSSL words this by what the chain held; either way the CA is unknown.
        pytest.param("127.0.0.1", "", r".+", id="unknown-ca"),
        pytest.param(
            "localhost",
            "?ssl_ca_certs={ca}",
            re.escape("Hostname mismatch, certificate is not valid for 'localhost'."),
            id="other-host",
        ),
    ],
)
async def test_server_refuses_a_redis_certificate_it_cannot_trust(
    nursery: trio.Nursery, tmp_path: Path, host: str, query: str, problem: str
) -> None:
    redis = RedisServer(tmp_path, tls=True)
    with trio.fail_after(30):
        await redis.start(nursery)
        url = f"rediss://{host}:{redis.port}{query.format(ca=redis.ca_file)}"
        result = await trio.run_process(
            [*COMMAND, "server", "--address", "127.0.0.1", "--port", "0"],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
            env={**_environment(), "GOSMEE_REDIS_URL": url},
        )

    assert result.returncode == 1
    last_line = result.stderr.decode().splitlines()[-1]
    assert re.fullmatch(
        re.escape(
            f"gosmee-trio: error: cannot reach Redis at {url}: Unable to establish a "
            f"connection to {host}:{redis.port}: certificate verify failed: "
        )
        + problem,
        last_line,
    ), last_line


def _environment() -> dict[str, str]:
    """This process's environment without our settings (as for start_command)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GOSMEE_")}
