"""Prometheus metrics for ``GET /metrics`` on the client's ``--health-port``.

The forwarder reports each attempt as it starts and ends, and the daemon each event's
outcome and each delivery as it finishes (``ClientMetrics``); the stream's state,
reconnects, dead letters, hook failures and the delivery being retried are read from
``ClientCounters`` when Prometheus scrapes (``CountersCollector``), the same figures
``/health`` shows. The registry is the client's own, not the
process-wide default, so several clients in one process count apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gosmee_trio import __version__
from gosmee_trio.client.forwarder import DeliveryResult
from gosmee_trio.client.health import ClientCounters

# What became of each event read from the stream, one outcome per event:
# delivered / failed (the target refused it for good; it is then dead-lettered) /
# dead_letter (never forwarded: unparsable, undecryptable or an unexpected error) /
# ignored (--ignore-event).
DELIVERY_OUTCOMES = ("delivered", "failed", "dead_letter", "ignored")
# Consumer.state; exactly one of them is 1 at a time.
STREAM_STATES = ("connecting", "live", "reconnecting")
# A delivery includes its retries and their back-off, so the tail reaches minutes.
FORWARD_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
# One attempt is bounded by --target-connection-timeout (5 s by default); 60 s
# leaves room for a raised timeout without a bucket nobody can reach.
ATTEMPT_BUCKETS = FORWARD_BUCKETS[: FORWARD_BUCKETS.index(60.0) + 1]


class ClientMetrics:
    """The client's registry and the counters the daemon increments.

    Args:
        counters: returns the current ``ClientCounters``; called at scrape time.
    """

    def __init__(self, counters: Callable[[], ClientCounters]) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        Info("gosmee_client_build", "Version of this client.", registry=registry).info(
            {"version": __version__}
        )
        deliveries = Counter(
            "gosmee_client_deliveries",
            "Events read from the stream, by what became of them.",
            ["outcome"],
            registry=registry,
        )
        self._outcomes = {name: deliveries.labels(name) for name in DELIVERY_OUTCOMES}
        self._attempts = Counter(
            "gosmee_client_delivery_attempts",
            "HTTP requests sent to the target, counted as each starts; a retry is "
            "attempt 2 and later.",
            registry=registry,
        )
        self._attempt_duration = Histogram(
            "gosmee_client_attempt_duration_seconds",
            "Duration of one HTTP request to the target, recorded as each ends.",
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )
        self._latency = Histogram(
            "gosmee_client_forward_latency_seconds",
            "Duration of a delivery to the target, all its attempts included.",
            buckets=FORWARD_BUCKETS,
            registry=registry,
        )
        registry.register(CountersCollector(counters))

    def attempt_started(self) -> None:
        """Count one attempt as it is made (``AttemptObserver``)."""
        self._attempts.inc()

    def attempt_ended(self, seconds: float) -> None:
        """Record how long one attempt took (``AttemptObserver``)."""
        self._attempt_duration.observe(seconds)

    def count_delivery(self, result: DeliveryResult) -> None:
        """Record one finished delivery: its outcome and duration."""
        self._outcomes["delivered" if result.ok else "failed"].inc()
        self._latency.observe(result.duration_ms / 1000)

    def count_outcome(self, outcome: str) -> None:
        """Record an event that was not delivered: ``dead_letter`` or ``ignored``."""
        self._outcomes[outcome].inc()


class CountersCollector(Collector):
    """Reads ``ClientCounters`` when Prometheus scrapes."""

    def __init__(self, counters: Callable[[], ClientCounters]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        counters = self._counters()
        state = GaugeMetricFamily(
            "gosmee_client_stream_state",
            "1 for the stream's current state, 0 for the others.",
            labels=["state"],
        )
        for name in STREAM_STATES:
            state.add_metric([name], 1.0 if counters.state == name else 0.0)
        yield state
        yield CounterMetricFamily(
            "gosmee_client_reconnects",
            "Times the stream ended and the client reconnected.",
            value=counters.reconnects,
        )
        yield CounterMetricFamily(
            "gosmee_client_dead_letters",
            "Events written to the dead-letter folder (deliveries, parsing, hooks).",
            value=counters.dead_letters,
        )
        yield CounterMetricFamily(
            "gosmee_client_hook_failures",
            "Exec hook runs that failed, timed out or could not start.",
            value=counters.hook_failures,
        )
        if counters.last_event_time is not None:
            yield GaugeMetricFamily(
                "gosmee_client_last_event_timestamp_seconds",
                "Unix time the last event was read from the stream.",
                value=counters.last_event_time,
            )
        yield from _retrying_metrics(counters)


def _retrying_metrics(counters: ClientCounters) -> Iterator[Metric]:
    retrying = counters.retrying
    yield GaugeMetricFamily(
        "gosmee_client_delivery_retrying",
        "1 while the event at the head is being retried, else 0.",
        value=0.0 if retrying is None else 1.0,
    )
    yield GaugeMetricFamily(
        "gosmee_client_delivery_retrying_attempts",
        "Attempts made so far on the delivery being retried; 0 when none is.",
        value=0.0 if retrying is None else float(retrying.attempts),
    )
    if retrying is not None:
        yield GaugeMetricFamily(
            "gosmee_client_delivery_retrying_since_timestamp_seconds",
            "Unix time the first attempt of the delivery being retried failed.",
            value=retrying.since,
        )
