"""Load generators on raw Trio sockets: keep-alive posters and SSE subscribers.

Both speak just enough HTTP/1.1 by hand that the bench process, not the server, is
never the slow side: requests are pre-built bytes, responses are framed by
Content-Length, and the SSE stream is de-chunked and scanned with ``bytes.count``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

HOST = "127.0.0.1"
# Big reads keep per-call overhead low; a 25 MiB event arrives in ~130 of them.
RECEIVE_SIZE = 256 * 1024
# A response head larger than this is not one our server sends.
MAX_HEAD = 64 * 1024
# Bodies up to this size go out in the same send as the head: one syscall, and no
# copy worth avoiding.
COALESCE_BELOW = 64 * 1024

EVENT_MARK = b"\nid: "  # every event frame has an id line, control frames do not
GAP_MARK = b"\nevent: gosmee-gap"
READY_MARK = b'data: {"message":"ready"}'

FrameHandler = Callable[[bytes, int], None]


class _Reader:
    """Buffered reads from a stream: up to a separator, or an exact count."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def read_until(self, separator: bytes) -> bytes:
        while (end := self.buffer.find(separator)) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise RuntimeError(f"expected {separator!r} within {MAX_HEAD} bytes")
            await self._fill()
        data = bytes(self.buffer[: end + len(separator)])
        del self.buffer[: end + len(separator)]
        return data

    async def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _fill(self) -> None:
        data = await self.stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise EOFError("server closed the connection")
        self.buffer += data


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


class Poster:
    """POSTs webhooks to one channel over a keep-alive connection.

    Hypercorn answers the 1000th request on a connection with ``Connection: close``;
    the poster then reconnects before its next request.
    """

    def __init__(self, port: int, channel: str) -> None:
        self._port = port
        self._head = (
            f"POST /{channel} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
        ).encode()
        self._reader: _Reader | None = None
        self.connections = 0

    async def post(self, body: bytes) -> int:
        """Send one webhook and return the response status."""
        request = self._head + b"Content-Length: %d\r\n\r\n" % len(body)
        reused = self._reader is not None
        try:
            return await self._exchange(request, body)
        except (EOFError, trio.BrokenResourceError):
            if not reused:
                raise
        # NOTE: hypercorn closes keep-alive connections idle for 5 s; a reused one may
        # be gone before any reply, so retry once on a fresh connection.
        return await self._exchange(request, body)

    async def _exchange(self, request: bytes, body: bytes) -> int:
        if self._reader is None:
            stream = await trio.open_tcp_stream(HOST, self._port)
            self._reader = _Reader(stream)
            self.connections += 1
        reader = self._reader
        parts = [request + body] if len(body) < COALESCE_BELOW else [request, body]
        try:
            for part in parts:
                await reader.stream.send_all(part)
            status, headers = _parse_head(await reader.read_until(b"\r\n\r\n"))
            await reader.read_exact(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        """Drop the connection; sync, so it is safe while cancelled."""
        if self._reader is not None:
            self._reader.stream.socket.close()
            self._reader = None


class _Dechunker:
    """Incremental decoder for ``Transfer-Encoding: chunked``."""

    def __init__(self) -> None:
        self._line = b""
        self._left = 0  # data bytes left in the current chunk
        self._skip = 0  # CR LF bytes left after the current chunk
        self.finished = False

    def feed(self, data: bytes) -> list[bytes]:
        pieces: list[bytes] = []
        pos, size = 0, len(data)
        while pos < size and not self.finished:
            if self._left:
                take = min(self._left, size - pos)
                pieces.append(data[pos : pos + take])
                pos += take
                self._left -= take
                self._skip = 0 if self._left else 2
            elif self._skip:
                take = min(self._skip, size - pos)
                pos += take
                self._skip -= take
            else:
                pos = self._read_size_line(data, pos)
        return pieces

    def _read_size_line(self, data: bytes, pos: int) -> int:
        end = data.find(b"\n", pos)
        if end < 0:
            self._line += data[pos:]
            return len(data)
        line, self._line = self._line + data[pos:end], b""
        self._left = int(line.split(b";")[0].strip(), 16)
        self.finished = self._left == 0
        return end + 1


class _Counter:
    """Counts a pattern across piece boundaries without double counting."""

    def __init__(self, pattern: bytes) -> None:
        self._pattern = pattern
        self._keep = len(pattern) - 1
        self._tail = b""
        self.count = 0

    def feed(self, piece: bytes) -> None:
        data = self._tail + piece
        self.count += data.count(self._pattern)
        self._tail = data[-self._keep :]


class SseSubscriber:
    """Reads ``GET /events/{channel}`` and counts event frames as they arrive.

    ``finished`` is set, and ``finished_ns`` stamped, once ``expect`` events arrived
    or the server announced a gap (events were lost, so the count can never be met).
    With ``on_frame`` every whole frame is also handed over with its arrival time.
    """

    def __init__(
        self,
        port: int,
        channel: str,
        *,
        expect: int = 0,
        on_frame: FrameHandler | None = None,
    ) -> None:
        self._port = port
        self._channel = channel
        self._on_frame = on_frame
        self._frames = bytearray()
        self._events = _Counter(EVENT_MARK)
        self._gaps = _Counter(GAP_MARK)
        self.expect = expect
        self.finished = trio.Event()
        self.finished_ns = 0

    @property
    def events(self) -> int:
        return self._events.count

    @property
    def gaps(self) -> int:
        return self._gaps.count

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, start once ``ready`` arrived, then count until cancelled."""
        stream = await trio.open_tcp_stream(HOST, self._port)
        async with stream:
            reader = _Reader(stream)
            await stream.send_all(
                f"GET /events/{self._channel} HTTP/1.1\r\nHost: {HOST}:{self._port}"
                "\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            status, headers = _parse_head(await reader.read_until(b"\r\n\r\n"))
            if status != 200 or headers.get("transfer-encoding") != "chunked":
                raise RuntimeError(f"expected a chunked 200 SSE reply, got {status}")
            dechunker = _Dechunker()
            await self._wait_ready(reader, dechunker)
            task_status.started()
            while not dechunker.finished:
                data = await stream.receive_some(RECEIVE_SIZE)
                if not data:
                    raise EOFError("server ended the SSE stream")
                self._consume(dechunker.feed(data))

    async def _wait_ready(self, reader: _Reader, dechunker: _Dechunker) -> None:
        seen = b""
        data = bytes(reader.buffer)
        while True:
            for piece in dechunker.feed(data):
                seen += piece
            if (end := seen.find(READY_MARK)) >= 0:
                self._consume([seen[end + len(READY_MARK) :]])
                return
            data = await reader.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise EOFError("server ended the SSE stream before ready")

    def _consume(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self._events.feed(piece)
            self._gaps.feed(piece)
            if self._on_frame is not None:
                self._split_frames(piece)
        done = self.expect and self._events.count >= self.expect
        if (done or self._gaps.count) and not self.finished.is_set():
            self.finished_ns = time.perf_counter_ns()
            self.finished.set()

    def _split_frames(self, piece: bytes) -> None:
        assert self._on_frame is not None
        now = time.perf_counter_ns()
        self._frames += piece
        while (end := self._frames.find(b"\n\n")) >= 0:
            frame = bytes(self._frames[:end])
            del self._frames[: end + 2]
            self._on_frame(frame, now)
