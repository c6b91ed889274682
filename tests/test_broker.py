from __future__ import annotations

import json

import pytest
import trio

from gosmee_trio.events import RelayEvent, StreamIdGenerator, format_stream_id
from gosmee_trio.server import broker as broker_module
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.subscriber import Subscriber
from gosmee_trio.sse import encode_event

CHANNEL = "channel-aaaaaa"


def _event(broker: Broker, channel: str = CHANNEL, size: int = 10) -> RelayEvent:
    sid = broker.next_stream_id()
    frame = encode_event(b"x" * size, event_id=format_stream_id(sid))
    return RelayEvent(channel, sid, 0, "", "", size, frame)


def _ids(frames: list[bytes]) -> list[str]:
    return [f.split(b"\n", 1)[0].removeprefix(b"id: ").decode() for f in frames]


async def _drain(subscriber: Subscriber, count: int) -> list[bytes]:
    with trio.fail_after(5):
        return [_frame_of(await subscriber.receive()) for _ in range(count)]


def _frame_of(item: RelayEvent | bytes) -> bytes:
    return item if isinstance(item, bytes) else item.frame


async def test_subscriber_receives_only_events_after_its_cursor_in_order() -> None:
    broker = Broker()
    before = _event(broker)
    broker.publish(before)
    with broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as subscriber:
        events = [_event(broker) for _ in range(3)]
        for event in events:
            broker.publish(event)
        frames = await _drain(subscriber, 3)
    assert frames == [e.frame for e in events]


async def test_resume_from_cursor_replays_exactly_the_missed_events() -> None:
    broker = Broker()
    events = [_event(broker) for _ in range(5)]
    for event in events:
        broker.publish(event)
    with broker.subscribe(CHANNEL, events[1].stream_id) as subscriber:
        frames = await _drain(subscriber, 3)
    assert frames == [e.frame for e in events[2:]]


async def test_lagging_subscriber_catches_up_from_history_without_loss_or_duplicates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker(subscriber_buffer=2)
    with broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as subscriber:
        await trio.testing.wait_all_tasks_blocked()
        assert subscriber.lagging  # until its first read catches up
        broker.publish(first := _event(broker))
        assert await _drain(subscriber, 1) == [first.frame]
        events = [_event(broker) for _ in range(10)]
        for event in events:
            broker.publish(event)
        assert subscriber.lagging
        frames = await _drain(subscriber, 10)
        assert not subscriber.lagging
        broker.publish(last := _event(broker))
        frames.append(_frame_of(await subscriber.receive()))
    assert frames == [e.frame for e in events] + [last.frame]
    stats = broker.statistics()
    assert stats.lag_events == 1
    assert stats.gaps == 0
    lag_logs = [r for r in caplog.records if "lagging" in r.getMessage()]
    assert lag_logs[0].levelname == "WARNING"
    assert lag_logs[0].channel == CHANNEL
    assert lag_logs[0].queue_depth == 2


async def test_gap_is_announced_when_history_no_longer_reaches_back() -> None:
    broker = Broker(subscriber_buffer=1, history_events=3)
    with broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as subscriber:
        broker.publish(_event(broker))
        await _drain(subscriber, 1)  # now live, queue of one
        events = [_event(broker) for _ in range(10)]
        for event in events:
            broker.publish(event)
        frames = await _drain(subscriber, 5)
    assert frames[0] == events[0].frame
    gap = frames[1]
    assert gap.startswith(b"event: gosmee-gap\ndata: ")
    detail = json.loads(gap.split(b"data: ", 1)[1])
    assert detail == {
        "error": "missed_history",
        "requested_id": events[0].stream_id_text,
        "oldest_id": events[7].stream_id_text,
    }
    assert frames[2:] == [e.frame for e in events[7:]]
    assert broker.statistics().gaps == 1


async def test_resume_from_before_process_start_is_a_gap() -> None:
    broker = Broker(ids=StreamIdGenerator(lambda: 1000))
    broker.publish(event := _event(broker))
    with broker.subscribe(CHANNEL, (999, 5)) as subscriber:
        frames = await _drain(subscriber, 2)
    assert frames[0].startswith(b"event: gosmee-gap\n")
    assert frames[1] == event.frame


async def test_history_is_bounded_by_bytes_but_keeps_the_newest_event() -> None:
    broker = Broker(history_bytes=100)
    for _ in range(5):
        broker.publish(_event(broker, size=60))
    assert broker.statistics().history_bytes < 200
    broker.publish(_event(broker, size=500))
    assert broker.statistics().history_bytes > 500


async def test_close_ends_every_stream() -> None:
    broker = Broker()
    with broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as subscriber:
        broker.close()
        with pytest.raises(trio.EndOfChannel):
            await subscriber.receive()
    with pytest.raises(trio.ClosedResourceError, match="^broker is closed$"):
        with broker.subscribe(CHANNEL, (0, 0)):
            pass


async def test_unsubscribe_leaves_no_subscriber_and_other_channels_carry_on() -> None:
    broker = Broker()
    with broker.subscribe("other-channel", broker.tail("other-channel")) as other:
        for _ in range(200):
            with broker.subscribe(CHANNEL, broker.tail(CHANNEL)):
                pass
        assert broker.statistics().subscribers == {"other-channel": 1}
        broker.publish(event := _event(broker, channel="other-channel"))
        assert await _drain(other, 1) == [event.frame]
    assert broker.statistics().subscribers == {}


async def test_idle_channels_are_swept_after_ttl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr("gosmee_trio.server.broker.time.monotonic", lambda: now[0])
    broker = Broker(history_ttl=10)
    broker.publish(old := _event(broker, channel="old-channel-x"))
    broker.publish(_event(broker, channel="old-channel-x"))
    now[0] = broker_module.SWEEP_INTERVAL + 20
    broker.publish(_event(broker))
    assert broker.statistics().channels == 1
    with broker.subscribe("old-channel-x", old.stream_id) as subscriber:
        frames = await _drain(subscriber, 1)
    assert frames[0].startswith(b"event: gosmee-gap\n")  # its history is gone: said so


async def test_statistics_count_published_and_delivered() -> None:
    broker = Broker()
    with (
        broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as a,
        broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as b,
    ):
        broker.publish(_event(broker))
        await _drain(a, 1)
        await _drain(b, 1)
        stats = broker.statistics()
    assert (stats.published, stats.delivered, stats.subscribers) == (1, 2, {CHANNEL: 2})


async def test_history_of_all_channels_together_is_bounded() -> None:
    broker = Broker(history_total_bytes=1000)
    start = broker.tail("any")
    for n in range(30):
        broker.publish(_event(broker, channel=f"channel-{n:06d}", size=100))
    stats = broker.statistics()
    assert stats.history_bytes <= 1000
    # the newest channel still has its event; the oldest ones were evicted first
    with broker.subscribe("channel-000029", start) as subscriber:
        frames = await _drain(subscriber, 1)
    assert not frames[0].startswith(b"event: gosmee-gap")
    with broker.subscribe("channel-000000", start) as subscriber:
        frames = await _drain(subscriber, 1)
    assert frames[0].startswith(b"event: gosmee-gap")


async def test_cursor_ahead_of_this_process_gets_a_gap_and_all_history() -> None:
    broker = Broker(ids=StreamIdGenerator(lambda: 1000))
    broker.publish(event := _event(broker))
    with broker.subscribe(CHANNEL, (5000, 0)) as subscriber:
        frames = await _drain(subscriber, 2)
    assert frames[0].startswith(b"event: gosmee-gap\n")
    assert b'"requested_id":"5000-0"' in frames[0]
    assert frames[1] == event.frame
