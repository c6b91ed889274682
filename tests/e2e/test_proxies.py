"""The reverse-proxy configurations the docs give operators, run for real: nginx and
Caddy with the snippets read out of docs/deploy.md and docs/scaling.md, in front of
real server processes."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from tests.e2e.proxies import (
    DOC_UPSTREAM,
    ProxyProcess,
    Stream,
    braced_block,
    caddy_command,
    caddy_environment,
    caddyfile,
    deploy_caddy_site,
    deploy_nginx_server,
    fenced_blocks,
    nginx_command,
    nginx_config,
    nginx_temp_paths,
    open_stream,
    replace_once,
    start_proxy,
)
from tests.e2e.redis_relays import (
    ServerProcess,
    post,
    start_command,
    start_servers,
    take,
)
from tests.helpers import message_of
from tests.redis_server import RedisServer

CHANNEL = "proxied-channel"
# The webhook sender's address. Not 127.0.0.1, which is where the proxy connects to
# the server from: so only a forwarded header can tell the server this address.
CLIENT_IP = "127.0.0.2"
# A forged address a sender puts in its own X-Forwarded-For (TEST-NET-3).
FORGED_IP = "203.0.113.9"
# The server's keepalive interval in these tests: long, so that a proxy holding SSE
# bytes back (until its buffer fills or more arrive) keeps an event far longer than
# FLUSH_DEADLINE, instead of getting it out with the next keepalive.
KEEPALIVE = "30"
FLUSH_DEADLINE = 5
# Over nginx's default client_max_body_size (1 MiB), well under the doc's 25m.
LARGE_BODY = bytes(range(256)) * 8192
NGINX_READY = b"start worker processes"
CADDY_READY = b"serving initial configuration"


@dataclass
class Proxied:
    """A memory-mode server and the proxy in front of it."""

    server: ServerProcess
    proxy: ProxyProcess


async def start_memory_server(nursery: trio.Nursery, *options: str) -> ServerProcess:
    running = await start_command(
        nursery, "server", "--address", "127.0.0.1", "--port", "0", *options
    )
    await running.stdout.wait_for(b"\n")
    banner = running.stdout.text.split(b"\n", 1)[0].decode()
    assert banner.startswith("Serving for webhooks on "), running.describe()
    return ServerProcess(running, banner.rsplit(" ", 1)[1])


async def start_nginx(
    nursery: trio.Nursery, folder: Path, location: str, http: str = ""
) -> ProxyProcess:
    def command_for(port: int) -> list[str]:
        return nginx_command(folder, nginx_config(folder, port, http, location))

    return await start_proxy(nursery, command_for, NGINX_READY)


async def start_caddy(nursery: trio.Nursery, folder: Path, site: str) -> ProxyProcess:
    def command_for(port: int) -> list[str]:
        return caddy_command(folder, caddyfile(port, site))

    return await start_proxy(
        nursery, command_for, CADDY_READY, caddy_environment(folder)
    )


@pytest.fixture(params=["nginx", "caddy"])
async def proxied(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> Proxied:
    """The server as deploy.md runs it (trusting the proxy, an allowlist), behind
    the proxy configured with deploy.md's snippet for it."""
    with trio.fail_after(30):
        server = await start_memory_server(
            nursery,
            *("--keepalive-interval", KEEPALIVE, "--trust-proxy"),
            *("--allowed-ips", f"{CLIENT_IP}/32"),
        )
        upstream = f"127.0.0.1:{server.port}"
        if request.param == "nginx":
            location = braced_block(deploy_nginx_server(), "location /")
            location = replace_once(location, DOC_UPSTREAM, upstream)
            proxy = await start_nginx(nursery, tmp_path, location)
        else:
            site = braced_block(deploy_caddy_site(), "hooks.example.com")
            site = replace_once(site, DOC_UPSTREAM, upstream)
            proxy = await start_caddy(nursery, tmp_path, site)
    return Proxied(server, proxy)


@pytest.fixture
async def sender() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client connecting from CLIENT_IP, the one address allowed to POST."""
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_IP)
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        yield client


def test_security_md_shows_the_snippets_deploy_md_uses() -> None:
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.strip().splitlines()]

    plain = fenced_blocks("security.md")
    (location,) = [block for block in plain if block.startswith("location / {")]
    deploy_location = braced_block(deploy_nginx_server(), "location /")

    assert deploy_caddy_site() in plain
    assert lines(braced_block(location, "location /")) == lines(deploy_location)


async def test_nginx_accepts_deploy_md_server_block_as_written(tmp_path: Path) -> None:
    config = f"""pid {tmp_path / "nginx.pid"};
events {{}}
http {{
{nginx_temp_paths(tmp_path)}
{deploy_nginx_server()}}}
"""
    # nginx -t parses and checks everything but binds no port, so port 80 is fine.
    command = [*nginx_command(tmp_path, config), "-t"]
    with trio.fail_after(20):
        result = await trio.run_process(command, check=False, capture_stderr=True)
    assert result.returncode == 0, result.stderr.decode()
    assert b"test is successful" in result.stderr


async def test_caddy_validates_deploy_md_caddyfile_as_written(tmp_path: Path) -> None:
    command = caddy_command(tmp_path, deploy_caddy_site(), "validate")
    with trio.fail_after(20):
        result = await trio.run_process(
            command,
            check=False,
            capture_stdout=True,
            stderr=subprocess.STDOUT,
            env=caddy_environment(tmp_path),
        )
    assert result.returncode == 0, result.stdout.decode()
    assert b"Valid configuration" in result.stdout


async def test_proxy_passes_each_event_on_at_once(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    sender: httpx.AsyncClient,
    proxied: Proxied,
) -> None:
    # NOTE: this guards the whole path, not one directive: Caddy flushes event
    # streams whatever its flush_interval, and nginx 1.22 passes chunked SSE frames
    # on at once even with proxy_buffering on (what buffering adds is spooling the
    # response for a slow reader, so the server would no longer see it lag).
    with trio.fail_after(20):
        url = f"{proxied.proxy.url}/events/{CHANNEL}"
        stream: Stream = await nursery.start(open_stream, http, url)
        stream_id = await post(sender, f"{proxied.proxy.url}/{CHANNEL}", b"now")
        with trio.fail_after(FLUSH_DEADLINE):
            (frame,) = await take(stream.frames, 1)

    assert frame[1] == stream_id
    assert base64.b64decode(message_of(frame[2])["bodyB"]) == b"now"


async def test_proxy_replaces_client_address_headers_with_the_real_peer(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    sender: httpx.AsyncClient,
    proxied: Proxied,
) -> None:
    forging = {"X-Forwarded-For": FORGED_IP, "X-Real-IP": FORGED_IP}
    forging_allowed = {"X-Forwarded-For": CLIENT_IP, "X-Real-IP": CLIENT_IP}
    proxy, server = proxied.proxy.url, proxied.server.url
    with trio.fail_after(20):
        url = f"{proxy}/events/{CHANNEL}"
        stream: Stream = await nursery.start(open_stream, http, url)
        # The allowed sender, forging another address: the proxy's header wins.
        honest = await sender.post(f"{proxy}/{CHANNEL}", headers=forging)
        # A sender at 127.0.0.1 forging the allowed address gets nowhere...
        forged = await http.post(f"{proxy}/{CHANNEL}", headers=forging_allowed)
        # ...but would, were there no proxy replacing the header.
        direct = await http.post(f"{server}/{CHANNEL}", headers=forging_allowed)
        relayed = await take(stream.frames, 2)

    assert honest.status_code == 202, honest.text
    assert (forged.status_code, forged.text) == (
        403,
        "IP address 127.0.0.1 not allowed\n",
    )
    assert direct.status_code == 202, direct.text
    via_proxy = message_of(relayed[0][2])
    assert (via_proxy["x-forwarded-for"], via_proxy["x-real-ip"]) == (CLIENT_IP,) * 2
    assert relayed[1][1] == direct.json()["stream_id"]


async def test_proxy_passes_a_body_over_nginx_default_limit(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    sender: httpx.AsyncClient,
    proxied: Proxied,
) -> None:
    with trio.fail_after(30):
        url = f"{proxied.proxy.url}/events/{CHANNEL}"
        stream: Stream = await nursery.start(open_stream, http, url)
        await post(sender, f"{proxied.proxy.url}/{CHANNEL}", LARGE_BODY)
        (frame,) = await take(stream.frames, 1)

    assert base64.b64decode(message_of(frame[2])["bodyB"]) == LARGE_BODY


def scaling_nginx(a: ServerProcess, b: ServerProcess) -> tuple[str, str]:
    """scaling.md's upstream block, pointing at ``a`` and ``b``, and its location
    body."""
    (block,) = fenced_blocks("scaling.md", "nginx")
    servers = braced_block(block, "upstream gosmee_trio")
    upstream = f"upstream gosmee_trio {{{servers}}}"
    upstream = replace_once(upstream, "10.0.0.11:3333", f"127.0.0.1:{a.port}")
    upstream = replace_once(upstream, "10.0.0.12:3333", f"127.0.0.1:{b.port}")
    return upstream, braced_block(block, "location /")


async def test_nginx_upstream_from_scaling_md_resumes_on_the_surviving_replica(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    with trio.fail_after(40):
        a, b = await start_servers(nursery, redis_server.url, 2)
        upstream, location = scaling_nginx(a, b)
        proxy = await start_nginx(nursery, tmp_path, location, upstream)
        events = f"{proxy.url}/events/{CHANNEL}"
        first: Stream = await nursery.start(open_stream, http, events)
        before = await post(http, f"{proxy.url}/{CHANNEL}", b"before")
        (seen,) = await take(first.frames, 1)

        serving = first.headers["x-upstream"]
        victim, survivor = (a, b) if serving == f"127.0.0.1:{a.port}" else (b, a)
        victim.running.process.kill()  # SIGKILL: no goodbye to nginx or the stream
        after_kill = [frame async for frame in first.frames]
        missed = [
            await post(http, f"{proxy.url}/{CHANNEL}", b"%d" % n) for n in range(3)
        ]
        resume = {"Last-Event-ID": seen[1]}
        second: Stream = await nursery.start(open_stream, http, events, resume)
        rest = await take(second.frames, 3)

    assert serving in (f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}")
    assert seen[1] == before
    assert after_kill == []
    assert second.headers["x-upstream"] == f"127.0.0.1:{survivor.port}"
    assert [frame[1] for frame in rest] == missed
    bodies = [base64.b64decode(message_of(frame[2])["bodyB"]) for frame in rest]
    assert bodies == [b"0", b"1", b"2"]
