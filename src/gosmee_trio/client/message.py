"""Turning one SSE event into a delivery for the target; pure.

Reads both wires: gosmee's (``bodyB`` base64 of the exact body, ``timestamp`` string)
and smee.io's (``body`` parsed JSON, ``timestamp`` number, ``query`` object).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gosmee_trio.errors import MessageError
from gosmee_trio.events import (
    DELIVERY_ID_HEADERS,
    EVENT_TYPE_HEADERS,
    first_header,
    is_stream_id,
)
from gosmee_trio.wire import HOP_BY_HOP

GAP_EVENT = "gosmee-gap"
_LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# RFC 9110 header field names; anything else could not be sent to the target.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL_NAMES = frozenset({"ready", "ping"})
_CONTROL_MESSAGES = frozenset({"connected", "ready"})
# Keys of the message that are not headers: on the gosmee wire (which has bodyB) a
# header named "body" is the provider's, on the smee wire "body" is the body.
_GOSMEE_KEYS = frozenset({"bodyB", "timestamp", "query"})
_SMEE_KEYS = _GOSMEE_KEYS | {"body"}
# Headers the target's HTTP client computes itself.
_NOT_FORWARDED = HOP_BY_HOP | {"content-length"}


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One webhook as received by the client, ready to forward."""

    stream_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    query: tuple[tuple[str, str], ...]
    event_type: str
    delivery_id: str
    content_type: str
    timestamp_ms: int | None

    @property
    def durable(self) -> bool:
        """Whether the id is a stream id the server can resume from."""
        return is_stream_id(self.stream_id)


@dataclass(frozen=True, slots=True)
class Unparsable:
    """A stream event that could not be parsed; it is dead-lettered, not dropped."""

    stream_id: str
    data: str
    error: str

    def as_event(self) -> IncomingEvent:
        """The raw data as a text event, so it can be dead-lettered like any other."""
        return IncomingEvent(
            stream_id=self.stream_id,
            headers=(("Content-Type", "text/plain; charset=utf-8"),),
            body=self.data.encode(),
            query=(),
            event_type="unparsable",
            delivery_id="",
            content_type="text/plain; charset=utf-8",
            timestamp_ms=None,
        )


def is_control_event(name: str, data: str) -> bool:
    """``connected``/``ready``/``ping`` traffic, by event name or exact shape only."""
    if name in _CONTROL_NAMES or data == "ready":
        return True
    if not data.startswith("{"):
        return False
    try:
        parsed = json.loads(data)
    except ValueError:
        return False
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return False
    ((key, value),) = parsed.items()
    return (
        key.lower() == "message"
        and isinstance(value, str)
        and value.lower() in _CONTROL_MESSAGES
    )


def is_empty_event(data: str) -> bool:
    return data.strip() in ("", "{}")


def parse_message(data: str, stream_id: str = "") -> IncomingEvent:
    """Parse a relay message.

    Raises:
        MessageError: when ``data`` is not a JSON object with at least one header.
    """
    try:
        fields = json.loads(data)
    except ValueError as exc:
        raise MessageError(
            f"expected a JSON object, got {len(data)} characters of something else"
        ) from exc
    if not isinstance(fields, dict):
        raise MessageError(f"expected a JSON object, got {type(fields).__name__}")

    lowered = {k.lower(): v for k, v in fields.items() if isinstance(v, str)}
    not_headers = _GOSMEE_KEYS if "bodyB" in fields else _SMEE_KEYS
    headers = tuple(
        (_title_case(key), value)
        for key, value in fields.items()
        if isinstance(value, str)
        and key not in not_headers
        and key.lower() not in _NOT_FORWARDED
        and _TOKEN.fullmatch(key)
    )
    if not headers and "bodyB" not in fields and "body" not in fields:
        raise MessageError("no headers found in message")

    return IncomingEvent(
        stream_id=stream_id if is_stream_id(stream_id) else "",
        headers=headers,
        body=_body_of(fields),
        query=_query_of(fields.get("query")),
        event_type=first_header(lowered, EVENT_TYPE_HEADERS),
        delivery_id=first_header(lowered, DELIVERY_ID_HEADERS),
        content_type=lowered.get("content-type", ""),
        timestamp_ms=_timestamp_of(fields.get("timestamp")),
    )


def _body_of(fields: dict[str, Any]) -> bytes:
    encoded = fields.get("bodyB")
    if "bodyB" in fields and not isinstance(encoded, str):
        # Sending an empty body instead would look like a delivery and lose it.
        raise MessageError(
            f"bodyB must be a base64 string, got {type(encoded).__name__}"
        )
    if isinstance(encoded, str):
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise MessageError(f"bodyB is not valid base64: {exc}") from exc
    if "body" in fields:
        # smee.io wire: the body arrives parsed, so its JSON text is what we can send.
        value = fields["body"]
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return b""


def _query_of(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    pairs: list[tuple[str, str]] = []
    for name, values in value.items():
        items = values if isinstance(values, list) else [values]
        pairs.extend((str(name), str(item)) for item in items)
    return tuple(pairs)


def _timestamp_of(value: object) -> int | None:
    number: int | None = None
    if isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value) if math.isfinite(value) else None
    # Anything outside years 1970-9999 is not a time we can name a file after.
    if number is None or not 0 <= number <= _LATEST_MS:
        return None
    return number


def _title_case(key: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))
