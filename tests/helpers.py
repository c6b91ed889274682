"""Test helpers: a recording HTTP target and SSE readers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Received:
    """One request as the target saw it: exact bytes, headers in order."""

    method: str
    path: str
    query: bytes
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def header_names(self) -> list[str]:
        return [key for key, _ in self.headers]


@dataclass
class RecordingTarget:
    """A tiny hypercorn app recording every request; answers ``status``."""

    status: int = 200
    # Scripted answers, used up first: a status, or (status, headers), or "hang"
    # (never answer), or a float (answer 200 after that many seconds).
    statuses: list[int | tuple[int, dict[str, str]] | str | float] = field(
        default_factory=list
    )
    received: list[Received] = field(default_factory=list)
    url: str = ""
    port: int = 0

    def __post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Received](1000)

    async def run(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, self._app, config))  # type: ignore[arg-type]
            self.url = binds[0]
            task_status.started(self.url)

    async def next(self) -> Received:
        return await self._receive.receive()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        record = Received(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"],
            headers=[
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
            ],
            body=b"".join(chunks),
        )
        self.received.append(record)
        answer = self.statuses.pop(0) if self.statuses else self.status
        self._send.send_nowait(record)
        headers: dict[str, str] = {}
        if answer == "hang":
            await trio.sleep_forever()
        if isinstance(answer, float):
            await trio.sleep(answer)
            answer = 200
        if isinstance(answer, tuple):
            answer, headers = answer
        assert isinstance(answer, int)
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": answer, "headers": raw})
        await send({"type": "http.response.body", "body": b"ok"})


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    count: int,
    headers: dict[str, str] | None = None,
) -> list[tuple[str, str, str]]:
    """Read ``count`` non-control SSE events as (event, id, data)."""
    from httpx_sse import aconnect_sse

    found: list[tuple[str, str, str]] = []
    async with aconnect_sse(client, "GET", url, headers=headers or {}) as source:
        async for sse in source.aiter_sse():
            if sse.data in ('{"message":"connected"}', '{"message":"ready"}'):
                continue
            found.append((sse.event, sse.id, sse.data))
            if len(found) == count:
                break
    return found


def message_of(data: str) -> dict[str, Any]:
    parsed = json.loads(data)
    assert isinstance(parsed, dict)
    return parsed


class LogWaiter:
    """Wakes a test when a log record matching ``text`` is emitted (no polling)."""

    def __init__(self, text: str) -> None:
        import logging

        self.text = text
        self.seen = trio.Event()
        self._handler = logging.Handler()
        self._handler.emit = self._emit  # type: ignore[method-assign]
        logging.getLogger().addHandler(self._handler)

    def _emit(self, record: Any) -> None:
        if self.text in record.getMessage():
            self.seen.set()

    def close(self) -> None:
        import logging

        logging.getLogger().removeHandler(self._handler)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def scrape_metrics(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    """Every sample at the Prometheus endpoint ``url`` as
    ``name{label="value",...}`` → value."""
    reply = await http.get(url)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == CONTENT_TYPE_LATEST
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = (
                sample.value
            )
    return samples
