"""Reading a webhook body under the size cap without buffering past it."""

from __future__ import annotations

import trio
from quart import Request
from werkzeug.exceptions import HTTPException

# Past the cap we keep reading and discard what arrives, so the provider's connection
# stays usable for its next delivery. Beyond this much extra it is cheaper to hang up.
DRAIN_LIMIT = 32 * 1024 * 1024
# A body that has not fully arrived after 60 s is a stalled or hostile upload; the
# providers we relay send theirs in well under a second.
BODY_TIMEOUT = 60.0


class PlainError(HTTPException):
    """An HTTP error answered as one line of plain text, upstream's style."""

    def __init__(self, code: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.close = close


def too_large(*, close: bool) -> PlainError:
    return PlainError(413, "request body too large", close=close)


async def read_body(request: Request, cap: int) -> bytes:
    """The whole request body, at most ``cap`` bytes.

    Raises:
        PlainError: 413 when the body is larger than ``cap`` (after draining it, or
            asking to close the connection when it is far larger), 408 when it does
            not arrive within ``BODY_TIMEOUT``.
    """
    declared = request.content_length
    if declared is not None and declared > cap + DRAIN_LIMIT:
        raise too_large(close=True)

    chunks: list[bytes] = []
    size = 0
    with trio.move_on_after(BODY_TIMEOUT) as scope:
        async for chunk in request.body:
            size += len(chunk)
            if size <= cap:
                chunks.append(chunk)
            elif size > cap + DRAIN_LIMIT:
                raise too_large(close=True)
            else:
                chunks.clear()
    if scope.cancelled_caught:
        raise PlainError(408, "request body not received in time", close=True)
    if size > cap:
        raise too_large(close=False)
    return b"".join(chunks)
