"""Abuse-test helpers: a raw HTTP/1.1 client, a strict response reader, a log check.

httpx refuses to send most of what these tests are about (odd methods, bytes that a
header may not hold, conflicting framing), so requests are written to a loopback socket
exactly as given. Responses are framed the way RFC 9112 §6.3 tells a client to, with
no leniency: a response that stops before its declared end is reported as truncated.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
import trio
import trio.testing

# What one receive asks for; the server's own reads are 64 KiB too.
RECEIVE_BYTES = 64 * 1024


class NoAnswer(enum.Enum):
    """How a connection ended when no (further) complete response arrived."""

    CLOSED = "closed cleanly"
    RESET = "reset by the server"
    TRUNCATED = "closed in the middle of a response"


@dataclass(frozen=True)
class Answer:
    """One response: status, headers in order, and the body read so far."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # An event stream: its head was read, its endless body was not.
    streaming: bool = False

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def closes(self) -> bool:
        """Whether the server said it closes the connection after this response."""
        value = self.header(b"connection") or b""
        return b"close" in value.lower()


def request_bytes(
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """One request, byte for byte; framing headers are the caller's business."""
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def get(target: bytes, *extra: tuple[bytes, bytes]) -> bytes:
    return request_bytes(b"GET", target, [(b"Host", b"fuzz"), *extra])


def post(target: bytes, body: bytes, *extra: tuple[bytes, bytes]) -> bytes:
    length = str(len(body)).encode()
    headers = [(b"Host", b"fuzz"), (b"Content-Length", length), *extra]
    return request_bytes(b"POST", target, headers, body)


class ResponseReader:
    """Reads successive responses from one connection."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        # The head of a response whose body never came in full, if one did not.
        self.cut_short: Answer | None = None

    async def next_answer(self, method: bytes) -> Answer | NoAnswer:
        """The next final response to a request made with ``method``.

        Interim 1xx responses are skipped, except 101, which ends HTTP/1.1 on the
        connection. An event stream's body is not read.
        """
        try:
            while True:
                answer = await self._read_answer(method)
                if not isinstance(answer, Answer) or not 100 <= answer.status < 200:
                    return answer
                if answer.status == 101:
                    return answer
        except trio.BrokenResourceError:
            return NoAnswer.RESET

    async def answers_until_end(
        self, method: bytes, limit: int
    ) -> tuple[list[Answer], NoAnswer | None]:
        """Every response up to the end of the connection (or a stream, or 101)."""
        answers: list[Answer] = []
        while len(answers) < limit:
            answer = await self.next_answer(method)
            if not isinstance(answer, Answer):
                return answers, answer
            answers.append(answer)
            if answer.streaming or answer.status == 101:
                break
        return answers, None

    async def _read_answer(self, method: bytes) -> Answer | NoAnswer:
        head = await self._read_until(b"\r\n\r\n")
        if head is None:
            return NoAnswer.TRUNCATED if self._buffer else NoAnswer.CLOSED
        status, headers = _parse_head(head)
        answer = Answer(status, headers, b"")
        if method == b"HEAD" or status < 200 or status in (204, 304):
            return answer
        if (answer.header(b"content-type") or b"").startswith(b"text/event-stream"):
            return Answer(status, headers, b"", streaming=True)
        body = await self._read_body(answer)
        if body is None:
            self.cut_short = answer
            return NoAnswer.TRUNCATED
        return Answer(status, headers, body)

    async def _read_body(self, answer: Answer) -> bytes | None:
        encoding = (answer.header(b"transfer-encoding") or b"").lower()
        if b"chunked" in encoding:
            return await self._read_chunked()
        length = answer.header(b"content-length")
        if length is not None:
            return await self._read_exact(int(length))
        return await self._read_to_end()

    async def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            line = await self._read_until(b"\r\n")
            if line is None:
                return None
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            chunk = await self._read_exact(size + 2)
            if chunk is None:
                return None
            chunks.append(chunk[:-2])
        while (trailer := await self._read_until(b"\r\n")) not in (b"", None):
            pass
        return None if trailer is None else b"".join(chunks)

    async def _fill(self) -> bool:
        data = await self._stream.receive_some(RECEIVE_BYTES)
        self._buffer += data
        return bool(data)

    async def _read_until(self, marker: bytes) -> bytes | None:
        while (end := self._buffer.find(marker)) < 0:
            if not await self._fill():
                return None
        found = bytes(self._buffer[:end])
        del self._buffer[: end + len(marker)]
        return found

    async def _read_exact(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            if not await self._fill():
                return None
        found = bytes(self._buffer[:size])
        del self._buffer[:size]
        return found

    async def _read_to_end(self) -> bytes:
        while await self._fill():
            pass
        found = bytes(self._buffer)
        self._buffer.clear()
        return found


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status_line, *lines = head.split(b"\r\n")
    version, status, *_ = status_line.split(b" ", 2)
    assert version.startswith(b"HTTP/1."), f"not an HTTP/1 status line: {head!r}"
    headers = []
    for line in lines:
        name, sep, value = line.partition(b":")
        assert sep, f"malformed response header line {line!r} in {head!r}"
        headers.append((name.strip(), value.strip()))
    return int(status), headers


async def send_quietly(stream: trio.abc.SendStream, data: bytes) -> bool:
    """Send ``data``; False when the server hung up first (it may, after answering)."""
    try:
        await stream.send_all(data)
    except trio.BrokenResourceError:
        return False
    return True


async def exchange(
    stream: trio.SocketStream, reader: ResponseReader, data: bytes, method: bytes
) -> Answer | NoAnswer:
    """Send one request and read its answer, the two at once.

    The server may answer (and hang up) before it has read the whole request; sending
    alongside reading means that answer is seen. After an ordinary answer the rest of
    the request is still sent, so that the connection stays in step for another one.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_quietly, stream, data)
        answer = await reader.next_answer(method)
        if not isinstance(answer, Answer) or answer.streaming or answer.status == 101:
            nursery.cancel_scope.cancel()
    return answer


async def open_connection(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


async def one_exchange(port: int, data: bytes, method: bytes) -> Answer | NoAnswer:
    """A fresh connection, one request, its answer; the connection is then closed."""
    stream = await open_connection(port)
    async with stream:
        return await exchange(stream, ResponseReader(stream), data, method)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _server_errors(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


async def assert_server_calm(caplog: pytest.LogCaptureFixture, since: int = 0) -> None:
    """Once every task is idle, the server must have logged no ERROR, no traceback.

    Waiting for all tasks to block lets the server finish with the connections a test
    used, so what it logs about them is in ``caplog`` before the check.
    """
    await trio.testing.wait_all_tasks_blocked()
    errors = _server_errors(caplog.records[since:])
    assert not errors, "server logged errors:\n" + "\n".join(errors)
