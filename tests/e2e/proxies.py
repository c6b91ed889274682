"""Real nginx and Caddy in front of real servers, configured from the docs' own
snippets, and an SSE reader that also reports the response headers."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
from httpx_sse import aconnect_sse

from tests.e2e.processes import OutputLog
from tests.e2e.redis_relays import CONNECTED, Frame
from tests.helpers import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs"
# The upstream address every snippet in deploy.md proxies to.
DOC_UPSTREAM = "127.0.0.1:3333"
READY = '{"message":"ready"}'
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(page: str, info: str = "") -> list[str]:
    """The fenced code blocks of docs/<page> whose info string is ``info``."""
    text = (DOCS / page).read_text()
    return [body for tag, body in _FENCE.findall(text) if tag.strip() == info]


def braced_block(text: str, opener: str) -> str:
    """What lies between the ``{`` ending ``opener`` and its matching ``}``."""
    start = text.index(opener + " {") + len(opener) + 2
    depth = 1
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    raise ValueError(f"expected a closing brace for {opener!r}, found none")


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with its only ``old`` replaced, so a changed doc fails loudly."""
    assert text.count(old) == 1, f"expected {old!r} once in the doc's snippet: {text}"
    return text.replace(old, new)


def deploy_nginx_server() -> str:
    """The ``server { … }`` block of deploy.md's ```nginx snippet."""
    (block,) = fenced_blocks("deploy.md", "nginx")
    return block


def deploy_caddy_site() -> str:
    """deploy.md's Caddyfile: its only plain block that opens a site."""
    (block,) = [
        b for b in fenced_blocks("deploy.md") if b.startswith("hooks.example.com {")
    ]
    return block


def binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        # tests/conftest.py turns this skip into a failure under CI.
        pytest.skip(
            f"{name} is not installed (CI installs it: apt-get install {package})"
        )
    return found


def nginx_config(folder: Path, port: int, http: str, location: str) -> str:
    """A self-contained nginx.conf: the doc's ``location /`` body behind a loopback
    listener, every file nginx writes under ``folder``, logs on stderr."""
    # As root, nginx's worker would switch to "nobody", which cannot enter pytest's
    # private tmp_path to spool request bodies; it keeps our own user instead.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
pid {folder / "nginx.pid"};
# Notice level, so the log says "start worker processes" once it listens.
error_log stderr notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
{nginx_temp_paths(folder)}
{http}
    server {{
        listen 127.0.0.1:{port};
        # Test-only, both inherited by the doc's location, which sets neither: which
        # replica answered; and the server's X-Accel-Buffering: no is ignored, so it
        # is the doc's configuration on its own that must pass SSE on unbuffered.
        add_header X-Upstream $upstream_addr always;
        proxy_ignore_headers X-Accel-Buffering;
        location / {{
{location}
        }}
    }}
}}
"""


def nginx_temp_paths(folder: Path) -> str:
    """Directives keeping nginx's spool directories under ``folder``."""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    return "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in kinds)


def nginx_command(folder: Path, config: str) -> list[str]:
    path = folder / "nginx.conf"
    path.write_text(config)
    # -e: even the start-up messages before the config is read go to stderr.
    nginx = binary("nginx", "nginx-light")
    return [nginx, "-p", str(folder), "-e", "stderr", "-c", str(path)]


def caddyfile(port: int, site: str) -> str:
    """A plain-HTTP Caddyfile on a loopback port serving the doc's site body."""
    return f"""{{
    # No admin API: its fixed port 2019 would clash with other tests.
    admin off
}}
http://127.0.0.1:{port} {{
    bind 127.0.0.1
{site}
}}
"""


def caddy_command(folder: Path, caddyfile_text: str, verb: str = "run") -> list[str]:
    """``caddy run`` (or ``validate``) on ``caddyfile_text``, written to ``folder``."""
    path = folder / "Caddyfile"
    path.write_text(caddyfile_text)
    caddy = binary("caddy", "caddy")
    return [caddy, verb, "--config", str(path), "--adapter", "caddyfile"]


def caddy_environment(folder: Path) -> dict[str, str]:
    """Caddy keeps its data and autosaved config under ``folder``, not ~/."""
    return {
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }


@dataclass
class ProxyProcess:
    """A proxy process, once it is listening on ``port``; ``log`` is its output."""

    process: trio.Process
    port: int
    log: OutputLog

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start_proxy(
    nursery: trio.Nursery,
    command_for: Callable[[int], list[str]],
    ready_line: bytes,
    env: dict[str, str] | None = None,
) -> ProxyProcess:
    """Start ``command_for(port)`` and wait until its log shows ``ready_line``.

    The port comes from free_port(), so something else may take it before the proxy
    binds it; the proxy then exits saying so, and a fresh port is tried.
    """
    for _attempt in range(5):
        port = free_port()
        process, log = await _start_once(nursery, command_for(port), ready_line, env)
        if process.returncode is None and ready_line in log.text:
            return ProxyProcess(process, port, log)
        if b"address already in use" not in log.text.lower():
            break
    raise AssertionError(f"proxy did not start: {log.text.decode(errors='replace')}")


async def _start_once(
    nursery: trio.Nursery,
    command: list[str],
    ready_line: bytes,
    env: dict[str, str] | None,
) -> tuple[trio.Process, OutputLog]:
    # No proxy from the environment may route the proxies' own requests.
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            command,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=base | (env or {}),
        )
    )
    # Read to the end, so the proxy never blocks on a full pipe.
    log = OutputLog()
    nursery.start_soon(log.drain, process.stdout)
    with trio.fail_after(20):
        ready = await log.wait_for_or_end(ready_line)
    if not ready:
        with trio.fail_after(10):
            await process.wait()  # the log ended: it is exiting
    return process, log


@dataclass
class Stream:
    """An open SSE stream: its response headers, and its events as they come."""

    headers: httpx.Headers
    frames: trio.MemoryReceiveChannel[Frame]


async def open_stream(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    task_status: trio.TaskStatus[Stream],
) -> None:
    """Read an SSE stream; reports started once the ready frame came through.

    Control frames are left out. The channel closes when the stream ends, also when
    the proxy cuts it short because the replica behind it died.
    """
    send, receive = trio.open_memory_channel[Frame](100)
    ready = False
    try:
        async with (
            send,
            aconnect_sse(http, "GET", url, headers=headers or {}) as source,
        ):
            assert source.response.status_code == 200, source.response.status_code
            async for sse in source.aiter_sse():
                if sse.data in (CONNECTED, READY) or not sse.data:
                    if sse.data == READY and not ready:
                        ready = True
                        task_status.started(Stream(source.response.headers, receive))
                    continue  # control frames and keepalives
                send.send_nowait((sse.event, sse.id, sse.data))
    except (httpx.RemoteProtocolError, httpx.ReadError):
        # NOTE: nginx ends a response whose upstream vanished by closing the
        # connection without the last chunk; for a reader that is the stream's end.
        if not ready:
            raise
