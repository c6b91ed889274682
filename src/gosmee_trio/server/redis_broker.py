"""Events kept in Redis Streams, shared by every server process on one Redis.

Compatible with upstream gosmee, so both can share a Redis: channel ``c`` is the
stream ``gosmee:stream:c``; each entry has one field, ``payload``, holding the relay
message JSON; Redis assigns the ids (``<ms>-<seq>``), which are the SSE ids every
replica hands out, so a client may resume on any replica.

Publishing is one ``XADD`` (trimmed approximately to ``--redis-stream-maxlen``); the
new event reaches subscribers, on this process as on every other, through the reader.
Each process runs one reader task: a single blocking ``XREAD`` over the streams of
every channel with a local subscriber, whose entries fan out to the subscribers'
memory channels. Subscribers never block on Redis themselves; they only read it to
catch up (``redis_stream.RedisSubscriber``).

If Redis goes away, publishing answers 500, open streams end (clients reconnect with
their last id and resume once it is back), the reader retries and ``problem`` says
what is wrong for ``/health``; the server keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import coredis
import trio
from coredis.exceptions import RedisError
from coredis.tokens import PureToken

from gosmee_trio.config import redact_password
from gosmee_trio.errors import first_leaf
from gosmee_trio.events import (
    RelayEvent,
    StreamId,
    format_stream_id,
)
from gosmee_trio.server import redis_queries as queries
from gosmee_trio.server.brokerapi import (
    BrokerStatistics,
    BrokerUnavailable,
    gap_frame,
)
from gosmee_trio.server.redis_client import CLIENT_NAME, new_client
from gosmee_trio.server.redis_entries import (
    COMMAND_TIMEOUT,
    REDIS_ERRORS,
    Stored,
    describe,
    stream_key,
    text_of,
)
from gosmee_trio.server.redis_reader import read_forever
from gosmee_trio.server.redis_stream import RedisSubscriber
from gosmee_trio.wire import build_message_pieces

log = logging.getLogger(__name__)

# Seconds /health waits for Redis to answer a PING before it reports it down.
HEALTH_TIMEOUT = 2.0
# coredis logs each connection retry, and each failed connection with a traceback;
# every such failure reaches us as an exception, which our own one-line messages
# report (start-up error, "lost Redis", 500 answers), so its logs would only repeat
# them at length.
logging.getLogger("coredis").setLevel(logging.CRITICAL)


@dataclass
class ChannelReader:
    """The reader's view of one channel: its position and local subscribers."""

    cursor: StreamId
    subscribers: set[RedisSubscriber] = field(default_factory=set)


class RedisBroker:
    """Redis Streams storage with local fan-out; see the module docstring."""

    def __init__(self, url: str, maxlen: int, *, subscriber_buffer: int = 100) -> None:
        self.url = url
        self.maxlen = maxlen
        self.subscriber_buffer = subscriber_buffer
        self.channels: dict[str, ChannelReader] = {}
        self._client: coredis.Redis[bytes] | None = None
        self._closed = False
        self._problem = ""
        # Set when the set of channels to read changes; the reader then re-issues
        # its XREAD (cancelling the one in flight) with the new set.
        self.changed = trio.Event()
        self.read_scope: trio.CancelScope | None = None
        self.published = 0
        self.delivered = 0
        self._lag_events = 0
        self._gaps = 0

    # -- lifecycle -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Connect, check Redis answers, report started, then run the reader.

        Raises:
            BrokerUnavailable: Redis did not answer at start-up.
        """
        where = redact_password(self.url)
        try:
            client = self.new_client()
        except (ValueError, KeyError, RedisError, OSError) as exc:
            # OSError: a TLS file named in the URL could not be read after all;
            # KeyError: an option value coredis has no entry for.
            raise BrokerUnavailable(f"invalid --redis-url {where}: {exc}") from None
        try:
            async with client:
                with trio.fail_after(COMMAND_TIMEOUT):
                    await client.ping()
                self._client = client
                log.info("connected to Redis", extra={"url": where})
                task_status.started()
                await read_forever(self)
        except* REDIS_ERRORS as group:
            if self._client is not None:
                raise  # after start-up the reader handles its own errors
            first = first_leaf(group)
            raise BrokerUnavailable(
                f"cannot reach Redis at {where}: {describe(first)}"
            ) from None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def problem(self) -> str:
        return self._problem

    def close(self) -> None:
        self._closed = True
        self.end_all_streams()

    def end_all_streams(self) -> None:
        for reader in self.channels.values():
            for subscriber in reader.subscribers:
                subscriber.end()
        self.channels.clear()

    def set_problem(self, problem: str) -> None:
        self._problem = problem

    async def check(self) -> str:
        """The reader's ``problem``, or else whether Redis answers a PING now: the
        reader only notices a failure when it is reading, and a process with no
        open stream does not read."""
        if self._problem:
            return self._problem
        try:
            with trio.fail_after(HEALTH_TIMEOUT):
                await self.ping()
        except (*REDIS_ERRORS, BrokerUnavailable) as exc:
            return f"redis unavailable: {describe(exc, HEALTH_TIMEOUT)}"
        return ""

    async def ping(self) -> None:
        """PING on the shared client (which reconnects by itself).

        Raises:
            RedisError, OSError: Redis did not answer.
        """
        await self._redis.ping()

    def new_client(self, name: str = CLIENT_NAME) -> coredis.Redis[bytes]:
        """See ``redis_client.new_client``."""
        return new_client(self.url, name)

    # -- publishing ------------------------------------------------------------

    async def publish_webhook(
        self,
        channel: str,
        raw_headers: Sequence[tuple[bytes, bytes]],
        query_string: bytes,
        body_chunks: list[bytes],
        timestamp_ms: int,
    ) -> Stored:
        message = build_message_pieces(
            raw_headers, query_string, body_chunks, timestamp_ms
        )
        payload = b"".join(message.pieces)
        message.pieces.clear()
        try:
            with trio.fail_after(COMMAND_TIMEOUT):
                raw_id = await self._xadd(channel, payload)
        except REDIS_ERRORS as exc:
            raise BrokerUnavailable(
                f"publish event: write to redis stream: {describe(exc)}"
            ) from None
        self.published += 1
        return Stored(
            stream_id_text=text_of(raw_id or b""),
            delivery_id=message.delivery_id,
            event_type=message.event_type,
            body_size=message.body_size,
        )

    async def _xadd(self, channel: str, payload: bytes) -> bytes | None:
        if self.maxlen <= 0:
            return await self._redis.xadd(stream_key(channel), {b"payload": payload})
        return await self._redis.xadd(
            stream_key(channel),
            {b"payload": payload},
            trim_strategy=PureToken.MAXLEN,
            threshold=self.maxlen,
            trim_operator=PureToken.APPROXIMATELY,
        )

    # -- subscribing -----------------------------------------------------------

    @asynccontextmanager
    async def open_stream(
        self, channel: str, cursor: StreamId | None
    ) -> AsyncIterator[RedisSubscriber]:
        if self._closed:
            raise trio.ClosedResourceError("broker is closed")
        if channel not in self.channels:
            # Where the reader starts for this channel: every entry after it reaches
            # local subscribers; the range reads below cover everything before it.
            self._activate(channel, await self._newest(channel, "tail"))
        reader = self.channels[channel]
        if cursor is None:
            cursor = reader.cursor
        subscriber = RedisSubscriber(self, channel, cursor)
        reader.subscribers.add(subscriber)
        try:
            # The first page before any response header: a Redis failure here is
            # still a clean 500 (the message already says what was being read).
            await subscriber.catch_up()
            yield subscriber
        finally:
            reader.subscribers.discard(subscriber)
            if not reader.subscribers and self.channels.get(channel) is reader:
                del self.channels[channel]
            subscriber.end()

    def _activate(self, channel: str, cursor: StreamId) -> None:
        if channel in self.channels:  # another subscriber got here during the await
            return
        self.channels[channel] = ChannelReader(cursor)
        self.changed.set()
        if self.read_scope is not None:
            self.read_scope.cancel()

    async def _newest(self, channel: str, what: str) -> StreamId:
        return await queries.newest(self._redis, channel, what)

    async def stream_head(self, channel: str) -> queries.StreamHead:
        """See ``redis_queries.stream_head``."""
        return await queries.stream_head(self._redis, channel)

    async def read_after(
        self, channel: str, cursor: StreamId | None, count: int
    ) -> list[RelayEvent]:
        """See ``redis_queries.read_after``."""
        return await queries.read_after(self._redis, channel, cursor, count)

    async def drop_unreadable_channels(self) -> int:
        """End the streams of channels whose key holds something other than a
        stream (written by someone else); how many channels that was."""
        found = await queries.not_streams(self._redis, list(self.channels))
        for name, kind in found:
            log.warning(
                "Redis key %s holds a %s, not a stream; this channel's streams end",
                text_of(stream_key(name)),
                kind,
                extra={"channel": name},
            )
            for subscriber in self.channels.pop(name).subscribers:
                subscriber.end()
        return len(found)

    # -- bookkeeping -----------------------------------------------------------

    def note_lag(self, subscriber: RedisSubscriber) -> None:
        self._lag_events += 1
        log.warning(
            "subscriber lagging; it will catch up from Redis",
            extra={
                "channel": subscriber.channel,
                "queue_depth": subscriber.queue_depth,
            },
        )

    def gap(self, subscriber: RedisSubscriber, oldest: StreamId | None) -> bytes:
        self._gaps += 1
        log.warning(
            "Redis no longer holds the subscriber's cursor; sending a gap",
            extra={
                "channel": subscriber.channel,
                "stream_id": format_stream_id(subscriber.cursor),
            },
        )
        return gap_frame(subscriber.cursor, oldest)

    def statistics(self) -> BrokerStatistics:
        return BrokerStatistics(
            channels=len(self.channels),
            subscribers={
                name: len(reader.subscribers)
                for name, reader in self.channels.items()
                if reader.subscribers
            },
            lagging=sum(
                sub.lagging
                for reader in self.channels.values()
                for sub in reader.subscribers
            ),
            lag_events=self._lag_events,
            gaps=self._gaps,
            published=self.published,
            delivered=self.delivered,
            history_bytes=0,
        )

    @property
    def _redis(self) -> coredis.Redis[bytes]:
        if self._client is None:
            raise BrokerUnavailable("not connected to Redis")
        return self._client
