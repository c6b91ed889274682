"""Reading a webhook body under the size cap, without buffering past it."""

from __future__ import annotations

from collections.abc import Iterable

import trio
from hypercorn.typing import ASGIReceiveCallable

# Past the cap we keep reading and discard what arrives, so the provider's connection
# stays usable for its next delivery. Beyond this much extra it is cheaper to hang up.
DRAIN_LIMIT = 32 * 1024 * 1024
# A body that has not fully arrived after 60 s is a stalled or hostile upload; the
# providers we relay send theirs in well under a second.
BODY_TIMEOUT = 60.0


class Rejection(Exception):
    """A request answered with an error status and a one-line plain-text message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        close: bool = False,
        size: int | None = None,
        reason: str = "other",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        # Body bytes seen (or declared) when the request was refused, for the log.
        self.size = size
        # The ``reason`` label of gosmee_webhooks_rejected_total (server/metrics.py).
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def too_large(*, close: bool, size: int | None) -> Rejection:
    return Rejection(
        413, "request body too large", close=close, size=size, reason="size"
    )


def declared_length(raw_headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in raw_headers:
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


async def read_body(
    receive: ASGIReceiveCallable, raw_headers: Iterable[tuple[bytes, bytes]], cap: int
) -> list[bytes]:
    """The whole request body, at most ``cap`` bytes, as the chunks that arrived.

    Raises:
        Rejection: 413 when the body is larger than ``cap`` (after draining it, or
            asking to close the connection when it is far larger), 408 when it does
            not arrive within ``BODY_TIMEOUT``.
        ClientGone: when the client disconnects first.
    """
    declared = declared_length(raw_headers)
    if declared is not None and declared > cap + DRAIN_LIMIT:
        raise too_large(close=True, size=declared)

    chunks: list[bytes] = []
    size = 0
    more = True
    with trio.move_on_after(BODY_TIMEOUT):
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGone
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size <= cap:
                chunks.append(chunk)
            elif size > cap + DRAIN_LIMIT:
                raise too_large(close=True, size=size)
            else:
                chunks.clear()
    if more:
        raise Rejection(
            408, "request body not received in time", close=True, reason="timeout"
        )
    if size > cap:
        raise too_large(close=False, size=size)
    return chunks
