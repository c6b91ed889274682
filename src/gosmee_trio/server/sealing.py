"""Sealing stream frames for one subscriber of a protected channel.

Each event frame is re-encoded per subscriber: its relay message is sealed to that
subscriber's public key with a fresh ephemeral key and nonce (``envelope.seal``), and
keeps its stream id. Control and gap frames carry no webhook data and stay as they
are, as upstream does.
"""

from __future__ import annotations

import trio
from nacl.public import PublicKey

from gosmee_trio.envelope import seal

_EVENT_PREFIX = b"id: "
_DATA = b"\ndata: "
# Sealing is fast (XSalsa20-Poly1305 plus base64, roughly 2 ms per MiB here), but a
# multi-megabyte payload to many subscribers would still stall every other stream;
# past this size the work goes to a worker thread (libsodium releases the GIL).
THREAD_SEAL_BYTES = 256 * 1024


def seal_frame(frame: bytes, recipient: PublicKey) -> bytes:
    """``frame`` with its message sealed to ``recipient``; other frames unchanged."""
    if not frame.startswith(_EVENT_PREFIX):
        return frame
    head, found, rest = frame.partition(_DATA)
    if not found:
        return frame
    message = rest[:-2] if rest.endswith(b"\n\n") else rest
    return b"".join((head, _DATA, seal(message, recipient), b"\n\n"))


async def seal_frames(
    frames: list[bytes], recipient: PublicKey, limiter: trio.CapacityLimiter
) -> list[bytes]:
    """Seal each frame; large ones in a worker thread that ``limiter`` admits.

    One admitted thread at a time is the point: many threads copying megabytes
    under the GIL starve the event loop far more than one does.
    """
    sealed: list[bytes] = []
    for frame in frames:
        if len(frame) > THREAD_SEAL_BYTES:
            sealed.append(
                await trio.to_thread.run_sync(
                    seal_frame, frame, recipient, limiter=limiter
                )
            )
        else:
            sealed.append(seal_frame(frame, recipient))
    return sealed
