"""Server-Sent Events encoding, pure.

Frame syntax follows the WHATWG HTML standard, section 9.2 "Server-sent events":
https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
A frame is optional ``id:`` and ``event:`` lines, one ``data:`` line per line of the
payload, and a blank line. Decoding is left to httpx-sse on the client side.
"""

from __future__ import annotations

import re

# CR LF, lone CR and lone LF all end a line for an SSE parser, so each of them must
# start a new ``data:`` line or the payload would be cut or merged.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

KEEPALIVE_FRAME = b": keepalive\n\n"


def encode_event(
    data: bytes, *, event_id: str | None = None, event: str | None = None
) -> bytes:
    """Encode one SSE event; ``data`` may hold line breaks of any kind."""
    parts: list[bytes] = []
    if event_id is not None:
        _check_field("id", event_id)
        parts.append(b"id: " + event_id.encode() + b"\n")
    if event is not None:
        _check_field("event", event)
        parts.append(b"event: " + event.encode() + b"\n")
    for line in _LINE_BREAK.split(data):
        parts.append(b"data: " + line + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def encode_comment(text: str) -> bytes:
    """Encode an SSE comment frame, which every parser ignores."""
    _check_field("comment", text)
    return b": " + text.encode() + b"\n\n"


def _check_field(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE {name} must be one line, got {value!r}")
