"""Raw ASGI for the two hot routes: webhook intake and the event stream.

Every webhook and every streamed frame passes through here, so these routes skip
Quart's per-request machinery (request and response objects, header parsing, a
nursery per request), which bench/ measured at several times the cost of the relay
work itself. Every other route stays in the Quart app this wraps.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import cast
from urllib.parse import parse_qs

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from nacl.public import PublicKey

from gosmee_trio import __version__
from gosmee_trio.config import is_valid_channel
from gosmee_trio.errors import StreamIdError
from gosmee_trio.events import StreamId, format_stream_id, parse_stream_id
from gosmee_trio.server.body import Rejection
from gosmee_trio.server.brokerapi import BrokerUnavailable, EventStream, Item
from gosmee_trio.server.intake import Intake
from gosmee_trio.server.responses import send_text
from gosmee_trio.server.sealing import seal_frames
from gosmee_trio.server.state import ServerState
from gosmee_trio.smee import PING_FRAME
from gosmee_trio.sse import KEEPALIVE_FRAME, encode_event

log = logging.getLogger(__name__)

CONNECTED_FRAME = encode_event(b'{"message":"connected"}')
# Frames waiting for one subscriber are sent together up to this size: one write
# instead of dozens when it has fallen behind, small enough to keep memory flat.
BATCH_BYTES = 256 * 1024
# A larger frame is written in slices of this size, so that the HTTP layer's framing
# copies one slice at a time rather than the whole payload once per subscriber.
SLICE_BYTES = 256 * 1024
_VERSION = __version__.encode()


class HotPath:
    """ASGI application: serves ``POST /{channel}`` and ``GET /events/{channel}``.

    Args:
        app: the ASGI application for every other request (the Quart app).
        state: settings and broker shared with ``app``.
    """

    def __init__(self, app: object, state: ServerState) -> None:
        self._app = app
        self._state = state
        self._intake = Intake(state)
        self._sealing = trio.CapacityLimiter(1)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if problem := _framing_problem(scope):
                return await send_text(send, problem)
            if method == "POST":
                # Every POST is intake; no Quart route takes one (upstream: 404).
                return await self._intake.handle(scope, receive, send)
            if method == "GET" and path.startswith("/events/"):
                return await self._stream(scope, receive, send, path[8:], smee=False)
            if method == "GET" and path.count("/") == 1 and _wants_stream(scope):
                # smee.io's wire: the channel URL itself, asked for as a stream.
                return await self._stream(scope, receive, send, path[1:], smee=True)
            if method == "HEAD" and path.startswith("/events/"):
                # The headers a stream would get, and no stream.
                await send(
                    {
                        "type": "http.response.start",
                        "status": self._head_status(path[8:]),
                        "headers": self._stream_headers(),
                        "trailers": False,
                    }
                )
                await send(
                    {"type": "http.response.body", "body": b"", "more_body": False}
                )
                return
        await self._app(scope, receive, send)  # type: ignore[operator]

    async def _stream(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        channel: str,
        *,
        smee: bool,
    ) -> None:
        if not is_valid_channel(channel):
            return await send_text(send, Rejection(404, "404 page not found"))
        broker = self._state.broker
        try:
            cursor = _resume_cursor(scope)
        except StreamIdError:
            return await send_text(send, Rejection(400, "invalid Last-Event-ID"))
        recipient: PublicKey | None = None
        protected = self._state.protected
        if protected.is_protected(channel):
            # smee.io clients cannot open envelopes: no smee wire for such channels.
            pubkey = None if smee else _query_value(scope, "pubkey")
            recipient = protected.authorise(channel, pubkey)
            if recipient is None:
                # Exactly what an unknown page gets: nothing tells the channel exists.
                return await send_text(send, Rejection(404, "404 page not found"))
        if broker.closed:
            return await send_text(send, Rejection(503, "server is shutting down"))

        async with AsyncExitStack() as stack:
            try:
                subscriber = await stack.enter_async_context(
                    broker.open_stream(channel, cursor)
                )
            except BrokerUnavailable as exc:
                log.error("%s", exc, extra={"channel": channel})
                return await send_text(send, Rejection(500, str(exc)))
            except trio.ClosedResourceError:
                return await send_text(send, Rejection(503, "server is shutting down"))
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": self._stream_headers(),
                    "trailers": False,
                }
            )
            log.debug("SSE subscriber connected", extra={"channel": channel})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
                await self._pump(subscriber, send, recipient, smee)
                nursery.cancel_scope.cancel()
        log.debug("SSE subscriber disconnected", extra={"channel": channel})
        # Ends the response after a shutdown; after a disconnect hypercorn ignores it.
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(
        self,
        subscriber: EventStream,
        send: ASGISendCallable,
        recipient: PublicKey | None,
        smee: bool,
    ) -> None:
        keepalive = self._state.config.keepalive_interval
        metrics = self._state.metrics
        opening = _opening_frames(subscriber.start, smee)
        await _send_body(send, opening)
        metrics.stream_bytes_sent += len(opening)
        while True:
            items: list[Item] = []
            with trio.move_on_after(keepalive):
                try:
                    items = await subscriber.receive_batch(BATCH_BYTES)
                except trio.EndOfChannel:
                    return
            # An event the wire cannot carry comes back empty and is left out.
            frames = [frame for item in items if (frame := _frame_of(item, smee))]
            if recipient is not None and frames:
                frames = await seal_frames(frames, recipient, self._sealing)
            if not frames:
                data = PING_FRAME if smee else KEEPALIVE_FRAME
            elif len(frames) == 1:
                data = frames[0]
            else:
                data = b"".join(frames)
            await _send_body(send, data, whole=smee)
            # Once per write (a batch), not per event.
            metrics.stream_bytes_sent += len(data)

    def _head_status(self, channel: str) -> int:
        # HEAD has no pubkey to check, so a protected channel looks unknown here too.
        if not is_valid_channel(channel) or self._state.protected.is_protected(channel):
            return 404
        return 200

    def _stream_headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        origin = self._state.config.cors_origin
        if origin:
            headers.append((b"access-control-allow-origin", origin.encode()))
        return headers


def _opening_frames(cursor: StreamId, smee: bool) -> bytes:
    # The ready frame carries the stream's starting position as its id, so that a
    # client that has no checkpoint yet can resume from there after a restart.
    # Clients skip control frames, so the id changes nothing else for them.
    position = format_stream_id(cursor)
    if smee:
        return encode_event(b"{}", event_id=position, event="ready")
    return CONNECTED_FRAME + encode_event(b'{"message":"ready"}', event_id=position)


def _framing_problem(scope: HTTPScope) -> Rejection | None:
    """Requests no route should see: no path, or ambiguous body framing."""
    if not scope["path"].startswith("/"):
        return Rejection(404, "404 page not found")
    names = {name.lower() for name, _ in scope["headers"]}
    if b"content-length" in names and b"transfer-encoding" in names:
        # RFC 9112 §6.1: such a message may be a smuggling attempt; refuse it and
        # close, so no bytes after it are ever read as a second request.
        return Rejection(
            400, "both Content-Length and Transfer-Encoding were sent", close=True
        )
    return None


def _frame_of(item: Item, smee: bool) -> bytes:
    if isinstance(item, bytes):
        return item
    return item.smee_frame if smee else item.frame


def _wants_stream(scope: HTTPScope) -> bool:
    # smee.io compares Accept exactly; any Accept that names the type is kinder.
    for name, value in scope["headers"]:
        if name.lower() == b"accept" and b"text/event-stream" in value.lower():
            return True
    return False


async def _cancel_on_disconnect(
    receive: ASGIReceiveCallable, scope: trio.CancelScope
) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _query_value(scope: HTTPScope, name: str) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(query, keep_blank_values=True).get(name)
    return values[0] if values else None


def _resume_cursor(scope: HTTPScope) -> StreamId | None:
    # The Last-Event-ID header, or (for a browser page reconnecting by hand, which
    # cannot set headers on an EventSource) the last_event_id query parameter.
    value: bytes | None = None
    for name, raw in scope["headers"]:
        if name.lower() == b"last-event-id" and raw.strip():
            value = raw.strip()
    if value is None:
        text = _query_value(scope, "last_event_id")
        value = text.strip().encode("latin-1") if text and text.strip() else None
    if value is None:
        return None
    try:
        return parse_stream_id(value.decode("ascii"))
    except UnicodeDecodeError:
        raise StreamIdError("Last-Event-ID is not ASCII") from None


async def _send_body(
    send: ASGISendCallable, data: bytes, *, whole: bool = False
) -> None:
    # NOTE: ``whole`` keeps a frame in one HTTP chunk: pysmee's SSE library reads
    # beneath the chunked decoding and breaks on a chunk boundary inside a frame.
    if whole or len(data) <= SLICE_BYTES:
        await send({"type": "http.response.body", "body": data, "more_body": True})
        return
    view = memoryview(data)
    for start in range(0, len(data), SLICE_BYTES):
        # NOTE: hypercorn calls bytes() on every body it is given, so a memoryview
        # slice costs one slice-sized copy instead of a payload-sized one.
        chunk = cast(bytes, view[start : start + SLICE_BYTES])
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
