"""The channel page in a real headless Chromium against a real server.

Playwright's sync API cannot run inside Trio's loop, and each Playwright object
belongs to the thread that made it. So one dedicated thread (a one-worker executor)
owns Playwright, the browser and every page: a test hands it plain sync functions
with ``await ui.run(fn, ...)`` and waits for them in a Trio worker thread, while the
server keeps serving in the test's Trio loop. Browser-side waits are Playwright's
auto-waiting ``expect`` with explicit timeouts; nothing sleeps.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
import pytest
import trio
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from gosmee_trio.config import ServerConfig
from gosmee_trio.events import format_stream_id, parse_stream_id
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.serve import Server
from gosmee_trio.wire import build_event, build_message, relay_headers
from tests.helpers import message_of, read_events
from tests.redis_server import RedisServer

P = ParamSpec("P")
T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root in a sandbox-less container, and quiet: this machine has no
# network, and Chromium's background services would only log refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHANNEL = "ui-test-channel-1"
# Playwright's own waits; every test also has a Trio deadline around it.
WAIT_MS = 10_000
# The promise: a posted webhook is on the page within a second.
ARRIVAL_MS = 1_000

PUSH_BODY = json.dumps(
    {
        "ref": "refs/heads/main",
        "head_commit": {
            "message": "Café déjà vu ✓ 日本語 🚀",
            "author": {"name": "Zoë Ångström"},
        },
        "commits": [{"id": "59b20b8d"}, {"id": "6113728f"}],
        "repository": {"full_name": "octo-org/octo-repo", "private": False},
    },
    ensure_ascii=False,
).encode()
PUSH_HEADERS = {
    "Content-Type": "application/json",
    "X-GitHub-Event": "push",
    "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "X-Forwarded-For": "203.0.113.7",
}
FORM_BODY = b"name=J%C3%BCrgen+M&note=a%26b%3Dc&empty="
BINARY_BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class BrowserThread:
    """Playwright and one Chromium, owned by a single dedicated thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="playwright")
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def start(self) -> None:
        self._executor.submit(self._launch).result(timeout=60)

    def stop(self) -> None:
        self._executor.submit(self._close).result(timeout=30)
        self._executor.shutdown()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the browser thread; Trio keeps serving meanwhile."""
        future = self._executor.submit(fn, *args, **kwargs)
        return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)

    def new_context(self, **options: Any) -> BrowserContext:
        assert self._browser is not None
        context = self._browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        return context

    def _launch(self) -> None:
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )

    def _close(self) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


class UI:
    """One test's pages; JavaScript errors and CSP violations fail the test."""

    def __init__(self, thread: BrowserThread) -> None:
        self.thread = thread
        self.problems: list[str] = []
        self._contexts: list[BrowserContext] = []

    async def open(self, url: str, **options: Any) -> Page:
        """A new tab on ``url``, returned once its event stream is live."""
        return await self.thread.run(self._open, url, options)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.thread.run(fn, *args, **kwargs)

    async def close(self) -> None:
        await self.thread.run(self._close_all)

    def _open(self, url: str, options: dict[str, Any]) -> Page:
        context = self.thread.new_context(**options)
        self._contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", self._on_console)
        page.goto(url)
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        return page

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def _close_all(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture(scope="session")
def browser_thread() -> Iterator[BrowserThread]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    thread = BrowserThread()
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
async def ui(browser_thread: BrowserThread) -> AsyncIterator[UI]:
    session = UI(browser_thread)
    yield session
    with trio.move_on_after(10, shield=True):
        await session.close()
    assert session.problems == []


async def post(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> str:
    """POST one webhook; its stream id."""
    reply = await http.post(url, content=body, headers=headers or {})
    assert reply.status_code == 202, reply.text
    stream_id: str = reply.json()["stream_id"]
    return stream_id


def card(page: Page, stream_id: str) -> Locator:
    return page.locator(f'article.card[data-stream-id="{stream_id}"]')


# ---------------------------------------------------------------- page and assets


async def test_page_is_self_contained_under_a_strict_csp(
    http: httpx.AsyncClient, server_url: str
) -> None:
    with trio.fail_after(10):
        page = await http.get(f"{server_url}/{CHANNEL}")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", page.text)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert len(assets) == 2
    for path in assets:
        with trio.fail_after(10):
            reply = await http.get(server_url + path)
        assert reply.status_code == 200
        assert "immutable" in reply.headers["cache-control"]
        assert reply.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/channel.html", "/static/nope.js", "/static/..%2fapp.py"):
        with trio.fail_after(10):
            assert (await http.get(server_url + path)).status_code == 404


# ---------------------------------------------------------------- cards


def check_push_card(page: Page, stream_id: str) -> None:
    push = card(page, stream_id)
    expect(push.locator(".event-type")).to_have_text("push")
    expect(push.locator(".delivery")).to_have_text(PUSH_HEADERS["X-GitHub-Delivery"])
    push.locator(".headers summary").click()
    expect(push.locator("table.headers")).to_contain_text("x-github-event")
    expect(push.locator(".card-time")).to_have_attribute("datetime", re.compile("Z$"))
    tree = push.locator(".tree")
    expect(tree).to_contain_text("repository")
    expect(tree).not_to_contain_text("Zoë Ångström")
    # Keyboard: focus the collapsed node's summary and open it with Enter.
    tree.locator("summary", has_text="head_commit").focus()
    page.keyboard.press("Enter")
    expect(tree).to_contain_text("Café déjà vu ✓ 日本語 🚀")
    tree.locator("summary", has_text="author").click()
    expect(tree).to_contain_text('"Zoë Ångström"')
    push.get_by_role("tab", name="Raw").click()
    expect(push.locator("pre.raw")).to_have_text(PUSH_BODY.decode())
    push.get_by_role("tab", name="Tree").click()


def check_form_card(page: Page, stream_id: str) -> None:
    form = card(page, stream_id)
    expect(form.locator(".event-type")).to_have_text("webhook")
    rows = form.locator("table.fields tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_text(re.compile(r"name\s*Jürgen M"))
    expect(rows.nth(1)).to_have_text(re.compile(r"note\s*a&b=c"))
    expect(form.locator(".payload summary")).to_contain_text("form · 3 fields")


def check_binary_card(page: Page, stream_id: str) -> None:
    binary = card(page, stream_id)
    size = len(BINARY_BODY)
    expect(binary.locator(".payload")).to_contain_text(f"{size} bytes")
    expect(binary.locator("pre.hex")).to_contain_text("89 50 4e 47 0d 0a 1a 0a")
    binary.get_by_role("tab", name="Hex").focus()  # arrows move between tabs
    page.keyboard.press("ArrowRight")
    expect(binary.get_by_role("tab", name="Base64")).to_be_focused()
    encoded = base64.b64encode(BINARY_BODY).decode()
    expect(binary.locator("pre.raw")).to_have_text(encoded)
    page.keyboard.press("ArrowLeft")


def save_screenshot(page: Page, name: str) -> None:
    """The whole page, from the top (the sticky bar belongs there), as an artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def wait_cards(page: Page, count: int, timeout: float = WAIT_MS) -> None:
    expect(page.locator("article.card")).to_have_count(count, timeout=timeout)
    expect(page.locator("#count")).to_have_text(str(count))


async def test_cards_show_push_form_and_binary_bodies(
    ui: UI, http: httpx.AsyncClient, server_url: str
) -> None:
    url = f"{server_url}/{CHANNEL}"
    page = await ui.open(url, viewport={"width": 1100, "height": 1500})
    with trio.fail_after(20):
        push = await post(http, url, PUSH_BODY, PUSH_HEADERS)
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        form = await post(http, url, FORM_BODY, form_type)
        binary = await post(http, url, BINARY_BODY, {"Content-Type": "image/png"})
        await ui.run(wait_cards, page, 3, ARRIVAL_MS)

        await ui.run(check_push_card, page, push)
        await ui.run(check_form_card, page, form)
        await ui.run(check_binary_card, page, binary)
        await ui.run(save_screenshot, page, "ui.png")


def copy_url_with_keyboard(page: Page) -> str:
    page.locator("body").focus()
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Copy")
    page.keyboard.press("Enter")
    expect(focused).to_have_text("Copied")
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


async def test_copy_button_works_from_the_keyboard(ui: UI, server_url: str) -> None:
    url = f"{server_url}/{CHANNEL}"
    page = await ui.open(url, permissions=["clipboard-read", "clipboard-write"])
    with trio.fail_after(20):
        assert await ui.run(copy_url_with_keyboard, page) == url


# ---------------------------------------------------------------- replay


async def test_replay_publishes_the_exact_body_again(
    ui: UI, http: httpx.AsyncClient, server_url: str
) -> None:
    url = f"{server_url}/{CHANNEL}"
    page = await ui.open(url)
    with trio.fail_after(20):
        first = await post(http, url, PUSH_BODY, PUSH_HEADERS)
        await ui.run(wait_cards, page, 1)

        replay = card(page, first).locator("button.replay")
        await ui.run(replay.click)
        await ui.run(expect(replay).to_have_text, "Replayed")
        # Everything after the original, so the replay is seen however late we ask.
        events = f"{server_url}/events/{CHANNEL}"
        [(_, _, data)] = await read_events(http, events, 1, {"Last-Event-ID": first})
        await ui.run(wait_cards, page, 2)

    message = message_of(data)
    assert base64.b64decode(message["bodyB"]) == PUSH_BODY
    assert message["x-github-event"] == "push"
    assert message["x-github-delivery"] == PUSH_HEADERS["X-GitHub-Delivery"]
    assert "x-forwarded-for" not in message


def answer_prompts(page: Page, answers: list[str], asked: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept(answers.pop(0))

    page.on("dialog", on_dialog)


def token_in_tab(page: Page) -> str | None:
    token: str | None = page.evaluate(
        "sessionStorage.getItem('gosmee-trio-replay-token')"
    )
    return token


async def test_replay_asks_for_the_token_once_per_tab(
    ui: UI, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    config = ServerConfig(address="127.0.0.1", port=0, replay_token="s3cret")
    relay = Server(config, Broker())
    url = f"{await nursery.start(relay.run)}/{CHANNEL}"
    page = await ui.open(url)
    answers, asked = ["wrong", "s3cret"], list[str]()
    await ui.run(answer_prompts, page, answers, asked)
    with trio.fail_after(20):
        first = await post(http, url, PUSH_BODY, PUSH_HEADERS)
        await ui.run(wait_cards, page, 1)
        replay = card(page, first).locator("button.replay")

        await ui.run(replay.click)  # asks, gets a wrong token: 401 twice
        await ui.run(expect(replay).to_have_text, "Unauthorized")
        assert await ui.run(token_in_tab, page) is None

        await ui.run(replay.click)  # asks again, gets the right one
        await ui.run(wait_cards, page, 2)
        assert await ui.run(token_in_tab, page) == "s3cret"

        await ui.run(replay.click)  # the tab remembers: no third question
        await ui.run(wait_cards, page, 3)
    assert len(asked) == 2 and answers == []


# ---------------------------------------------------------------- stream


def stream_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("article.card").evaluate_all(
        "cards => cards.map(card => card.dataset.streamId)"
    )
    return ids


async def test_page_resumes_after_server_restart_without_duplicates(
    ui: UI, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    broker = Broker(history_events=50)
    relay = Server(ServerConfig(address="127.0.0.1", port=0), broker)
    async with trio.open_nursery() as first_life:
        base = await first_life.start(relay.run)
        url = f"{base}/{CHANNEL}"
        page = await ui.open(url)
        with trio.fail_after(20):
            before = [await post(http, url, body) for body in (b"one", b"two")]
            await ui.run(wait_cards, page, 2)
        first_life.cancel_scope.cancel()  # the server goes away; its broker stays

    status = page.locator("#status")
    port = int(base.rsplit(":", 1)[1])
    again = Server(ServerConfig(address="127.0.0.1", port=port), broker)
    with trio.fail_after(30):
        await ui.run(expect(status).to_have_attribute, "data-state", "reconnecting")
        # Published while no server listens: only a Last-Event-ID resume brings it.
        missed = publish_directly(broker, b"three")
        await nursery.start(again.run)
        await ui.run(expect(status).to_have_attribute, "data-state", "live")
        live = await post(http, url, b"four")
        await ui.run(wait_cards, page, 4)
    assert await ui.run(stream_ids, page) == [live, missed, *reversed(before)]


async def test_page_in_redis_mode_resumes_on_another_replica(
    ui: UI, http: httpx.AsyncClient, nursery: trio.Nursery, redis_server: RedisServer
) -> None:
    config = ServerConfig(address="127.0.0.1", port=0, redis_url=redis_server.url)
    first = Server(config)
    async with trio.open_nursery() as first_life:
        base = await first_life.start(first.run)
        url = f"{base}/{CHANNEL}"
        page = await ui.open(url)
        with trio.fail_after(20):
            before = [await post(http, url, body) for body in (b"one", b"two")]
            await ui.run(wait_cards, page, 2)
        first_life.cancel_scope.cancel()  # this replica goes away; Redis stays

    status = page.locator("#status")
    port = int(base.rsplit(":", 1)[1])
    second = Server(replace(config, port=port))
    with trio.fail_after(30):
        await ui.run(expect(status).to_have_attribute, "data-state", "reconnecting")
        # Written by some other replica while none listens here: only a resume
        # from Redis brings it to the page.
        async with redis_server.client() as redis:
            message = build_message(relay_headers([]), b"three", {}, 1718000000123)
            raw_id = await redis.xadd(f"gosmee:stream:{CHANNEL}", {b"payload": message})
        assert raw_id is not None
        missed = raw_id.decode()
        await nursery.start(second.run)
        await ui.run(expect(status).to_have_attribute, "data-state", "live")
        live = await post(http, url, b"four")
        await ui.run(wait_cards, page, 4)
    assert await ui.run(stream_ids, page) == [live, missed, *reversed(before)]


def publish_directly(broker: Broker, body: bytes) -> str:
    stream_id = broker.next_stream_id()
    event = build_event(CHANNEL, stream_id, [], b"", [body], 1718000000123)
    broker.publish(event)
    return format_stream_id(stream_id)


def sse(data: str, stream_id: str = "", event: str = "") -> str:
    head = (f"id: {stream_id}\n" if stream_id else "") + (
        f"event: {event}\n" if event else ""
    )
    return f"{head}data: {data}\n\n"


GAP = '{"error":"missed_history","requested_id":"1-0","oldest_id":"1-5"}'


def relay_message(body: bytes) -> str:
    encoded = base64.b64encode(body).decode()
    return json.dumps({"bodyB": encoded, "timestamp": "1718000000123"})


def scripted_stream(page: Page, events_path: str) -> None:
    """Serve the page's stream from a script: a gap and an overlap on resume."""
    opening = sse('{"message":"connected"}') + sse('{"message":"ready"}')
    scripts = [
        "retry: 50\n\n" + opening + sse(relay_message(b"a"), "1-0"),
        "retry: 60000\n\n"
        + opening
        + sse(GAP, event="gosmee-gap")
        + sse(relay_message(b"a"), "1-0")
        + sse(relay_message(b"b"), "1-6"),
    ]

    # NOTE: Playwright does not show an intercepted EventSource request's
    # Last-Event-ID, so resume itself is checked against the real server above.
    def fulfil(route: Route) -> None:
        body = scripts.pop(0) if scripts else "retry: 60000\n\n"
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    page.route(f"**{events_path}", fulfil)


async def test_gap_notice_and_no_duplicates_on_resume(ui: UI, server_url: str) -> None:
    page = await ui.open(f"{server_url}/{CHANNEL}")
    await ui.run(scripted_stream, page, f"/events/{CHANNEL}")
    with trio.fail_after(20):
        await ui.run(page.reload)
        await ui.run(wait_cards, page, 2)
        gap = page.locator("#gap")
        await ui.run(expect(gap).to_contain_text, "1-0")
        await ui.run(expect(gap).to_be_visible)
    assert await ui.run(stream_ids, page) == ["1-6", "1-0"]


# ---------------------------------------------------------------- scale and layout


async def test_feed_keeps_500_cards_and_counts_the_rest(
    ui: UI, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    relay = Server(ServerConfig(address="127.0.0.1", port=0), Broker())
    url = f"{await nursery.start(relay.run)}/{CHANNEL}"
    page = await ui.open(url)
    cards, note = page.locator("article.card"), page.locator("#hidden-note")
    with trio.fail_after(45):
        posted = await post_many(http, url, 520)
        await ui.run(expect(page.locator("#count")).to_have_text, "520")
        await ui.run(expect(cards).to_have_count, 500)
        await ui.run(expect(note).to_have_text, "20 older events hidden")
        newest = max(posted, key=lambda text: parse_stream_id(text))
        await ui.run(expect(cards.first).to_have_attribute, "data-stream-id", newest)

        # Still responsive: Clear empties the page at once.
        await ui.run(page.locator("#clear").click)
        await ui.run(expect(cards).to_have_count, 0, timeout=ARRIVAL_MS)
        await ui.run(expect(note).to_be_hidden)


async def post_many(http: httpx.AsyncClient, url: str, count: int) -> list[str]:
    """POST ``count`` small webhooks from a few concurrent senders."""
    posted: list[str] = []

    async def sender(numbers: range) -> None:
        for number in numbers:
            body = b'{"n":%d}' % number
            posted.append(await post(http, url, body, {"X-Gitea-Event": "push"}))

    async with trio.open_nursery() as senders:
        for first in range(4):
            senders.start_soon(sender, range(first, count, 4))
    return posted


def page_fits(page: Page) -> bool:
    fits: bool = page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"
    )
    return fits


def background(page: Page) -> str:
    colour: str = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return colour


@pytest.mark.parametrize(
    ("scheme", "colour"),
    [("light", "rgb(246, 247, 251)"), ("dark", "rgb(15, 17, 23)")],
)
async def test_phone_width_in_light_and_dark(
    ui: UI, http: httpx.AsyncClient, server_url: str, scheme: str, colour: str
) -> None:
    url = f"{server_url}/{CHANNEL}"
    options = {"viewport": {"width": 375, "height": 900}, "color_scheme": scheme}
    page = await ui.open(url, **options)
    with trio.fail_after(20):
        await post(http, url, BINARY_BODY, {"X-GitLab-Event": "Push Hook"})
        await post(http, url, PUSH_BODY, PUSH_HEADERS)
        await ui.run(wait_cards, page, 2)
        assert await ui.run(page_fits, page)
        assert await ui.run(background, page) == colour
        await ui.run(save_screenshot, page, f"ui-phone-{scheme}.png")
