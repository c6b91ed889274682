"""Writing whole responses on the raw ASGI path."""

from __future__ import annotations

import json

from hypercorn.typing import ASGISendCallable

from gosmee_trio import __version__
from gosmee_trio.server.body import Rejection

VERSION_HEADER = (b"x-gosmee-version", __version__.encode())


async def send_text(send: ASGISendCallable, rejection: Rejection) -> None:
    """Answer with ``rejection`` as one line of plain text, upstream's error style."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if rejection.close:
        headers.append((b"connection", b"close"))
    await send_whole(
        send, rejection.status, rejection.message.encode() + b"\n", headers
    )


async def send_json(
    send: ASGISendCallable, status: int, value: object, *, version: bool = True
) -> None:
    body = json.dumps(value, separators=(",", ":")).encode() + b"\n"
    headers = [(b"content-type", b"application/json")]
    if version:
        headers.append(VERSION_HEADER)
    await send_whole(send, status, body, headers)


async def send_whole(
    send: ASGISendCallable, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers,
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
