"""Fuzzed webhook bodies against their own channel's subscribers, on both wires.

A body is the one input every subscriber of its channel has to handle: the gosmee
wire (``GET /events/{channel}``) carries it as base64, the smee.io wire (``GET
/{channel}`` asking for ``text/event-stream``) re-encodes it as JSON when it is JSON.
Each example opens one subscriber of each kind on a fresh channel, posts a body
under some content type, and both subscribers must get the event: the gosmee one
with the exact bytes, the smee one as strict JSON (RFC 8259: no NaN, no Infinity)
holding the parsed body or its text, as docs/how-it-works.md describes. The server
must log no ERROR meanwhile.

The tests at the end pin the faults this fuzzing found on the smee wire (a lone
surrogate or deep nesting killed every smee subscriber's stream, on each resume too;
NaN and Infinity went out as invalid JSON), each by its smallest reproduction.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
from collections.abc import Iterator, Mapping
from functools import partial

import httpx
import pytest
import trio
from httpx_sse import ServerSentEvent, aconnect_sse
from hypothesis import settings
from hypothesis import strategies as st

from tests.e2e.fuzzrun import EXAMPLE_TIMEOUT, FUZZ_SETTINGS, RUN_LIMIT, fuzz_examples
from tests.e2e.rawhttp import assert_server_calm

CONTENT_TYPES = (
    "application/json",
    "application/vnd.github+json",
    "APPLICATION/JSON; charset=utf-8",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "",
)
TRICKY_JSON = (
    b"",
    b"null",
    b"-0",
    b"1" * 5000,  # past Python's 4300-digit int limit: not parsed, sent as text
    b"1e400",
    b'{"a": NaN}',
    b"[Infinity, -Infinity]",
    b'"\\ud800"',
    b'{"a": "\\udc00\\ud800"}',
    b'"\\u0000\\u2028"',
    b"\xef\xbb\xbf{}",
    b"{} trailing",
    b'{"a": 1, "a": 2}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
)
# Header names the smee message is built from; a header must never displace them.
HEADER_NAMES = (b"timestamp", b"bodyB", b"query", b"body", b"id", b"event", b"X-Test")
# Two streams and one webhook per example: fewer examples than the request fuzz.
WIRE_SETTINGS = settings(FUZZ_SETTINGS, max_examples=150)


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(st.text(max_size=8), inner, max_size=5)
        ),
        max_leaves=20,
    )


def bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(
        _json_values().map(lambda v: json.dumps(v).encode()),
        _json_values().map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
        st.sampled_from(TRICKY_JSON),
        st.binary(max_size=256),
        st.text(max_size=64).map(str.encode),
    )


def webhooks() -> st.SearchStrategy[tuple[bytes, dict[bytes, bytes]]]:
    latin1 = st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"
    )
    # httpx sends no value with surrounding blanks; the raw-socket fuzz does that.
    values = st.text(latin1, max_size=24).map(lambda t: t.strip().encode("latin-1"))
    extra = st.dictionaries(st.sampled_from(HEADER_NAMES), values, max_size=3)
    content_type = st.sampled_from(CONTENT_TYPES).map(str.encode)
    headers = st.tuples(content_type, extra).map(
        lambda h: {b"Content-Type": h[0], **h[1]}
    )
    return st.tuples(bodies(), headers)


def _expected_smee_body(body: bytes, content_type: bytes) -> object:
    # The parsed body when it is JSON a smee client can parse back (no NaN, no
    # Infinity, no number past a double, no nesting past the stack), else its text.
    text = body.decode("utf-8", "replace")
    if b"json" in content_type.lower():
        try:
            return json.loads(text, parse_constant=_refuse, parse_float=_finite)
        except (ValueError, RecursionError):
            return text
    return text


def _refuse(token: str) -> object:
    raise ValueError(f"{token} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} does not fit a double")
    return number


def _strict_json(data: str) -> object:
    def refuse(token: str) -> object:
        raise AssertionError(f"not JSON (RFC 8259): {token} in {data[:200]!r}")

    return json.loads(data, parse_constant=refuse)


class WireWatch:
    """One subscriber; hands over each event, then None once its stream has ended."""

    def __init__(self, url: str, http: httpx.AsyncClient, *, smee: bool) -> None:
        self._url = url
        self._http = http
        self._smee = smee
        self._send, self._receive = trio.open_memory_channel[ServerSentEvent | None](
            100
        )

    async def run(
        self, last_event_id: str = "", *, task_status: trio.TaskStatus[None]
    ) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            async with aconnect_sse(
                self._http, "GET", self._url, headers=headers
            ) as sse:
                async for event in sse.aiter_sse():
                    if self._is_ready(event):
                        task_status.started()
                    elif not self._is_control(event):
                        await self._send.send(event)
        except httpx.HTTPError:
            pass  # a stream cut off mid-chunk; None below says so
        await self._send.send(None)

    async def next(self) -> ServerSentEvent | None:
        return await self._receive.receive()

    async def events(self, count: int) -> list[ServerSentEvent]:
        """Up to ``count`` events: fewer when the stream ends first."""
        found: list[ServerSentEvent] = []
        while len(found) < count and (event := await self.next()) is not None:
            found.append(event)
        return found

    def _is_ready(self, event: ServerSentEvent) -> bool:
        if self._smee:
            return event.event == "ready"
        return event.data == '{"message":"ready"}'

    def _is_control(self, event: ServerSentEvent) -> bool:
        if self._smee:
            return event.event == "ping"
        return not event.data or event.data.startswith('{"message":')


def _channels() -> Iterator[str]:
    return (f"wire-fuzz-channel-{n:06d}" for n in itertools.count())


async def _post(
    http: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[bytes, bytes]
) -> str:
    reply = await http.post(url, content=body, headers=headers)
    assert reply.status_code == 202, reply.text
    stream_id: str = reply.json()["stream_id"]
    return stream_id


async def _check_webhook(
    base_url: str,
    http: httpx.AsyncClient,
    channels: Iterator[str],
    webhook: tuple[bytes, dict[bytes, bytes]],
) -> None:
    body, headers = webhook
    channel = next(channels)
    gosmee = WireWatch(f"{base_url}/events/{channel}", http, smee=False)
    smee = WireWatch(f"{base_url}/{channel}", http, smee=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(gosmee.run)
        await nursery.start(smee.run)
        stream_id = await _post(http, f"{base_url}/{channel}", body, headers)
        plain, smeed = await gosmee.next(), await smee.next()
        nursery.cancel_scope.cancel()

    assert plain is not None, "the gosmee stream ended before the event"
    assert plain.id == stream_id
    assert base64.b64decode(json.loads(plain.data)["bodyB"]) == body
    assert smeed is not None, "the smee stream ended before the event"
    assert smeed.id == stream_id
    message = _strict_json(smeed.data)
    assert isinstance(message, dict)
    assert message["body"] == _expected_smee_body(body, headers[b"Content-Type"])
    assert isinstance(message["timestamp"], int)


@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_fuzzed_bodies_reach_both_wires_of_their_channel(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    check = partial(_check_webhook, server_url, http, _channels())
    await fuzz_examples(webhooks(), check, caplog, budget=WIRE_SETTINGS)


# --- faults found here, each pinned by its smallest reproduction -------------------

POISON = [
    pytest.param(b'{"a": "\\ud800"}', id="lone-surrogate"),
    pytest.param(b"[" * 100_000, id="deep-nesting"),
]
CHANNEL = "wire-fault-channel-01"
JSON = {b"Content-Type": b"application/json"}


@pytest.mark.parametrize("poison", POISON)
async def test_smee_wire_survives_json_it_cannot_reencode(
    server_url: str,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    poison: bytes,
) -> None:
    caplog.set_level(logging.WARNING)
    smee = WireWatch(f"{server_url}/{CHANNEL}", http, smee=True)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(smee.run)
            await _post(http, f"{server_url}/{CHANNEL}", poison, JSON)
            after = await _post(http, f"{server_url}/{CHANNEL}", b"{}", JSON)
            received = await smee.events(2)
            nursery.cancel_scope.cancel()

    assert [event.id for event in received][1:] == [after], received
    await assert_server_calm(caplog)


async def test_smee_wire_resumes_past_json_it_cannot_reencode(
    server_url: str, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        before = await _post(http, f"{server_url}/{CHANNEL}", b"{}", JSON)
        await _post(http, f"{server_url}/{CHANNEL}", b'"\\ud800"', JSON)
        after = await _post(http, f"{server_url}/{CHANNEL}", b"{}", JSON)
        smee = WireWatch(f"{server_url}/{CHANNEL}", http, smee=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(smee.run, before)
            received = await smee.events(2)
            nursery.cancel_scope.cancel()

    assert [event.id for event in received][1:] == [after], received
    await assert_server_calm(caplog)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a": NaN}', id="NaN"),
        pytest.param(b"[1e400]", id="overflow"),
        pytest.param(b"-Infinity", id="-Infinity"),
    ],
)
async def test_smee_wire_sends_strict_json(
    server_url: str, http: httpx.AsyncClient, body: bytes
) -> None:
    smee = WireWatch(f"{server_url}/{CHANNEL}", http, smee=True)
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(smee.run)
            await _post(http, f"{server_url}/{CHANNEL}", body, JSON)
            received = await smee.next()
            nursery.cancel_scope.cancel()

    assert received is not None
    _strict_json(received.data)
