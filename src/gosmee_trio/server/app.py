"""Quart-Trio routes: webhook intake, SSE streams, channel URLs, version probes."""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import trio
from quart import Response, make_response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from gosmee_trio import __version__
from gosmee_trio.config import ServerConfig, is_valid_channel
from gosmee_trio.errors import StreamIdError
from gosmee_trio.events import (
    DELIVERY_ID_HEADERS,
    EVENT_TYPE_HEADERS,
    RelayEvent,
    StreamId,
    first_header,
    format_stream_id,
    parse_stream_id,
)
from gosmee_trio.server.asgi import ShieldedFinalSendConnection
from gosmee_trio.server.body import PlainError, read_body
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.pages import FAVICON_SVG, render_channel_page
from gosmee_trio.sse import KEEPALIVE_FRAME, encode_event
from gosmee_trio.wire import build_message, parse_query, relay_headers

log = logging.getLogger(__name__)

CONNECTED_FRAME = encode_event(b'{"message":"connected"}')
READY_FRAME = encode_event(b'{"message":"ready"}')
_CHANNEL_ALPHABET = string.ascii_letters
_TEXT = "text/plain; charset=utf-8"


@dataclass
class ServerState:
    """What the routes share: settings, the broker and the URL people see."""

    config: ServerConfig
    broker: Broker
    public_url: str = field(default="")

    def __post_init__(self) -> None:
        if not self.public_url:
            self.public_url = self.config.effective_public_url()


def create_app(state: ServerState) -> QuartTrio:
    """Build the Quart-Trio application serving ``state``."""
    app = QuartTrio(__name__)
    app.asgi_http_class = ShieldedFinalSendConnection
    # The cap is enforced by read_body(), which drains rather than hangs up.
    app.config["MAX_CONTENT_LENGTH"] = None
    _add_probe_routes(app, state)
    _add_channel_routes(app, state)
    _add_error_handlers(app)
    return app


def _add_probe_routes(app: QuartTrio, state: ServerState) -> None:
    async def version() -> Response:
        body = json.dumps({"version": __version__}, separators=(",", ":")) + "\n"
        return Response(
            body,
            200,
            {"Content-Type": "application/json", "X-Gosmee-Version": __version__},
        )

    for path in ("/version", "/health", "/livez"):
        app.add_url_rule(path, path, version, methods=["GET"])

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(FAVICON_SVG, 200, {"Content-Type": "image/svg+xml"})

    @app.get("/")
    async def root() -> Response:
        url = f"{state.public_url}/{_new_channel()}"
        return Response("", 302, {"Location": url})

    @app.get("/new")
    async def new_channel() -> Response:
        return Response(
            f"{state.public_url}/{_new_channel()}\n",
            200,
            {"Content-Type": "text/plain"},
        )


def _add_channel_routes(app: QuartTrio, state: ServerState) -> None:
    broker = state.broker
    config = state.config

    @app.post("/<channel>")
    async def receive_webhook(channel: str) -> Response:
        _require_channel(channel)
        body = await read_body(request, config.max_body_size)
        event = _build_event(broker, channel, body)
        broker.publish(event)
        log.info(
            "webhook published",
            extra={
                "channel": channel,
                "delivery_id": event.delivery_id,
                "event_type": event.event_type,
                "stream_id": event.stream_id_text,
                "body_bytes": len(body),
            },
        )
        reply = {
            "channel": channel,
            "message": "ok",
            "status": 202,
            "stream_id": event.stream_id_text,
            "version": __version__,
        }
        return Response(
            json.dumps(reply, separators=(",", ":")) + "\n",
            202,
            {"Content-Type": "application/json", "X-Gosmee-Version": __version__},
        )

    @app.get("/events/<channel>")
    async def stream_events(channel: str) -> Response:
        _require_channel(channel)
        cursor = _resume_cursor() or broker.tail(channel)
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
        if config.cors_origin:
            headers["Access-Control-Allow-Origin"] = config.cors_origin
        body = _stream_frames(broker, channel, cursor, config.keepalive_interval)
        response = await make_response(body, 200, headers)
        assert isinstance(response, Response)
        response.timeout = None  # Quart's 60 s RESPONSE_TIMEOUT would cut the stream
        return response

    @app.get("/<channel>")
    async def channel_page(channel: str) -> Response:
        _require_channel(channel)
        page = render_channel_page(state.public_url, channel, __version__)
        return Response(page, 200, {"Content-Type": "text/html; charset=utf-8"})


async def _stream_frames(
    broker: Broker, channel: str, cursor: StreamId, keepalive: float
) -> AsyncIterator[bytes]:
    # Only reads the subscriber and yields bytes; never yields inside a cancel scope.
    with broker.subscribe(channel, cursor) as subscriber:
        log.debug("SSE subscriber connected", extra={"channel": channel})
        yield CONNECTED_FRAME
        yield READY_FRAME
        while True:
            frame = KEEPALIVE_FRAME
            with trio.move_on_after(keepalive):
                try:
                    frame = await subscriber.receive()
                except trio.EndOfChannel:
                    break
            yield frame
    log.debug("SSE subscriber disconnected", extra={"channel": channel})


def _build_event(broker: Broker, channel: str, body: bytes) -> RelayEvent:
    headers = relay_headers(request.scope["headers"])
    query = parse_query(request.scope.get("query_string", b""))
    timestamp_ms = time.time_ns() // 1_000_000
    stream_id = broker.next_stream_id()
    message = build_message(headers, body, query, timestamp_ms)
    return RelayEvent(
        channel=channel,
        stream_id=stream_id,
        timestamp_ms=timestamp_ms,
        delivery_id=first_header(headers, DELIVERY_ID_HEADERS),
        event_type=first_header(headers, EVENT_TYPE_HEADERS),
        body_size=len(body),
        frame=encode_event(message, event_id=format_stream_id(stream_id)),
    )


def _require_channel(channel: str) -> None:
    if not is_valid_channel(channel):
        raise PlainError(404, "404 page not found")


def _resume_cursor() -> StreamId | None:
    value = request.headers.get("Last-Event-ID", "").strip()
    if not value:
        return None
    try:
        return parse_stream_id(value)
    except StreamIdError:
        raise PlainError(400, "invalid Last-Event-ID") from None


def _new_channel() -> str:
    return "".join(secrets.choice(_CHANNEL_ALPHABET) for _ in range(12))


def _add_error_handlers(app: QuartTrio) -> None:
    messages = {
        404: "404 page not found",
        405: "",
        413: "request body too large",
    }

    @app.errorhandler(HTTPException)
    async def plain_error(error: HTTPException) -> Response:
        code = error.code or 500
        if isinstance(error, PlainError):
            text = error.description or ""
        else:
            text = messages.get(code, error.name)
        headers = {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"}
        if isinstance(error, PlainError) and error.close:
            headers["Connection"] = "close"
        if code == 405:
            headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
            return Response("", 405, headers)
        return Response(text + "\n", code, headers)
