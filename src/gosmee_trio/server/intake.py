"""Every POST: webhook intake on ``/{channel}`` and replay on ``/replay/{channel}``.

Checks run in this order, each rejection answered with one line of text and logged
once at WARNING: IP allowlist (403) → channel (404) → replay token (401) → size cap
while the body streams in (413) → signature (401). Only then is the event built and
published. A rejected request touches nothing shared but its counter in
``gosmee_webhooks_rejected_total``, so other channels and subscribers never notice it.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import re
import secrets
import socket
import string
import time
from collections.abc import Sequence
from hashlib import sha256

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

from gosmee_trio import __version__
from gosmee_trio.config import is_valid_channel
from gosmee_trio.server.allowlist import IPAddress, client_ip
from gosmee_trio.server.body import ClientGone, Rejection, read_body
from gosmee_trio.server.brokerapi import BrokerUnavailable, Published
from gosmee_trio.server.responses import send_json, send_text
from gosmee_trio.server.signatures import verify_signature
from gosmee_trio.server.state import ServerState

log = logging.getLogger(__name__)

_REQUEST_ID_ALPHABET = string.ascii_letters + string.digits
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/@+=-]+")
# Bodies larger than this are checked in a worker thread (hashlib releases the GIL).
THREAD_SIGNATURE_BYTES = 1024 * 1024
# An incoming X-Request-Id longer than this is not an id a proxy made; ours is used.
_MAX_REQUEST_ID = 128
Headers = Sequence[tuple[bytes, bytes]]


class Intake:
    """Handles every POST request on the raw ASGI path."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._metrics = state.metrics
        self._host = socket.gethostname()
        self._counter = itertools.count(1)
        token = state.config.replay_token
        self._token_digest = sha256(token.encode()).digest() if token else b""

    async def handle(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Answer one POST; never raises for bad input."""
        request_id = self._request_id(list(scope["headers"]))
        path = scope["path"]
        # Named in rejection logs even when the request is refused before routing.
        channel = path.removeprefix("/replay/").lstrip("/")[:64]
        # Resolved once: checked against the allowlist and named in every log line.
        peer = _peer(scope)
        trust = self._state.config.trust_proxy
        found = client_ip(peer, list(scope["headers"]), trust_proxy=trust)
        ip = str(found) if found is not None else (peer or "")
        try:
            self._check_ip(found)
            if path.startswith("/replay/"):
                channel = _channel_of(path[len("/replay/") :])
                await self._replay(scope, receive, send, channel, request_id)
            else:
                channel = _channel_of(path[1:])
                await self._webhook(scope, receive, send, channel, request_id, ip)
        except Rejection as rejection:
            self._metrics.count_rejected(rejection.reason)
            self._log_rejection(rejection, scope, channel, request_id, ip)
            await send_text(send, rejection)
        except ClientGone:
            self._metrics.count_rejected("disconnected")
            return

    async def _webhook(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        channel: str,
        request_id: str,
        ip: str,
    ) -> None:
        config = self._state.config
        chunks = await read_body(receive, scope["headers"], config.max_body_size)
        received = time.perf_counter()
        if config.webhook_secrets:
            await self._check_signature(list(scope["headers"]), chunks)
        raw_headers = list(scope["headers"])
        event = await self._publish(
            channel, raw_headers, scope["query_string"], chunks, received=received
        )
        log.info(
            "webhook published",
            extra={
                "channel": channel,
                "delivery_id": event.delivery_id,
                "event_type": event.event_type,
                "stream_id": event.stream_id_text,
                "body_bytes": event.body_size,
                "request_id": request_id,
                "client_ip": ip,
            },
        )
        reply = {
            "channel": channel,
            "message": "ok",
            "status": 202,
            "stream_id": event.stream_id_text,
            "version": __version__,
        }
        await send_json(send, 202, reply)

    async def _replay(
        self,
        scope: HTTPScope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        channel: str,
        request_id: str,
    ) -> None:
        config = self._state.config
        if config.webhook_secrets and not config.replay_token:
            # Replays carry no provider signature: left open, they would let anyone
            # around the signature check.
            raise Rejection(
                403,
                "replay is disabled: webhook signatures are required and no "
                "--replay-token is set",
                reason="token",
            )
        self._check_token(list(scope["headers"]))
        chunks = await read_body(receive, scope["headers"], config.max_body_size)
        received = time.perf_counter()
        # The replayed message is the browser's request minus its credentials; the
        # body is the event's JSON, whatever the browser called it.
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name.lower() not in (b"authorization", b"content-type")
        ]
        headers.append((b"content-type", b"application/json"))
        event = await self._publish(
            channel,
            headers,
            scope["query_string"],
            chunks,
            received=received,
            replay=True,
        )
        log.info(
            "replay published",
            extra={
                "channel": channel,
                "stream_id": event.stream_id_text,
                "body_bytes": event.body_size,
                "request_id": request_id,
            },
        )
        reply = {
            "channel": channel,
            "message": "replayed",
            "status": 202,
            "stream_id": event.stream_id_text,
        }
        await send_json(send, 202, reply, version=False)

    async def _publish(
        self,
        channel: str,
        headers: Headers,
        query: bytes,
        chunks: list[bytes],
        *,
        received: float,
        replay: bool = False,
    ) -> Published:
        broker = self._state.broker
        timestamp_ms = time.time_ns() // 1_000_000
        try:
            event = await broker.publish_webhook(
                channel, headers, query, chunks, timestamp_ms
            )
        except BrokerUnavailable as exc:
            log.error("%s", exc, extra={"channel": channel})
            raise Rejection(500, str(exc), reason="store") from None
        latency = time.perf_counter() - received
        self._metrics.count_published(event.body_size, latency, replay=replay)
        return event

    async def _check_signature(self, raw_headers: Headers, chunks: list[bytes]) -> None:
        headers = _lower_headers(raw_headers)
        secrets = self._state.config.webhook_secrets
        size = sum(len(chunk) for chunk in chunks)
        if size <= THREAD_SIGNATURE_BYTES:
            valid = verify_signature(headers, chunks, secrets)
        else:
            # About 0.75 ms per MiB per secret: a big body would stall every stream.
            valid = await trio.to_thread.run_sync(
                verify_signature, headers, chunks, secrets
            )
        if not valid:
            raise Rejection(401, "invalid signature", size=size, reason="signature")

    def _check_ip(self, ip: IPAddress | None) -> None:
        allow = self._state.allowlist
        if allow.enabled:
            if ip is None:
                raise Rejection(400, "Failed to determine client IP", reason="ip")
            if not allow.allows(ip):
                raise Rejection(403, f"IP address {ip} not allowed", reason="ip")

    def _check_token(self, raw_headers: Headers) -> None:
        if not self._token_digest:
            return
        presented = b""
        for name, value in raw_headers:
            scheme, _, credentials = value.partition(b" ")
            # The auth scheme is case-insensitive (RFC 9110 §11.1); the token is not.
            if name.lower() == b"authorization" and scheme.lower() == b"bearer":
                presented = credentials
        # Digests have one length whatever was sent, so the comparison leaks nothing.
        if not hmac.compare_digest(sha256(presented).digest(), self._token_digest):
            raise Rejection(401, "Unauthorized", reason="token")

    def _request_id(self, raw_headers: Headers) -> str:
        for name, value in raw_headers:
            if name.lower() == b"x-request-id" and 0 < len(value) <= _MAX_REQUEST_ID:
                text = value.decode("latin-1")
                # Only id-like text: anything else could forge fields in log lines.
                if _REQUEST_ID.fullmatch(text):
                    return text
        suffix = "".join(secrets.choice(_REQUEST_ID_ALPHABET) for _ in range(10))
        return f"{self._host}/{suffix}-{next(self._counter):06d}"

    def _log_rejection(
        self,
        rejection: Rejection,
        scope: HTTPScope,
        channel: str,
        request_id: str,
        ip: str,
    ) -> None:
        if rejection.status not in (400, 401, 403, 408, 413):
            return
        log.warning(
            "request rejected: %s",
            rejection.message,
            extra={
                "http_status": rejection.status,
                "client_ip": ip,
                "channel": channel,
                "request_id": request_id,
                "body_bytes": rejection.size,
                "path": scope["path"][:200],
            },
        )


def _peer(scope: HTTPScope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _channel_of(text: str) -> str:
    if "/" in text or not is_valid_channel(text):
        raise Rejection(404, "404 page not found", reason="not_found")
    return text


def _lower_headers(raw_headers: Headers) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers
