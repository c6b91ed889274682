"""A fake GitHub REST API for the replay tests: hook and delivery endpoints only.

Served by hypercorn on 127.0.0.1:0 as a raw ASGI app. Bodies follow the shapes of
GitHub's REST reference (https://docs.github.com/en/rest/repos/webhooks,
https://docs.github.com/en/rest/webhooks/repo-deliveries): hook lists page by
``page``, delivery lists by an opaque ``cursor``, both announced in a ``Link``
header. Pages hold at most ``page_size`` items whatever ``per_page`` asks, as a
server is free to do, so a handful of deliveries spans several pages.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

_DOCS = "https://docs.github.com/rest"
_DELIVERY_LIST = re.compile(r"(/(?:repos/[^/]+/[^/]+|orgs/[^/]+)/hooks/\d+)/deliveries")
_DELIVERY = re.compile(_DELIVERY_LIST.pattern + r"/(\d+)")

Answer = tuple[int, dict[str, str], object]


@dataclass
class FakeDelivery:
    """One delivery GitHub made, with the request it sent."""

    id: int
    guid: str
    delivered_at: datetime
    event: str
    action: str | None
    payload: object
    headers: dict[str, str]
    status_code: int = 200
    redelivery: bool = False

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": self.delivered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redelivery": self.redelivery,
            "duration": 0.27,
            "status": "OK" if self.status_code < 300 else "Service Unavailable",
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": None,
            "repository_id": 1296269,
            "throttled_at": None,
        }

    def detail(self) -> dict[str, object]:
        return self.summary() | {
            "url": "https://ci.example.com/webhook",
            "request": {"headers": self.headers, "payload": self.payload},
            "response": {
                "headers": {"Content-Type": "text/plain"},
                "payload": "ok",
            },
        }


@dataclass(frozen=True)
class Seen:
    """One request the fake answered."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class FakeGitHub:
    """The fake API. Fill ``hooks`` and ``deliveries``, then ``run()`` it.

    ``hooks`` maps a hook list path (``/repos/o/r/hooks``) to hook objects;
    ``deliveries`` maps a hook path (``/repos/o/r/hooks/7``) to its deliveries.
    """

    token: str
    page_size: int = 2
    hooks: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    deliveries: dict[str, list[FakeDelivery]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    url: str = ""
    # Per path, answers used up before the normal one: a whole answer, or
    # (None, headers, None) to add headers to the normal answer once.
    scripted: dict[str, list[tuple[int | None, dict[str, str], object]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self._changed = trio.Event()

    async def run(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, self._app, config))  # type: ignore[arg-type]
            self.url = binds[0]
            task_status.started(self.url)

    def to(self, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.path == path]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds, checked after every request."""
        while not condition():
            await self._changed.wait()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(parse_qsl(scope["query_string"].decode()))
        status, extra, body = self._answer(scope["path"], query, headers)
        self.requests.append(Seen(scope["path"], query, headers, time.time()))
        raw = [(b"content-type", b"application/json; charset=utf-8")]
        raw += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
        self._changed.set()
        self._changed = trio.Event()

    def _answer(
        self, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Answer:
        quota = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }
        if headers.get("authorization") != f"Bearer {self.token}":
            return (
                401,
                quota,
                {"message": "Bad credentials", "documentation_url": _DOCS},
            )
        script = self.scripted.get(path)
        if script:
            status, extra, body = script.pop(0)
            if status is not None:
                return status, quota | extra, body
            quota |= extra
        status, links, body = self._route(path, query)
        return status, quota | links, body

    def _route(self, path: str, query: dict[str, str]) -> Answer:
        if path in self.hooks:
            return self._hook_page(path, query)
        if (match := _DELIVERY_LIST.fullmatch(path)) and match[1] in self.deliveries:
            return self._delivery_page(path, self._newest_first(match[1]), query)
        if (match := _DELIVERY.fullmatch(path)) and match[1] in self.deliveries:
            for delivery in self.deliveries[match[1]]:
                if delivery.id == int(match[2]):
                    return 200, {}, delivery.detail()
        return 404, {}, {"message": "Not Found", "documentation_url": _DOCS}

    def _hook_page(self, path: str, query: dict[str, str]) -> Answer:
        per_page = query.get("per_page", "30")
        size = min(int(per_page), self.page_size)
        page = int(query.get("page", "1"))
        items = self.hooks[path]
        start = (page - 1) * size
        links = []
        if start + size < len(items):
            links.append(
                f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
            )
            last = (len(items) - 1) // size + 1
            links.append(
                f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"'
            )
        return (
            200,
            {"Link": ", ".join(links)} if links else {},
            items[start : start + size],
        )

    def _delivery_page(
        self, path: str, items: list[FakeDelivery], query: dict[str, str]
    ) -> Answer:
        per_page = query.get("per_page", "30")
        size = min(int(per_page), self.page_size)
        cursor = query.get("cursor", "")
        ids = [delivery.id for delivery in items]
        start = ids.index(int(cursor.removeprefix("v1_"))) if cursor else 0
        page = items[start : start + size]
        links = {}
        if start + size < len(items):
            after = f"v1_{items[start + size].id}"
            links["Link"] = (
                f'<{self.url}{path}?per_page={per_page}&cursor={after}>; rel="next"'
            )
        return 200, links, [delivery.summary() for delivery in page]

    def _newest_first(self, hook: str) -> list[FakeDelivery]:
        return sorted(
            self.deliveries[hook], key=lambda d: (d.delivered_at, d.id), reverse=True
        )


def github_delivery(
    delivery_id: int,
    delivered_at: datetime,
    payload: object,
    *,
    event: str = "push",
    action: str | None = None,
    hook_id: int = 7,
) -> FakeDelivery:
    """A delivery with the request headers GitHub records for a JSON hook."""
    guid = f"0b989ba4-242f-11e5-81e1-{delivery_id:012d}"
    headers = {
        "Accept": "*/*",
        "X-GitHub-Delivery": guid,
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": "1296269",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature": "sha1=d03ab0f2bd2a3c6c7a7e2bd4e8f4ea0f4e0c0e2b",
        "X-Hub-Signature-256": "sha256=6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "content-type": "application/json",
    }
    return FakeDelivery(
        delivery_id, guid, delivered_at, event, action, payload, headers
    )
