"""Hypothesis strategies for hostile HTTP/1.1 requests, and what each one may expect.

A drawn `FuzzRequest` is written to the server byte for byte (see rawhttp.py), so it
may be anything: unknown or lower-case methods, paths that are too short, too long,
percent-encoded or not ASCII at all, header names and values with bytes no header may
hold, header blocks past hypercorn's 16 KiB limit, bodies up to 64 KiB sent with a
Content-Length or chunked. Its framing (Content-Length, Transfer-Encoding) is always
the one the body really has: framing abuse has its own named tests in
test_fuzz_raw.py.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from dataclasses import dataclass
from string import ascii_letters, digits
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from hypothesis import strategies as st

# The webhook secret of the guarded server; signed requests pass its check.
SECRET = "fuzz-secret"
# A channel no fuzzed path names; markers posted to it prove nobody else was hurt.
MARKER_CHANNEL = "marker-channel-for-fuzzing-0001"
# h11's default in hypercorn (h11_max_incomplete_size): a request head larger than
# this may be refused with 431 and the connection closed, as HTTP/1.1 allows.
HEAD_LIMIT = 16 * 1024

_TCHAR = "!#$%&'*+-.^_`|~" + digits + ascii_letters
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
# What h11 (hypercorn's parser) takes as a field value: no NUL, CR, LF, VT or FF.
_VALUE = re.compile(rb"[^\x00\r\n\x0b\x0c]*")
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})

KNOWN_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
NOTABLE_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Last-Event-ID",
    "Accept",
    "Accept-Encoding",
    "User-Agent",
    "Connection",
    "Upgrade",
    "Expect",
    "Cookie",
    "Origin",
    "Range",
    "If-None-Match",
    "Authorization",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Forwarded",
    "X-Forwarded-For",
    "X-Real-IP",
    "X-Request-Id",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Gitlab-Event",
    "X-Gitlab-Token",
    "X-Hub-Signature",
    "X-Hub-Signature-256",
    "X-Gitea-Signature",
    "X-Forgejo-Signature",
    "timestamp",
    "bodyB",
    "query",
)
CONTENT_TYPES = (
    b"application/json",
    b"application/x-www-form-urlencoded",
    b"text/plain; charset=utf-8",
    b"text/plain; charset=\xff\xfe",
    b"multipart/form-data; boundary=",
    b'multipart/form-data; boundary="\x80"',
    b"application/octet-stream",
    b"application/xml",
    b";;;",
    b"",
    b"*/*",
)
CONTENT_ENCODINGS = (b"gzip", b"br", b"deflate", b"identity", b"gzip, gzip", b"zstd")
LAST_EVENT_IDS = (
    b"0-0",
    b"1-",
    b"-1",
    b"-1--1",
    b"1-2-3",
    b"0x10-0",
    b"1e3-0",
    b"99999999999999999999-99999999999999999999",
    b"999999999999999999999-0",
    b"18446744073709551616-0",
    b"\xd9\xa3-\xd9\xa3",
    b"\xff",
    b"  1-1  ",
    b"1796300000000-0",
)
# Headers that only mean something together: a protocol switch, the smee.io wire.
HEADER_BUNDLES: tuple[tuple[tuple[bytes, bytes], ...], ...] = (
    (),
    (),
    (),
    ((b"Accept", b"text/event-stream"),),
    (
        (b"Connection", b"Upgrade"),
        (b"Upgrade", b"websocket"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Version", b"13"),
    ),
    (
        (b"Connection", b"Upgrade, HTTP2-Settings"),
        (b"Upgrade", b"h2c"),
        (b"HTTP2-Settings", b"AAMAAABkAARAAAAAAAIAAAAA"),
    ),
)
PATH_WORDS = (
    "..",
    ".",
    "",
    "new",
    "events",
    "replay",
    "version",
    "health",
    "livez",
    "favicon.ico",
    "%2e%2e",
    "%2F",
    "%00",
    "%",
    "%zz",
    "*",
)


@dataclass(frozen=True)
class FuzzRequest:
    """One hostile request and the way it is sent."""

    method: bytes
    target: bytes
    version: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    chunked: bool
    chunk_size: int
    # Carry a valid X-Hub-Signature-256 for SECRET, to get past a guarded server.
    signed: bool
    # Hang up right after sending, without reading the answer.
    abandon: bool

    def head(self) -> bytes:
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.headers]
        if self.signed:
            digest = hmac.new(SECRET.encode(), self.body, hashlib.sha256).hexdigest()
            lines.append(b"X-Hub-Signature-256: sha256=" + digest.encode())
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
        elif self.body or self.method.upper() in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def wire(self) -> bytes:
        if not self.chunked:
            return self.head() + self.body
        size = self.chunk_size
        pieces = [self.body[i : i + size] for i in range(0, len(self.body), size)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
        return self.head() + chunks + b"0\r\n\r\n"

    def header_values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.strip().lower() == name.lower()]

    @property
    def well_formed(self) -> bool:
        """Whether an HTTP/1.1 server has to take this as one valid request."""
        host_ok = self.version == b"HTTP/1.0" or bool(self.header_values(b"host"))
        return (
            _TOKEN.fullmatch(self.method) is not None
            and _TARGET.fullmatch(self.target) is not None
            and all(_TOKEN.fullmatch(name) for name, _ in self.headers)
            and all(_VALUE.fullmatch(value) for _, value in self.headers)
            and host_ok
        )

    @property
    def oversized(self) -> bool:
        return len(self.head()) > HEAD_LIMIT

    @property
    def upgrades(self) -> bool:
        return bool(self.header_values(b"upgrade"))

    @property
    def keeps_alive(self) -> bool:
        """Whether the connection may carry another request after this one."""
        closing = any(b"close" in v.lower() for v in self.header_values(b"connection"))
        return self.version == b"HTTP/1.1" and not closing and not self.upgrades


def _token(size: int) -> st.SearchStrategy[bytes]:
    return st.text(_TCHAR, min_size=1, max_size=size).map(str.encode)


def _channels(low: int = 12, high: int = 64) -> st.SearchStrategy[bytes]:
    pattern = rf"[A-Za-z0-9_-]{{{low},{high}}}"
    return st.from_regex(pattern, fullmatch=True).map(str.encode)


def methods(*, hostile: bool) -> st.SearchStrategy[bytes]:
    known = st.sampled_from(KNOWN_METHODS)
    common = st.one_of(st.just(b"POST"), st.just(b"GET"), known.map(str.encode))
    odd = st.one_of(
        known.map(lambda m: m.lower().encode()),
        known.map(lambda m: m.capitalize().encode()),
        st.sampled_from([b"CONNECT", b"TRACE", b"PRI", b"M-SEARCH", b"PROPFIND"]),
        _token(16),
    )
    if hostile:
        return st.one_of(common, odd, st.binary(min_size=1, max_size=8))
    return st.one_of(common, common, odd)


def _segments(*, hostile: bool) -> st.SearchStrategy[bytes]:
    segments = [
        _channels(),
        _channels(0, 11),
        _channels(65, 200),
        st.sampled_from(PATH_WORDS).map(str.encode),
        # A channel with a few letters percent-encoded: decodes to a valid channel.
        _channels().map(lambda c: quote_from_bytes(c[:3], safe="").encode() + c),
        st.text(max_size=20).map(lambda t: quote(t, safe="").encode()),
    ]
    if hostile:
        segments.append(
            st.text(max_size=12).map(lambda t: t.encode("utf-8", "replace"))
        )
    return st.one_of(segments)


def _queries(*, hostile: bool) -> st.SearchStrategy[bytes]:
    queries = [
        st.just(b""),
        st.binary(max_size=48).map(lambda b: b"?" + quote_from_bytes(b, "=&").encode()),
    ]
    if hostile:
        queries.append(st.binary(max_size=16).map(lambda b: b"?" + b))
    return st.one_of(queries)


def targets(*, hostile: bool) -> st.SearchStrategy[bytes]:
    routed = st.one_of(
        _channels().map(lambda c: b"/" + c),
        _channels().map(lambda c: b"/events/" + c),
        _channels().map(lambda c: b"/replay/" + c),
        st.sampled_from([b"/", b"/new", b"/version", b"/health", b"/favicon.ico"]),
    )
    prefix = st.sampled_from(
        [b"/", b"/events/", b"/replay/", b"//", b"/events//", b"", b"http://h/"]
    )
    odd = st.tuples(prefix, st.lists(_segments(hostile=hostile), max_size=3)).map(
        lambda parts: parts[0] + b"/".join(parts[1])
    )
    path = st.one_of(routed, routed, odd, st.sampled_from([b"*", b"/events/"]))
    whole = st.tuples(path, _queries(hostile=hostile)).map(lambda p: p[0] + p[1])
    return whole.filter(_spares_marker)


def _spares_marker(target: bytes) -> bool:
    return MARKER_CHANNEL.encode() not in unquote_to_bytes(target)


def _values(*, hostile: bool) -> st.SearchStrategy[bytes]:
    latin1 = st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"
    )
    values = [
        st.text(latin1, max_size=64).map(lambda t: t.encode("latin-1")),
        st.sampled_from(CONTENT_TYPES + CONTENT_ENCODINGS + LAST_EVENT_IDS),
        st.from_regex(r"(sha1=|sha256=)?[0-9a-fA-F]{0,70}", fullmatch=True).map(
            str.encode
        ),
        st.sampled_from([b"close", b"keep-alive", b"upgrade", b"h2c", b"websocket"]),
        st.sampled_from([b"text/event-stream", b"text/html", b"*/*"]),
        st.sampled_from([b"100-continue", b"Bearer ", b"Bearer x", b"unknown"]),
        st.sampled_from([b"1.2.3.4, 5.6.7.8", b"::1", b"fe80::1%eth0", b"[::1]:80"]),
        # Large values: a few KiB each, so that several overflow the 16 KiB head.
        st.tuples(st.integers(1024, 8192), st.sampled_from(b"av\xff ")).map(
            lambda a: bytes([a[1]]) * a[0]
        ),
    ]
    if hostile:
        values.append(st.binary(max_size=48))
    return st.one_of(values)


def headers(*, hostile: bool) -> st.SearchStrategy[tuple[bytes, bytes]]:
    notable = st.sampled_from(NOTABLE_HEADERS)
    names = [notable.map(str.encode), notable.map(lambda n: n.upper().encode())]
    names.append(_token(40))
    if hostile:
        names.append(st.binary(min_size=1, max_size=16))
    name = st.one_of(names).filter(lambda n: n.strip().lower() not in _FRAMING)
    lei = st.from_regex(r"-?[0-9]{0,25}-?[0-9]{0,25}", fullmatch=True).map(str.encode)
    typed = st.one_of(
        st.tuples(st.just(b"Content-Type"), st.sampled_from(CONTENT_TYPES)),
        st.tuples(st.just(b"Content-Encoding"), st.sampled_from(CONTENT_ENCODINGS)),
        st.tuples(st.just(b"Last-Event-ID"), st.sampled_from(LAST_EVENT_IDS)),
        st.tuples(st.just(b"Last-Event-ID"), lei),
    )
    return st.one_of(typed, st.tuples(name, _values(hostile=hostile)))


def bodies() -> st.SearchStrategy[bytes]:
    # Big bodies come from a seeded generator: hypothesis's own byte strings are
    # capped well below 64 KiB, and a seed keeps each example reproducible.
    big = st.tuples(st.integers(0, 64 * 1024), st.integers(0, 2**32)).map(
        lambda a: random.Random(a[1]).randbytes(a[0])
    )
    return st.one_of(st.just(b""), st.binary(max_size=512), big)


def _one_in(n: int) -> st.SearchStrategy[bool]:
    # Not integers(0, n - 1) == 0: hypothesis favours bounds, so that is often true.
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def fuzz_requests(draw: st.DrawFn) -> FuzzRequest:
    """A request; one in three may hold bytes no HTTP/1.1 request may hold."""
    hostile = draw(_one_in(3))
    version = draw(st.sampled_from([b"HTTP/1.1"] * 5 + [b"HTTP/1.0"]))
    hosts = st.sampled_from([b"127.0.0.1", b"fuzz", b"a\xffb", b""])
    host = [] if draw(_one_in(10)) else [(b"Host", draw(hosts))]
    bundle = list(draw(st.sampled_from(HEADER_BUNDLES)))
    drawn: list[tuple[bytes, bytes]] = bundle + draw(
        st.lists(headers(hostile=hostile), max_size=8)
    )
    # A header given twice with different values.
    twice = draw(st.booleans())
    if drawn and twice:
        drawn.append((drawn[0][0], draw(_values(hostile=hostile))))
    return FuzzRequest(
        method=draw(methods(hostile=hostile)),
        target=draw(targets(hostile=hostile)),
        version=version,
        headers=tuple(draw(st.permutations(host + drawn))),
        body=draw(bodies()),
        chunked=version == b"HTTP/1.1" and draw(st.booleans()),
        chunk_size=draw(st.integers(1, 16 * 1024)),
        signed=draw(st.booleans()),
        abandon=draw(_one_in(20)),
    )


# Whole requests to mutate: the mutation fuzz starts from these and breaks them.
TEMPLATES = (
    b"GET /version HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"POST /fuzz-channel-00001 HTTP/1.1\r\nHost: fuzz\r\nContent-Type: "
    b'application/json\r\nContent-Length: 11\r\n\r\n{"a": true}',
    b"POST /fuzz-channel-00001 HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /events/fuzz-channel-00001 HTTP/1.1\r\nHost: fuzz\r\nLast-Event-ID: 0-0"
    b"\r\n\r\n",
    b"GET /fuzz-channel-00001 HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"OPTIONS /new HTTP/1.1\r\nHost: fuzz\r\n\r\n",
)


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A template request with a few bytes inserted, deleted or replaced."""
    data = bytearray(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 4))
        insert = draw(
            st.one_of(
                st.binary(max_size=4),
                st.sampled_from(
                    [b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"0", b"-1", b"zz"]
                ),
                st.sampled_from(
                    [b"\r\nContent-Length: 3", b"\r\nTransfer-Encoding: x"]
                ),
            )
        )
        data[at : at + cut] = insert
    return bytes(data)
