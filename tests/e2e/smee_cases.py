"""Webhooks sent to the smee wire, and what each client is measured to deliver.

The expected requests are precise on purpose: a client that rebuilds requests from
the event's JSON (all of them on this wire) changes bytes in its own way, and a new
release of a client, or a change on our server, should show up as a failing test.
docs/compatibility.md summarises these tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SECRET = b"interop-secret"
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
# Every test body carries this text, so that a header carrying body content (as a
# raw-body field of the event would become) is caught whatever its name.
MARKER = "interop-marker-5f2c"


@dataclass(frozen=True)
class Webhook:
    """One request a provider sends to ``POST /{channel}``, signed GitHub's way."""

    event_type: str
    content_type: str
    body: bytes
    query: str = ""
    chunked: bool = False
    # Sent along with the webhook, and never to be relayed.
    hop_headers: tuple[tuple[str, str], ...] = ()

    def headers(self) -> dict[str, str]:
        digest = hmac.new(SECRET, self.body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": self.content_type,
            "User-Agent": "GitHub-Hookshot/7f3c2e1",
            "X-GitHub-Event": self.event_type,
            "X-GitHub-Delivery": DELIVERY_ID,
            "X-GitHub-Hook-ID": "424242",
            "X-Hub-Signature-256": f"sha256={digest}",
        }

    def event_body(self) -> object:
        # What the smee wire carries as "body": the parsed JSON, or the text.
        text = self.body.decode()
        return json.loads(text) if "json" in self.content_type else text


@dataclass(frozen=True)
class Delivered:
    """What a client is expected to POST to the target for one webhook."""

    body: bytes
    content_type: str
    query: bytes = b""
    signature_verifies: bool = False


@dataclass(frozen=True)
class Profile:
    """One client's measured behaviour: the request it sends for each webhook."""

    delivers: dict[str, Delivered]
    # The header names the target sees: all of them when ``exact_headers``, else at
    # least these.
    header_names: frozenset[str]
    # Whether the event's numeric "timestamp" comes through as a header.
    timestamp_header: bool
    exact_headers: bool = True


PUSH = {
    "ref": "refs/heads/main",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "76ae82c7b1a177c8d03f9e96e0adf2466113728f",
    "repository": {"id": 1296269, "full_name": "octo-org/menu", "private": False},
    "pusher": {"name": "zoë", "email": "zoe@example.test"},
    "head_commit": {"id": "76ae82c", "message": "Fix the café menu ✓"},
    "marker": MARKER,
}
# GitHub sends compact JSON and keeps non-ASCII text as UTF-8.
PUSH_BYTES = json.dumps(PUSH, ensure_ascii=False, separators=(",", ":")).encode()
FORM_TEXT = f"payload=%7B%22zen%22%3A%22{MARKER}%22%7D&extra=a+b"
NOTE_TEXT = f"café — ✓ {MARKER}"
LARGE = {
    "marker": MARKER,
    "items": [{"n": n, "note": "café ✓ " * 24} for n in range(33)],
}
# Pretty-printed, as some providers send it: 9.4 KB (8.6 KB compact), past the 8 KB
# at which header and buffer limits commonly sit.
LARGE_BYTES = json.dumps(LARGE, ensure_ascii=False, indent=2).encode()

# Compact and ASCII-only, over the server's 256 KB write slices: one event that the
# HTTP layer frames as several chunks.
HUGE = {"marker": MARKER, "lines": [f"line {n:05d} " + "x" * 90 for n in range(3000)]}
HUGE_BYTES = json.dumps(HUGE, separators=(",", ":")).encode()

WEBHOOKS = {
    "github-push": Webhook("push", "application/json", PUSH_BYTES),
    "form": Webhook(
        "ping",
        "application/x-www-form-urlencoded",
        FORM_TEXT.encode(),
        query="?foo=bar&tag=a&tag=b",
    ),
    "non-ascii-text": Webhook(
        "note", "text/plain; charset=utf-8", NOTE_TEXT.encode(), query="?note=caf%C3%A9"
    ),
    "json-9kb": Webhook("bulk", "application/json", LARGE_BYTES, query="?a=1"),
    "json-300kb": Webhook("bulk", "application/json", HUGE_BYTES),
    # Sent with Transfer-Encoding: chunked, then with Expect (curl sends it for big
    # bodies) and Keep-Alive: undici refuses to send any of these three, so none may
    # reach the event.
    "chunked": Webhook("push", "application/json", PUSH_BYTES, chunked=True),
    "expect-keep-alive": Webhook(
        "push",
        "application/json",
        PUSH_BYTES,
        hop_headers=(("Expect", "100-continue"), ("Keep-Alive", "timeout=5")),
    ),
}


def _compact(value: object) -> bytes:
    # Byte for byte what JavaScript's JSON.stringify gives for these values.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _compact_ascii(value: object) -> bytes:
    # Python's json.dumps default: non-ASCII text becomes \uXXXX escapes.
    return json.dumps(value, separators=(",", ":")).encode()


# What the target sees from the webhook itself, whoever forwards it (httpx, which
# sent the webhooks, adds accept, accept-encoding and connection).
_SENT_HEADERS = {
    "host",
    "connection",
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "user-agent",
    "x-github-delivery",
    "x-github-event",
    "x-github-hook-id",
    "x-hub-signature-256",
}

# npm smee-client: the body is JSON.stringify(event.body), so JSON is re-serialised
# compactly (byte-exact only when the provider sent compact JSON) and any other body
# arrives as a JSON string literal, quotes included; content-type is forced to
# application/json. Each query name is set() on the target URL, so a repeated name
# becomes one comma-joined value, and the query is re-encoded. undici's fetch adds
# accept-language and sec-fetch-mode.
SMEE_CLIENT = Profile(
    delivers={
        "github-push": Delivered(
            PUSH_BYTES, "application/json", signature_verifies=True
        ),
        "form": Delivered(
            _compact(FORM_TEXT), "application/json", b"foo=bar&tag=a%2Cb"
        ),
        "non-ascii-text": Delivered(
            _compact(NOTE_TEXT), "application/json", b"note=caf%C3%A9"
        ),
        "json-9kb": Delivered(_compact(LARGE), "application/json", b"a=1"),
        "json-300kb": Delivered(
            HUGE_BYTES, "application/json", signature_verifies=True
        ),
        "chunked": Delivered(PUSH_BYTES, "application/json", signature_verifies=True),
        "expect-keep-alive": Delivered(
            PUSH_BYTES, "application/json", signature_verifies=True
        ),
    },
    header_names=frozenset(
        _SENT_HEADERS | {"timestamp", "accept-language", "sec-fetch-mode"}
    ),
    timestamp_header=True,
)

# pysmee: the body is json.dumps(event.body) with ASCII escapes, so any non-ASCII
# text changes the bytes and breaks signatures; any other body becomes a JSON string
# literal under its original content-type; the query is dropped.
PYSMEE = Profile(
    delivers={
        "github-push": Delivered(_compact_ascii(PUSH), "application/json"),
        "form": Delivered(
            _compact_ascii(FORM_TEXT), "application/x-www-form-urlencoded"
        ),
        "non-ascii-text": Delivered(
            _compact_ascii(NOTE_TEXT), "text/plain; charset=utf-8"
        ),
        "json-9kb": Delivered(_compact_ascii(LARGE), "application/json"),
        # Compact ASCII-only JSON is the one body pysmee hands over byte for byte.
        "json-300kb": Delivered(
            HUGE_BYTES, "application/json", signature_verifies=True
        ),
        "chunked": Delivered(_compact_ascii(PUSH), "application/json"),
        "expect-keep-alive": Delivered(_compact_ascii(PUSH), "application/json"),
    },
    header_names=frozenset(_SENT_HEADERS | {"timestamp"}),
    timestamp_header=True,
)

# Our client on the smee wire (--smee-stream): JSON re-serialised compactly with
# UTF-8 kept, any other body as a JSON string literal; content-type and the query
# (repeats and order) kept; the timestamp is not a header. Its own transport
# headers are its own business, so only the provider's are pinned.
OUR_CLIENT = Profile(
    delivers={
        "github-push": Delivered(
            PUSH_BYTES, "application/json", signature_verifies=True
        ),
        "form": Delivered(
            _compact(FORM_TEXT),
            "application/x-www-form-urlencoded",
            b"foo=bar&tag=a&tag=b",
        ),
        "non-ascii-text": Delivered(
            _compact(NOTE_TEXT), "text/plain; charset=utf-8", b"note=caf%C3%A9"
        ),
        "json-9kb": Delivered(_compact(LARGE), "application/json", b"a=1"),
        "json-300kb": Delivered(
            HUGE_BYTES, "application/json", signature_verifies=True
        ),
        "chunked": Delivered(PUSH_BYTES, "application/json", signature_verifies=True),
        "expect-keep-alive": Delivered(
            PUSH_BYTES, "application/json", signature_verifies=True
        ),
    },
    header_names=frozenset(_SENT_HEADERS - {"connection"}),
    timestamp_header=False,
    exact_headers=False,
)

# Never a header: the event's reserved keys, raw-body fields of other wires, and the
# webhook's own hop-by-hop headers.
FORBIDDEN_HEADERS = {
    "body",
    "query",
    "rawdata",
    "bodyb",
    "transfer-encoding",
    "expect",
    "keep-alive",
}
