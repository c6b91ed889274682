"""Prometheus metrics for ``GET /metrics`` on the server.

Two sources, so that webhooks and streams pay no more than a counter increment:

- intake increments counters and observes one histogram as things happen, and the
  event stream adds each write's size to a plain int (``ServerMetrics``);
- the broker's counters and gauges are read from ``Broker.statistics()`` only when
  Prometheus scrapes (``BrokerCollector``), so publishing never touches them.

Every server owns its ``CollectorRegistry`` rather than the process-wide default, so
several servers in one process (the tests) count apart.

No metric has a channel label. Anyone who knows a channel id can read its stream, so
listing ids on an endpoint would hand every channel out; and anyone can create
channels, so the label's values would be unbounded.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gosmee_trio import __version__
from gosmee_trio.server.brokerapi import EventBroker

# Why intake refused a POST; ``Rejection.reason`` names one of these. All are created
# up front so that every series exists (at 0) from the first scrape.
REJECTION_REASONS = (
    "ip",  # --allowed-ips refused the sender, or its address was unknown
    "not_found",  # not a valid channel
    "token",  # replay without the right --replay-token
    "size",  # body over --max-body-size
    "timeout",  # body not received within BODY_TIMEOUT
    "signature",  # no valid signature for --webhook-signature
    "disconnected",  # the sender hung up before its body arrived
    "store",  # Redis could not store the event (500)
    "other",
)
# Publishing is CPU work in this process: tens of microseconds for a small webhook,
# tens of milliseconds for a signature over a body of many MiB checked in a thread.
PUBLISH_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class ServerMetrics(Collector):
    """The server's registry and the counters its hot routes increment.

    Args:
        broker: read at scrape time for subscriber, lag and history figures.
    """

    def __init__(self, broker: EventBroker) -> None:
        # Added to once per write to a stream, so once per subscriber per event: a
        # plain int costs a tenth of a Counter increment (which takes a lock), and
        # every stream runs in the event loop's one thread. Exported by collect().
        self.stream_bytes_sent = 0
        self.registry = CollectorRegistry()
        registry = self.registry
        Info("gosmee_build", "Version of this server.", registry=registry).info(
            {"version": __version__}
        )
        self._accepted = Counter(
            "gosmee_webhooks_accepted",
            "Webhooks published to their channel (POST /{channel} answered 202).",
            registry=registry,
        )
        self._replays = Counter(
            "gosmee_replays_accepted",
            "Replays published from the channel page (POST /replay/{channel}).",
            registry=registry,
        )
        rejected = Counter(
            "gosmee_webhooks_rejected",
            "POST requests refused before publishing, by reason.",
            ["reason"],
            registry=registry,
        )
        self._rejected = {
            reason: rejected.labels(reason) for reason in REJECTION_REASONS
        }
        self._body_bytes = Counter(
            "gosmee_webhook_body_bytes",
            "Body bytes of published webhooks and replays.",
            registry=registry,
        )
        self._latency = Histogram(
            "gosmee_publish_latency_seconds",
            "From the last body byte received to the event published to the broker.",
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        registry.register(self)
        registry.register(BrokerCollector(broker))

    def count_published(self, body_bytes: int, seconds: float, *, replay: bool) -> None:
        """Count one published webhook (or replay) of ``body_bytes``."""
        (self._replays if replay else self._accepted).inc()
        self._body_bytes.inc(body_bytes)
        self._latency.observe(seconds)

    def count_rejected(self, reason: str) -> None:
        """Count one refused POST; an unknown ``reason`` counts as ``other``."""
        self._rejected.get(reason, self._rejected["other"]).inc()

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "gosmee_stream_bytes_sent",
            "Bytes written to event streams: events, gap notices and keepalives.",
            value=self.stream_bytes_sent,
        )


class BrokerCollector(Collector):
    """Reads ``Broker.statistics()`` when Prometheus scrapes.

    ``statistics()`` walks every channel and subscriber, which is fine once per scrape
    and too much once per event.
    """

    def __init__(self, broker: EventBroker) -> None:
        self._broker = broker

    def collect(self) -> Iterator[Metric]:
        stats = self._broker.statistics()
        yield GaugeMetricFamily(
            "gosmee_subscribers",
            "Open event streams, all channels together.",
            value=sum(stats.subscribers.values()),
        )
        yield GaugeMetricFamily(
            "gosmee_subscribers_lagging",
            "Open event streams catching up from history right now.",
            value=stats.lagging,
        )
        yield GaugeMetricFamily(
            "gosmee_channels",
            "Channels the broker holds: with history or subscribers.",
            value=stats.channels,
        )
        yield GaugeMetricFamily(
            "gosmee_history_bytes",
            "Bytes of events kept in history, all channels together.",
            value=stats.history_bytes,
        )
        yield from _broker_counters(
            published=stats.published,
            delivered=stats.delivered,
            lag_events=stats.lag_events,
            gaps=stats.gaps,
        )


def _broker_counters(
    *, published: int, delivered: int, lag_events: int, gaps: int
) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "gosmee_broker_events_published",
        "Events published to the broker.",
        value=published,
    )
    yield CounterMetricFamily(
        "gosmee_broker_events_delivered",
        "Events and gap notices handed to event streams, one per subscriber.",
        value=delivered,
    )
    yield CounterMetricFamily(
        "gosmee_broker_lag_events",
        "Times a subscriber's queue was full and it fell back to history.",
        value=lag_events,
    )
    yield CounterMetricFamily(
        "gosmee_broker_gaps",
        "Gap notices sent: history no longer reached back to a subscriber's cursor.",
        value=gaps,
    )
