"""Redis Streams entries and keys as upstream gosmee lays them out; pure."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import trio
from coredis.exceptions import RedisError

from gosmee_trio.events import RelayEvent, parse_stream_id
from gosmee_trio.sse import encode_event

log = logging.getLogger(__name__)

KEY_PREFIX = b"gosmee:stream:"
# Errors that mean "cannot talk to Redis" rather than a bug of ours; TooSlowError is
# a command that got no answer within COMMAND_TIMEOUT (a hung Redis or network).
REDIS_ERRORS = (RedisError, OSError, TimeoutError, trio.TooSlowError)
# Seconds any one command may take before Redis counts as unreachable. Blocking
# reads get this on top of their blocking time.
COMMAND_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Stored:
    """What publishing reports about an event written to Redis."""

    stream_id_text: str
    delivery_id: str
    event_type: str
    body_size: int


def stream_key(channel: str) -> bytes:
    return KEY_PREFIX + channel.encode()


def channel_of(key: bytes | str) -> str:
    raw = key if isinstance(key, bytes) else key.encode()
    return raw.removeprefix(KEY_PREFIX).decode()


def text_of(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def describe(error: BaseException, deadline: float | None = None) -> str:
    """An error from talking to Redis, as a message people can act on; ``deadline``
    is the one a TooSlowError ran out of (default COMMAND_TIMEOUT)."""
    if isinstance(error, trio.TooSlowError):
        return f"no answer within {deadline or COMMAND_TIMEOUT:g} s"
    text = str(error) or type(error).__name__
    # NOTE: coredis says only "Unable to establish a connection"; what TLS objected
    # to (a CA we do not trust, another host's certificate) is in the cause.
    cause = error.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"{text}: certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"{text}: {cause}"
    return text


def event_of(
    channel: str, raw_id: bytes | str, fields: Mapping[bytes | str, bytes | str]
) -> RelayEvent | None:
    """The event for one stream entry; None (logged) for an entry without a
    ``payload`` field, which neither we nor upstream ever write."""
    sid_text = text_of(raw_id)
    payload = fields.get(b"payload", fields.get("payload"))
    if payload is None:
        log.warning(
            "skipping a Redis stream entry without a payload field",
            extra={"channel": channel, "stream_id": sid_text},
        )
        return None
    if isinstance(payload, str):
        payload = payload.encode()
    if b"\n" in payload or b"\r" in payload:
        frame = encode_event(payload, event_id=sid_text)
    else:
        # The usual case: a relay message is one line of JSON.
        frame = b"id: " + sid_text.encode() + b"\ndata: " + payload + b"\n\n"
    sid = parse_stream_id(sid_text)
    return RelayEvent(
        channel=channel,
        stream_id=sid,
        timestamp_ms=sid[0],
        delivery_id="",
        event_type="",
        body_size=len(payload),
        frame=frame,
    )
