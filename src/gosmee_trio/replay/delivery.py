"""A delivery fetched from GitHub turned into an event for the forwarder; pure.

NOTE: GitHub's API returns the payload parsed, not the bytes it sent, so the body
is re-serialised here (compact JSON). Its bytes differ from the original, and the
``X-Hub-Signature-256`` header GitHub recorded will not verify against it.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.replay.model import Delivery
from gosmee_trio.wire import HOP_BY_HOP

# GitHub's default, and what the payload is when the request carried no type.
DEFAULT_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# RFC 9110 header field names; anything else could not be sent to the target.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The body is rebuilt, so GitHub's recorded length no longer fits it.
_NOT_FORWARDED = HOP_BY_HOP | {"content-length"}


def event_from_delivery(delivery: Delivery) -> IncomingEvent:
    """The event to forward for ``delivery``: GitHub's headers and its payload."""
    headers = _forwarded_headers(delivery.headers)
    content_type = _header(headers, "content-type")
    if not content_type:
        content_type = DEFAULT_CONTENT_TYPE
        headers += (("Content-Type", content_type),)
    summary = delivery.summary
    return IncomingEvent(
        stream_id="",
        headers=headers,
        body=_body(delivery.payload, content_type),
        query=(),
        event_type=_header(headers, "x-github-event") or summary.event,
        delivery_id=summary.guid,
        content_type=content_type,
        timestamp_ms=int(summary.delivered_at.timestamp() * 1000),
    )


def _forwarded_headers(
    headers: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, str], ...]:
    # NOTE: GitHub records "content-type" in lower case next to canonical names;
    # names are compared without case so the target never gets a header twice.
    kept: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in _NOT_FORWARDED or not _TOKEN.fullmatch(name):
            continue
        kept.setdefault(lowered, (_title_case(name), value))
    return tuple(kept.values())


def _body(payload: object, content_type: str) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE:
        # A hook set to the "form" content type sent payload=<json>; send that
        # shape again so the target can parse it the same way.
        return urlencode({"payload": text}).encode()
    return text.encode()


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def _title_case(name: str) -> str:
    # The client's spelling (X-GitHub-Event stays, content-type → Content-Type),
    # so saved replay scripts look the same whichever command wrote them.
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))
