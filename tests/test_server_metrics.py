"""Server metrics without HTTP: the broker collector reads at scrape time."""

from __future__ import annotations

import trio

from gosmee_trio.events import RelayEvent, format_stream_id
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.metrics import ServerMetrics
from gosmee_trio.sse import encode_event

CHANNEL = "channel-aaaaaa"


def _event(broker: Broker) -> RelayEvent:
    sid = broker.next_stream_id()
    frame = encode_event(b"x" * 10, event_id=format_stream_id(sid))
    return RelayEvent(CHANNEL, sid, 0, "", "", 10, frame)


def _value(metrics: ServerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_broker_collector_reads_lag_and_gaps_when_scraped() -> None:
    broker = Broker(subscriber_buffer=1, history_events=3)
    metrics = ServerMetrics(broker)
    with broker.subscribe(CHANNEL, broker.tail(CHANNEL)) as subscriber:
        broker.publish(_event(broker))
        with trio.fail_after(5):
            await subscriber.receive()  # live now, with a queue of one
        assert _value(metrics, "gosmee_subscribers") == 1
        assert _value(metrics, "gosmee_subscribers_lagging") == 0

        for _ in range(10):
            broker.publish(_event(broker))
        assert _value(metrics, "gosmee_subscribers_lagging") == 1
        assert _value(metrics, "gosmee_broker_lag_events_total") == 1
        assert _value(metrics, "gosmee_broker_gaps_total") == 0

        with trio.fail_after(5):
            for _ in range(5):  # the queued event, the gap, the three in history
                await subscriber.receive()
        assert _value(metrics, "gosmee_broker_gaps_total") == 1
        assert _value(metrics, "gosmee_subscribers_lagging") == 0
    assert _value(metrics, "gosmee_subscribers") == 0
    assert _value(metrics, "gosmee_broker_events_published_total") == 11
    assert _value(metrics, "gosmee_broker_events_delivered_total") == 6
    assert _value(metrics, "gosmee_channels") == 1
    assert _value(metrics, "gosmee_history_bytes") == broker.statistics().history_bytes


def test_published_webhooks_and_replays_are_counted_apart() -> None:
    metrics = ServerMetrics(Broker())
    metrics.count_published(100, 0.0002, replay=False)
    metrics.count_published(30, 0.003, replay=True)
    assert _value(metrics, "gosmee_webhooks_accepted_total") == 1
    assert _value(metrics, "gosmee_replays_accepted_total") == 1
    assert _value(metrics, "gosmee_webhook_body_bytes_total") == 130
    assert _value(metrics, "gosmee_publish_latency_seconds_count") == 2
    bucket = "gosmee_publish_latency_seconds_bucket"
    assert _value(metrics, bucket, le="0.00025") == 1
    assert _value(metrics, bucket, le="0.005") == 2


def test_stream_bytes_are_read_from_a_plain_int_when_scraped() -> None:
    metrics = ServerMetrics(Broker())
    metrics.stream_bytes_sent += 4096
    assert _value(metrics, "gosmee_stream_bytes_sent_total") == 4096


def test_rejections_are_counted_by_reason_and_unknown_reasons_as_other() -> None:
    metrics = ServerMetrics(Broker())
    metrics.count_rejected("signature")
    metrics.count_rejected("no-such-reason")
    name = "gosmee_webhooks_rejected_total"
    assert _value(metrics, name, reason="signature") == 1
    assert _value(metrics, name, reason="other") == 1
    assert _value(metrics, name, reason="size") == 0  # present before it happens


def test_servers_in_one_process_count_apart() -> None:
    first, second = ServerMetrics(Broker()), ServerMetrics(Broker())
    first.count_rejected("ip")
    name = "gosmee_webhooks_rejected_total"
    assert _value(first, name, reason="ip") == 1
    assert _value(second, name, reason="ip") == 0
