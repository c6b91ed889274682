"""A real redis-server for tests: started on a free loopback port, killed after."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import coredis
import pytest
import trio
import trustme
from coredis.response.types import ClientInfo

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.serve import Server
from tests.e2e.processes import OutputLog
from tests.helpers import free_port


@dataclass
class RedisServer:
    """One redis-server process; ``restart`` keeps its port and (with AOF) data."""

    folder: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    # Serve TLS only on ``port`` (``url`` is then rediss://), with a certificate
    # for 127.0.0.1 alone, issued by a throwaway CA whose certificate is ``ca_file``.
    tls: bool = False
    # Also listen on the Unix socket ``socket_path``.
    unix_socket: bool = False
    process: trio.Process | None = None
    _nursery: trio.Nursery | None = None
    _started_before: bool = False

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def socket_path(self) -> Path:
        return self.folder / "redis.sock"

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        # The port came from free_port(), so another process may have taken it in the
        # meantime (an outgoing connection's ephemeral port, another test's listener):
        # Redis then exits at once. A first start moves to a fresh port; a restart
        # must keep its port, so it fails, naming the port.
        for _attempt in range(5):
            if await self._start_once(nursery):
                return
            if self._started_before:
                break
            self.port = free_port()
        raise RuntimeError(f"redis-server exited at start-up on port {self.port}")

    async def _start_once(self, nursery: trio.Nursery) -> bool:
        command = [
            _binary(),
            *self._listen_options(),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            # Every write on disk before it is acknowledged, so a restart keeps all.
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            # Its log on stdout is how we learn it listens (or why it exited).
            "--logfile",
            "",
            "--loglevel",
            "notice",
            *self.extra,
        ]
        self.process = await nursery.start(
            partial(
                trio.run_process,
                command,
                check=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        # Read to the end, so a chatty Redis never blocks on a full pipe. Its output
        # ends before the line if it exits, e.g. on a port taken since free_port().
        log = OutputLog()
        nursery.start_soon(log.drain, self.process.stdout)
        with trio.fail_after(20):
            ready = await log.wait_for_or_end(b"Ready to accept connections")
        self._started_before = self._started_before or ready
        if not ready:
            self.process = None
        return ready

    def _listen_options(self) -> list[str]:
        options = ["--port", str(self.port)]
        if self.tls:
            if not self.ca_file.exists():  # a restart keeps its certificates
                _write_certificates(self.folder)
            options = [
                *("--port", "0", "--tls-port", str(self.port)),
                *("--tls-cert-file", str(self.folder / "redis.pem")),
                *("--tls-key-file", str(self.folder / "redis.key")),
                *("--tls-ca-cert-file", str(self.ca_file)),
                *("--tls-auth-clients", "no"),
            ]
        if self.unix_socket:
            options += [
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        return options

    async def stop(self) -> None:
        """SIGTERM and wait: Redis flushes and exits; clients see the port close."""
        assert self.process is not None
        self.process.terminate()
        with trio.fail_after(10):
            await self.process.wait()
        self.process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start_again()

    async def start_again(self) -> None:
        """Start a stopped server again, on its port, in its first nursery."""
        assert self._nursery is not None
        await self.start(self._nursery)

    @asynccontextmanager
    async def client(self, db: int = 0) -> AsyncIterator[coredis.Redis[bytes]]:
        tls = ssl.create_default_context(cafile=self.ca_file) if self.tls else None
        redis: coredis.Redis[bytes] = coredis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=db,
            decode_responses=False,
            ssl_context=tls,
        )
        async with redis:
            yield redis

    async def connection_count(self) -> int:
        """Clients connected now, not counting the connection that asks."""
        return len(await self.clients())

    async def clients(self) -> list[ClientInfo]:
        """CLIENT LIST now, without the connection that asks."""
        async with self.client() as redis:
            me = await redis.client_id()
            return [info for info in await redis.client_list() if info["id"] != me]


def _write_certificates(folder: Path) -> None:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(folder / "ca.pem")
    issued = authority.issue_cert("127.0.0.1")
    issued.private_key_pem.write_to_path(folder / "redis.key")
    issued.cert_chain_pems[0].write_to_path(folder / "redis.pem")


def _binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed (CI installs it)")
    return found


@pytest.fixture
async def redis_server(nursery: trio.Nursery, tmp_path: Path) -> RedisServer:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    await server.start(nursery)
    return server


@pytest.fixture
async def redis_relay(nursery: trio.Nursery, redis_server: RedisServer) -> Server:
    """A real server in Redis mode on an ephemeral loopback port."""
    relay = Server(
        ServerConfig(
            address="127.0.0.1",
            port=0,
            keepalive_interval=0.5,
            redis_url=redis_server.url,
        )
    )
    await nursery.start(relay.run)
    return relay


@pytest.fixture(params=["memory", "redis"])
async def server_in_each_mode(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> Server:
    """The ``server`` fixture's server, once with each broker (for wire tests that
    must hold in both modes)."""
    redis_url = ""
    if request.param == "redis":
        folder = tmp_path / "redis"
        folder.mkdir()
        redis = RedisServer(folder)
        await redis.start(nursery)
        redis_url = redis.url
    relay = Server(
        ServerConfig(
            address="127.0.0.1", port=0, keepalive_interval=0.5, redis_url=redis_url
        ),
        None if redis_url else Broker(history_events=50),
    )
    await nursery.start(relay.run)
    return relay
