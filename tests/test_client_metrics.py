"""Client metrics without HTTP: outcomes as recorded, counters read when scraped."""

from __future__ import annotations

from gosmee_trio.client.forwarder import DeliveryResult, RetryState
from gosmee_trio.client.health import ClientCounters
from gosmee_trio.client.metrics import ClientMetrics
from gosmee_trio.errors import DeliveryError


def _value(metrics: ClientMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_deliveries_record_outcome_and_latency() -> None:
    metrics = ClientMetrics(ClientCounters)
    metrics.count_delivery(DeliveryResult(True, 200, 3, 1500))
    refused = DeliveryError(
        "target answered 401", kind="http_status", retryable=False, status=401
    )
    metrics.count_delivery(DeliveryResult(False, 401, 1, 20, refused))
    metrics.count_outcome("ignored")

    name = "gosmee_client_deliveries_total"
    assert _value(metrics, name, outcome="delivered") == 1
    assert _value(metrics, name, outcome="failed") == 1
    assert _value(metrics, name, outcome="ignored") == 1
    assert _value(metrics, name, outcome="dead_letter") == 0
    # Attempts are counted as they are made (attempt_started), not here.
    assert _value(metrics, "gosmee_client_delivery_attempts_total") == 0
    assert _value(metrics, "gosmee_client_forward_latency_seconds_sum") == 1.52
    bucket = "gosmee_client_forward_latency_seconds_bucket"
    assert _value(metrics, bucket, le="0.025") == 1
    assert _value(metrics, bucket, le="2.5") == 2


def test_counters_are_read_at_scrape_time() -> None:
    counters = ClientCounters()
    metrics = ClientMetrics(lambda: counters)
    state = "gosmee_client_stream_state"
    assert _value(metrics, state, state="connecting") == 1
    assert _value(metrics, "gosmee_client_last_event_timestamp_seconds") is None

    counters.state = "live"
    counters.reconnects = 2
    counters.dead_letters = 3
    counters.hook_failures = 1
    counters.last_event_time = 1_700_000_000.5
    assert [
        _value(metrics, state, state=name)
        for name in ("connecting", "live", "reconnecting")
    ] == [0, 1, 0]
    assert _value(metrics, "gosmee_client_reconnects_total") == 2
    assert _value(metrics, "gosmee_client_dead_letters_total") == 3
    assert _value(metrics, "gosmee_client_hook_failures_total") == 1
    assert (
        _value(metrics, "gosmee_client_last_event_timestamp_seconds") == 1_700_000_000.5
    )


def test_attempts_are_counted_as_they_start_and_timed_as_they_end() -> None:
    metrics = ClientMetrics(ClientCounters)
    metrics.attempt_started()
    metrics.attempt_started()
    assert _value(metrics, "gosmee_client_delivery_attempts_total") == 2
    assert _value(metrics, "gosmee_client_attempt_duration_seconds_count") == 0
    metrics.attempt_ended(0.2)
    assert _value(metrics, "gosmee_client_attempt_duration_seconds_count") == 1
    assert _value(metrics, "gosmee_client_attempt_duration_seconds_sum") == 0.2


def test_retrying_gauges_follow_the_delivery_being_retried() -> None:
    counters = ClientCounters()
    metrics = ClientMetrics(lambda: counters)
    since = "gosmee_client_delivery_retrying_since_timestamp_seconds"
    assert _value(metrics, "gosmee_client_delivery_retrying") == 0
    assert _value(metrics, "gosmee_client_delivery_retrying_attempts") == 0
    assert _value(metrics, since) is None

    counters.retrying = RetryState(
        "17-0", "d-1", "push", 5, 1_700_000_000.5, "target answered 500"
    )
    assert _value(metrics, "gosmee_client_delivery_retrying") == 1
    assert _value(metrics, "gosmee_client_delivery_retrying_attempts") == 5
    assert _value(metrics, since) == 1_700_000_000.5
