"""The smee.io wire, built from an event's gosmee frame; pure.

smee.io clients (the npm smee-client, pysmee) read one JSON object per event: the
lower-cased request headers, then ``body`` (the parsed body when it is JSON, else its
text), ``query`` (a repeated name becomes a list) and ``timestamp`` (a number). The
three reserved keys come last, so a request header of the same name never wins.
"""

from __future__ import annotations

import base64
import json
import logging
import math

from gosmee_trio.sse import encode_event

log = logging.getLogger(__name__)

READY_FRAME = encode_event(b"{}", event="ready")
PING_FRAME = encode_event(b"{}", event="ping")
_DATA = b"\ndata: "


def smee_frame(gosmee_frame: bytes, stream_id: str) -> bytes:
    """The smee.io frame for the event whose gosmee frame is ``gosmee_frame``; empty
    (logged) when the frame holds no relay message, which only a foreign writer to
    a shared Redis could cause."""
    try:
        return _smee_frame(gosmee_frame, stream_id)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # ValueError covers bad JSON, bad base64 and undecodable bytes.
        log.warning(
            "skipping an event the smee wire cannot carry: %s",
            exc,
            extra={"stream_id": stream_id},
        )
        return b""


def _smee_frame(gosmee_frame: bytes, stream_id: str) -> bytes:
    start = gosmee_frame.index(_DATA) + len(_DATA)
    message = json.loads(gosmee_frame[start:].rstrip(b"\n").decode("utf-8"))
    if not isinstance(message, dict):
        raise TypeError(f"expected a JSON object, got {type(message).__name__}")
    if not isinstance(message.get("bodyB"), str):
        # Every relay message has one; without it there is no body to send.
        raise TypeError("no bodyB in the relay message")
    body = base64.b64decode(message.pop("bodyB", ""), validate=True)
    timestamp = int(message.pop("timestamp", "0") or 0)
    query = message.pop("query", {})
    if not isinstance(query, dict):
        raise TypeError(f"query must be an object, got {type(query).__name__}")
    content_type = str(message.get("content-type", ""))
    fields = {k: v for k, v in message.items() if k not in ("body", "query")}
    fields["body"] = _body_value(body, content_type)
    fields["query"] = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
    fields["timestamp"] = timestamp
    # Pure ASCII on purpose: pysmee's SSE library decodes a stream without a charset
    # as ISO-8859-1, and \u escapes survive any decoding. Lone surrogates escape too.
    data = json.dumps(fields, separators=(",", ":"), allow_nan=False).encode()
    return encode_event(data, event_id=stream_id)


def _body_value(body: bytes, content_type: str) -> object:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            return json.loads(text, parse_constant=_not_json, parse_float=_finite)
        except (ValueError, RecursionError):  # not JSON, or nested past our stack
            return text
    return text


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: valid JSON, but no JSON number out
        raise ValueError(f"{text} does not fit a double")
    return number


def _not_json(name: str) -> object:
    # Python's parser takes NaN and Infinity, which JSON (and smee clients) do not.
    raise ValueError(f"{name} is not JSON")
