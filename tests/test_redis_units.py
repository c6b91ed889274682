"""Redis mode's pure parts and its subscriber's catch-up, without a server."""

from __future__ import annotations

import logging
import re

import pytest
import trio

from gosmee_trio.config import ServerConfig, redact_password
from gosmee_trio.errors import ConfigError
from gosmee_trio.events import RelayEvent, StreamId, format_stream_id
from gosmee_trio.server.brokerapi import BrokerUnavailable
from gosmee_trio.server.redis_client import _checking_hostname
from gosmee_trio.server.redis_entries import channel_of, event_of, stream_key
from gosmee_trio.server.redis_queries import StreamHead
from gosmee_trio.server.redis_stream import CATCH_UP_PAGE, RedisSubscriber


def test_password_never_shows_in_a_redacted_url() -> None:
    assert redact_password("redis://:s3cret@db:6379/0") == "redis://:***@db:6379/0"
    assert (
        redact_password("unix:///run/r.sock?db=1&password=s3cret")
        == "unix:///run/r.sock?db=1&password=***"
    )
    assert (
        redact_password("rediss://me:s3cret@db?password=s3cret&ssl_ca_certs=/c.pem")
        == "rediss://me:***@db?password=***&ssl_ca_certs=/c.pem"
    )
    assert redact_password("rediss://me:s3cret@db:6380") == "rediss://me:***@db:6380"
    assert redact_password("redis://db:6379") == "redis://db:6379"
    assert (
        redact_password("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"
    )


def test_stream_keys_are_upstreams() -> None:
    assert stream_key("abc-channel-1") == b"gosmee:stream:abc-channel-1"
    assert channel_of(b"gosmee:stream:abc-channel-1") == "abc-channel-1"
    assert channel_of("gosmee:stream:x-y") == "x-y"


def test_an_entry_becomes_one_sse_frame_with_its_redis_id() -> None:
    event = event_of("chan", b"1718000000125-3", {b"payload": b'{"bodyB":""}'})
    assert event is not None
    assert event.stream_id == (1718000000125, 3)
    assert event.frame == b'id: 1718000000125-3\ndata: {"bodyB":""}\n\n'
    assert event.timestamp_ms == 1718000000125


def test_a_payload_with_line_breaks_stays_one_event() -> None:
    event = event_of("chan", "5-0", {"payload": "a\nb"})
    assert event is not None
    assert event.frame == b"id: 5-0\ndata: a\ndata: b\n\n"


def test_an_entry_without_payload_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert event_of("chan", b"5-0", {b"other": b"x"}) is None
    assert "without a payload" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"redis_url": "http://db:6379"}, "--redis-url must start with"),
        ({"redis_stream_maxlen": -1}, "--redis-stream-maxlen must be 0"),
    ],
)
def test_redis_settings_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**options)  # type: ignore[arg-type]


def _event(seq: int) -> RelayEvent:
    found = event_of("chan", f"10-{seq}", {b"payload": b"{}"})
    assert found is not None
    return found


class FakeRedis:
    """Just enough of RedisBroker for a subscriber: a list as the stream."""

    def __init__(self, stored: int, *, trimmed_below: int = 0) -> None:
        self.subscriber_buffer = 4
        self.entries = [_event(n) for n in range(trimmed_below, stored)]
        self.trimmed = trimmed_below > 0
        self.delivered = 0
        self.lags = 0
        self.fail = False

    async def stream_head(self, channel: str) -> StreamHead:
        if self.fail:
            raise BrokerUnavailable("read redis stream history: gone")
        oldest = self.entries[0].stream_id if self.entries else None
        newest = self.entries[-1].stream_id if self.entries else None
        return StreamHead(oldest, self.trimmed, newest)

    async def read_after(
        self, channel: str, cursor: StreamId | None, count: int
    ) -> list[RelayEvent]:
        after = [e for e in self.entries if cursor is None or e.stream_id > cursor]
        return after[:count]

    def note_lag(self, subscriber: RedisSubscriber) -> None:
        self.lags += 1

    def gap(self, subscriber: RedisSubscriber, oldest: StreamId | None) -> bytes:
        return b"GAP " + (format_stream_id(oldest).encode() if oldest else b"-")

    def add(self, n: int) -> RelayEvent:
        event = _event(n)
        self.entries.append(event)
        return event


def _subscriber(fake: FakeRedis, cursor: StreamId) -> RedisSubscriber:
    return RedisSubscriber(fake, "chan", cursor)  # type: ignore[arg-type]


def _ids(items: list[RelayEvent | bytes]) -> list[int | bytes]:
    return [i if isinstance(i, bytes) else i.stream_id[1] for i in items]


async def test_overflow_loses_nothing_and_repeats_nothing() -> None:
    fake = FakeRedis(0)
    subscriber = _subscriber(fake, (0, 0))
    await subscriber.catch_up()  # the first page, as open_stream does
    for n in range(12):  # three times the queue: it overflows
        subscriber.offer(fake.add(n))
    assert subscriber.lagging and fake.lags == 1
    got: list[RelayEvent | bytes] = []
    with trio.fail_after(5):
        while len(got) < 12:
            got += await subscriber.receive_batch(1 << 20)
    assert _ids(got) == list(range(12))
    subscriber.offer(fake.add(12))  # back on the queue
    assert _ids(await subscriber.receive_batch(1 << 20)) == [12]
    assert fake.delivered == 13


async def test_catch_up_reads_page_by_page() -> None:
    fake = FakeRedis(CATCH_UP_PAGE + 5)
    subscriber = _subscriber(fake, (0, 0))
    await subscriber.catch_up()
    assert subscriber.lagging  # a full page: there may be more
    got: list[RelayEvent | bytes] = []
    while len(got) < CATCH_UP_PAGE + 5:
        got += await subscriber.receive_batch(1 << 30)
    assert _ids(got) == list(range(CATCH_UP_PAGE + 5))
    assert not subscriber.lagging


async def test_a_cursor_before_trimmed_entries_gets_a_gap_then_the_oldest() -> None:
    fake = FakeRedis(8, trimmed_below=5)
    subscriber = _subscriber(fake, (10, 2))
    await subscriber.catch_up()
    assert _ids(await subscriber.receive_batch(1 << 20)) == [b"GAP 10-5", 5, 6, 7]


async def test_no_gap_when_nothing_was_trimmed() -> None:
    fake = FakeRedis(3)
    subscriber = _subscriber(fake, (0, 0))
    await subscriber.catch_up()
    assert _ids(await subscriber.receive_batch(1 << 20)) == [0, 1, 2]


async def test_redis_failure_during_catch_up_ends_the_stream() -> None:
    fake = FakeRedis(3)
    subscriber = _subscriber(fake, (0, 0))
    fake.fail = True
    with pytest.raises(trio.EndOfChannel):
        await subscriber.receive_batch(1 << 20)


async def test_end_lets_the_queue_drain_then_ends() -> None:
    fake = FakeRedis(0)
    subscriber = _subscriber(fake, (0, 0))
    await subscriber.catch_up()
    subscriber.offer(fake.add(0))
    subscriber.end()
    subscriber.offer(fake.add(1))  # after the end: ignored
    assert _ids(await subscriber.receive_batch(1 << 20)) == [0]
    with pytest.raises(trio.EndOfChannel):
        await subscriber.receive_batch(1 << 20)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://", "must name a host"),
        ("redis://[::1", "is not a valid URL"),
        ("redis://db:0", "must name a port"),
        ("redis://db:6379/abc", "must end with a database number"),
        ("unix://", "must name a socket path"),
        ("http://me:s3cret@db", "got 'http://me:***@db'"),
        ("http://db?password=s3cret", "got 'http://db?password=***'"),
        (
            "rediss://db?ssl_ca_certs=/no/such/ca.pem&password=s3cret",
            "names ssl_ca_certs='/no/such/ca.pem', which is not a readable file",
        ),
        ("rediss://db?ssl_certfile=/", "names ssl_certfile='/', which is not a"),
        ("rediss://db?ssl_cert_reqs=bogus", "has ssl_cert_reqs='bogus'; use none"),
        ("http://db?Password=s3cret", "got 'http://db?Password=***'"),
    ],
)
def test_bad_redis_urls_are_refused_without_their_password(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        ServerConfig(redis_url=url)
    assert "s3cret" not in str(caught.value)


def test_good_redis_urls_pass() -> None:
    for url in (
        "redis://localhost",
        "rediss://me:pw@db.example:6380/2",
        "unix:///run/redis/redis.sock?db=1",
    ):
        assert ServerConfig(redis_url=url).redis_url == url


async def test_a_cursor_older_than_a_fresh_stream_gets_a_gap() -> None:
    # Redis restarted without its data: nothing was trimmed, yet (9, 5) is gone.
    fake = FakeRedis(2)
    subscriber = _subscriber(fake, (9, 5))
    await subscriber.catch_up()
    assert _ids(await subscriber.receive_batch(1 << 20)) == [b"GAP 10-0", 0, 1]


async def test_a_cursor_on_a_stream_that_is_gone_gets_one_gap_then_new_events() -> None:
    fake = FakeRedis(0)
    subscriber = _subscriber(fake, (9, 5))
    await subscriber.catch_up()
    assert _ids(await subscriber.receive_batch(1 << 20)) == [b"GAP -"]
    subscriber.offer(fake.add(0))
    assert _ids(await subscriber.receive_batch(1 << 20)) == [0]


async def test_a_cursor_newer_than_any_id_given_out_gets_a_gap_and_all() -> None:
    # From a Redis that has since lost its data: waiting for it would hide all.
    fake = FakeRedis(2)
    subscriber = _subscriber(fake, (99, 0))
    await subscriber.catch_up()
    assert _ids(await subscriber.receive_batch(1 << 20)) == [b"GAP 10-0", 0, 1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "rediss://db:6380", "rediss://db:6380?ssl_check_hostname=true", id="tls"
        ),
        pytest.param(
            "rediss://db:6380/2?ssl_ca_certs=/ca.pem",
            "rediss://db:6380/2?ssl_ca_certs=/ca.pem&ssl_check_hostname=true",
            id="tls-with-query",
        ),
        pytest.param(
            "rediss://db:6380?ssl_check_hostname=false",
            "rediss://db:6380?ssl_check_hostname=false",
            id="tls-opted-out",
        ),
        pytest.param("redis://db:6379", "redis://db:6379", id="plain"),
        pytest.param("unix:///run/r.sock?db=1", "unix:///run/r.sock?db=1", id="unix"),
    ],
)
def test_tls_urls_check_the_host_name_unless_they_opt_out(
    url: str, expected: str
) -> None:
    assert _checking_hostname(url) == expected
