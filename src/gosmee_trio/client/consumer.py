"""The client's SSE reader: connect, reconnect with back-off, resume by stream id."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import httpx
import trio
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse
from nacl.public import PrivateKey

from gosmee_trio import __version__
from gosmee_trio.client.forwarder import redact_url
from gosmee_trio.client.message import (
    GAP_EVENT,
    IncomingEvent,
    Unparsable,
    is_control_event,
    is_empty_event,
    parse_message,
)
from gosmee_trio.client.targeterrors import describe
from gosmee_trio.envelope import is_envelope, open_envelope, public_key_text
from gosmee_trio.errors import EnvelopeError, MessageError, StreamError
from gosmee_trio.events import is_stream_id
from gosmee_trio.retry import Backoff, is_retryable_status

log = logging.getLogger(__name__)

# A stream that stayed up this long was healthy, so the next reconnect starts again
# at 1 s; one that is dropped right after "ready" keeps backing off instead.
HEALTHY_AFTER = 10.0


def sse_url(smee_url: str, *, smee_stream: bool = False) -> str:
    """The stream URL for a channel URL: ``<base>/events/<channel>``.

    smee.io channel URLs (and any URL when ``smee_stream`` is set) are their own
    stream URL.
    """
    parts = urlsplit(smee_url)
    if parts.hostname == "smee.io" or smee_stream:
        return smee_url
    base, _, channel = parts.path.rstrip("/").rpartition("/")
    return urlunsplit(parts._replace(path=f"{base}/events/{channel}"))


class Consumer:
    """Reads one channel's stream and feeds parsed events into ``events``.

    Args:
        smee_url: the channel URL people were given.
        client: an ``httpx.AsyncClient`` whose read timeout is the watchdog: no bytes
            at all (not even a keepalive) for that long means the stream is dead.
        events: where parsed events go, in stream order.
        last_id: stream id to resume after on the first connection.
        private_key: opens the envelopes of a protected channel; its public key is
            presented to the server.
        smee_stream: read ``smee_url`` itself as a smee.io-style stream.
        on_position: called with the stream id the server puts on its "ready"
            frame: where this stream starts.
    """

    def __init__(
        self,
        smee_url: str,
        client: httpx.AsyncClient,
        events: trio.MemorySendChannel[IncomingEvent | Unparsable],
        *,
        last_id: str = "",
        private_key: PrivateKey | None = None,
        smee_stream: bool = False,
        on_position: Callable[[str], None] | None = None,
    ) -> None:
        self.smee_url = smee_url
        self.url = sse_url(smee_url, smee_stream=smee_stream)
        self._private_key = private_key
        self._on_position = on_position
        if private_key is not None:
            # The server streams a protected channel only to listed public keys.
            pubkey = public_key_text(private_key.public_key)
            parts = urlsplit(self.url)
            query = f"{parts.query}&" if parts.query else ""
            self.url = urlunsplit(parts._replace(query=f"{query}pubkey={pubkey}"))
        # What logs show: credentials and tokens in the URL stay out of them.
        self.shown_url = redact_url(self.url)
        self._client = client
        self._events = events
        self.last_id = last_id
        self.reconnects = 0
        # "connecting" until the first stream is ready, then "live" or "reconnecting".
        self.state = "connecting"
        # Why the last connection ended or was refused; None while the stream is up.
        self.stream_error: str | None = None
        self.last_event_time: float | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Stream forever, reconnecting with back-off (1 s doubling to 30 s).

        Calls ``task_status.started()`` once the first stream is ready.

        Cancellation: safe at any point; an event is either handed on whole or not
        at all, and ``last_id`` only names events that were handed on.

        Errors: none escape; every stream failure is logged and retried.
        """
        backoff = Backoff()
        started = False
        ready_at: float | None = None

        def on_ready() -> None:
            nonlocal started, ready_at
            self.state = "live"
            self.stream_error = None
            ready_at = trio.current_time()
            if not started:
                started = True
                task_status.started()

        while True:
            ready_at = None
            reason, hint = await self._stream_once(on_ready)
            if ready_at is not None and trio.current_time() - ready_at >= HEALTHY_AFTER:
                backoff.reset()
            delay = backoff.next()
            self.reconnects += 1
            if self.state == "live":
                self.state = "reconnecting"
            self.stream_error = reason if hint is None else f"{reason}: {hint}"
            extra = {"stream_id": self.last_id, "url": self.shown_url}
            if hint is None:
                log.warning(
                    "stream ended (%s); reconnecting in %.0fs",
                    reason,
                    delay,
                    extra=extra,
                )
            else:
                # NOTE: still reconnecting: a 404 may be a server restarting behind a
                # proxy, and a protected channel must look like any unknown page.
                log.error(
                    "stream refused (%s); %s; reconnecting in %.0fs",
                    reason,
                    hint,
                    delay,
                    extra=extra,
                )
            await trio.sleep(delay)

    async def _stream_once(
        self, on_ready: Callable[[], None]
    ) -> tuple[str, str | None]:
        """Stream until it ends: why it did, and what a person should check when
        the server refused it for a reason that will not go away by itself."""
        try:
            status = await self._consume_stream(on_ready)
        except (httpx.HTTPError, SSEError, StreamError) as exc:
            return f"{type(exc).__name__}: {describe(exc)}", None
        if status is None:
            return "server closed the stream", None
        reason = f"expected status 200 from {self.shown_url!r}, got {status}"
        return reason, refusal_hint(status, protected=self._private_key is not None)

    async def _consume_stream(self, on_ready: Callable[[], None]) -> int | None:
        """Read one stream to its end; the status when the server refused it."""
        headers = {
            "User-Agent": f"gosmee-trio/{__version__}",
            "X-Accel-Buffering": "no",
        }
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        async with aconnect_sse(
            self._client, "GET", self.url, headers=headers
        ) as source:
            status = source.response.status_code
            if not 200 <= status < 300:
                return status
            log.info(
                "connected", extra={"url": self.shown_url, "stream_id": self.last_id}
            )
            async for sse in source.aiter_sse():
                await self._handle(sse, on_ready)
        return None

    async def _handle(self, sse: ServerSentEvent, on_ready: Callable[[], None]) -> None:
        log.debug("SSE frame", extra={"stream_id": sse.id, "event_type": sse.event})
        if is_control_event(sse.event, sse.data):
            if sse.event == "ready" or "ready" in sse.data:
                log.info(
                    "stream ready, forwarding events", extra={"url": self.shown_url}
                )
                if is_stream_id(sse.id):
                    if not self.last_id:
                        # No event yet: resume from where this stream started, or
                        # whatever is published while reconnecting would be skipped.
                        self.last_id = sse.id
                    if self._on_position is not None:
                        self._on_position(sse.id)
                on_ready()
            return
        if sse.event == GAP_EVENT:
            log.warning("server reports events lost from its history: %s", sse.data)
            return
        if is_empty_event(sse.data):
            return
        item: IncomingEvent | Unparsable
        try:
            item = parse_message(self._plaintext(sse.data), sse.id)
        except (MessageError, EnvelopeError) as exc:
            log.error(
                "cannot parse event; it goes to the dead-letter folder: %s",
                exc,
                extra={"stream_id": sse.id},
            )
            item = Unparsable(
                sse.id if is_stream_id(sse.id) else "", sse.data, str(exc)
            )
        self.last_event_time = time.time()
        await self._events.send(item)
        self._advance(sse.id)

    def _plaintext(self, data: str) -> str:
        if self._private_key is None:
            return data
        if not is_envelope(data) and not _claims_encryption(data):
            return data
        try:
            return open_envelope(data, self._private_key).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"envelope holds no UTF-8 message: {exc}") from exc

    def _advance(self, stream_id: str) -> None:
        if is_stream_id(stream_id):
            self.last_id = stream_id


def refusal_hint(status: int, *, protected: bool) -> str | None:
    """What to check when the server refuses the stream with ``status``; None for
    answers that mean "later" (408, 425, 429, 5xx) and for anything but a 4xx."""
    if not 400 <= status < 500 or is_retryable_status(status):
        return None
    if status == 404 and protected:
        return (
            "check the channel URL, and that the server lists this client's public "
            "key (from --encryption-key-file) for the channel in its "
            "--encrypted-channels-file; it answers 404 for both on purpose"
        )
    if status == 404:
        return (
            "check the channel URL (a channel id is 12-64 letters, digits, '-' or "
            "'_'); a protected channel also answers 404 to a client without its "
            "--encryption-key-file"
        )
    if status in (401, 403):
        return (
            "check the channel URL and any credentials a proxy in front of the "
            "server asks for"
        )
    return "check the channel URL: the server will not stream it"


def _claims_encryption(data: str) -> bool:
    # Says it is encrypted but is not a whole envelope: opening it fails with a
    # clear reason and it is dead-lettered, rather than its fields sent as headers.
    if '"encrypted"' not in data:
        return False
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and parsed.get("encrypted") is True
