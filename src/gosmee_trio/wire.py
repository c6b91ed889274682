"""Upstream gosmee's relay message: building it on the server, pure.

The message is a flat JSON object, keys sorted, no spaces: one key per request header
(lower-cased), ``timestamp`` as a string of epoch ms, ``bodyB`` as standard base64 of
the exact body, and (our addition, which upstream clients ignore) ``query`` as an
object of name to list of values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gosmee_trio.events import (
    DELIVERY_ID_HEADERS,
    EVENT_TYPE_HEADERS,
    RelayEvent,
    StreamId,
    first_header,
    format_stream_id,
)

# Connection-level headers describe one hop, not the webhook; the target's own HTTP
# client sets them. ``host`` names our server, which the target has no use for.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
    }
)

# Keys the server sets; a request header of the same name never replaces them.
RESERVED_KEYS = frozenset({"timestamp", "bodyB", "query"})

_BODY_PLACEHOLDER = b'"bodyB":""'
_QUERY_PLACEHOLDER = b'"query":""'

# Go's JSON encoder escapes these; matching it keeps our frames byte-identical.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
    | {"\u2029": "\\u2029"}
)


def _go_json(value: object, *, sort_keys: bool) -> bytes:
    text = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys
    )
    return text.translate(_GO_ESCAPES).encode("utf-8", errors="replace")


def relay_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased request headers for relaying, repeated ones joined with ``, ``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("utf-8", errors="replace")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    # Headers the sender named in Connection belong to that one hop too (RFC 9110).
    named = {part.strip().lower() for part in headers.get("connection", "").split(",")}
    return {k: v for k, v in headers.items() if k not in HOP_BY_HOP and k not in named}


def parse_query(query_string: bytes) -> dict[str, list[str]]:
    """Query string as name to values, repeated names kept in order."""
    query: dict[str, list[str]] = {}
    text = query_string.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        query.setdefault(name, []).append(value)
    return query


def build_message(
    headers: dict[str, str],
    body: bytes,
    query: dict[str, list[str]],
    timestamp_ms: int,
) -> bytes:
    """Encode the relay message JSON for ``GET /events/{channel}``."""
    head, tail = _message_halves(headers, query, timestamp_ms)
    return head + base64.b64encode(body) + tail


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook's relay message in pieces, and what logs say about it."""

    pieces: list[bytes]
    delivery_id: str
    event_type: str
    body_size: int


def build_message_pieces(
    raw_headers: Iterable[tuple[bytes, bytes]],
    query_string: bytes,
    body_chunks: list[bytes],
    timestamp_ms: int,
) -> Message:
    """The relay message for one webhook, as pieces to join; empties ``body_chunks``
    while it encodes them, so a large body is never held in full both raw and
    encoded."""
    headers = relay_headers(raw_headers)
    head, tail = _message_halves(headers, parse_query(query_string), timestamp_ms)
    size = sum(len(chunk) for chunk in body_chunks)
    pieces = [head, *encode_base64_chunks(body_chunks), tail]
    return Message(
        pieces=pieces,
        delivery_id=first_header(headers, DELIVERY_ID_HEADERS),
        event_type=first_header(headers, EVENT_TYPE_HEADERS),
        body_size=size,
    )


def build_event(
    channel: str,
    stream_id: StreamId,
    raw_headers: Iterable[tuple[bytes, bytes]],
    query_string: bytes,
    body_chunks: list[bytes],
    timestamp_ms: int,
) -> RelayEvent:
    """The event for one webhook, its SSE frame encoded once, here.

    ``body_chunks`` is emptied while it is encoded, so that a large body is never
    held in full both raw and encoded.
    """
    message = build_message_pieces(raw_headers, query_string, body_chunks, timestamp_ms)
    # The message is JSON, which never holds a raw line break, so it is exactly one
    # ``data:`` line.
    prefix = b"id: " + format_stream_id(stream_id).encode() + b"\ndata: "
    frame = b"".join((prefix, *message.pieces, b"\n\n"))
    message.pieces.clear()
    return RelayEvent(
        channel=channel,
        stream_id=stream_id,
        timestamp_ms=timestamp_ms,
        delivery_id=message.delivery_id,
        event_type=message.event_type,
        body_size=message.body_size,
        frame=frame,
    )


def encode_base64_chunks(chunks: list[bytes]) -> list[bytes]:
    """Standard base64 of the chunks joined, in pieces; empties ``chunks``."""
    chunks.reverse()
    pieces: list[bytes] = []
    carry = b""
    while chunks:
        data = carry + chunks.pop()
        cut = len(data) - len(data) % 3
        pieces.append(base64.b64encode(data[:cut]))
        carry = data[cut:]
    pieces.append(base64.b64encode(carry))
    return pieces


def _message_halves(
    headers: dict[str, str], query: dict[str, list[str]], timestamp_ms: int
) -> tuple[bytes, bytes]:
    fields: dict[str, object] = {
        k: v for k, v in headers.items() if k not in RESERVED_KEYS
    }
    fields["timestamp"] = str(timestamp_ms)
    fields["bodyB"] = ""
    if query:
        fields["query"] = ""
    encoded = _go_json(fields, sort_keys=True)
    if query:
        # Spliced in unsorted: the order of the query's names is the sender's.
        encoded = encoded.replace(
            _QUERY_PLACEHOLDER, b'"query":' + _go_json(query, sort_keys=False), 1
        )
    # The base64 body goes in afterwards: running a multi-megabyte string through the
    # JSON encoder would copy it several times for nothing (base64 needs no escaping).
    head, found, tail = encoded.partition(_BODY_PLACEHOLDER)
    assert found, "the bodyB placeholder is always present"
    return head + b'"bodyB":"', b'"' + tail
