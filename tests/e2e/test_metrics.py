"""``GET /metrics`` over real HTTP: the server's intake and streams, the client's
deliveries, dead letters and reconnects."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx
import trio
from httpx_sse import aconnect_sse

from gosmee_trio import __version__
from gosmee_trio.config import ServerConfig
from gosmee_trio.server.serve import Server
from tests.e2e.test_relay import start_client
from tests.helpers import LogWaiter, RecordingTarget, free_port, scrape_metrics

CHANNEL = "metrics-chan-01"
SECRET = "metrics-secret"
Samples = dict[str, float]


def _counter_deltas(before: Samples, after: Samples) -> Samples:
    """How every counter (and histogram count) moved; unchanged ones left out."""
    deltas: Samples = {}
    for key, value in after.items():
        name = key.partition("{")[0]
        if name.endswith(("_total", "_count")) and value != before.get(key, 0.0):
            deltas[key] = value - before.get(key, 0.0)
    return deltas


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}


async def test_server_metrics_count_accepted_and_rejected_webhooks(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    relay = Server(
        ServerConfig(
            address="127.0.0.1",
            port=0,
            webhook_secrets=(SECRET,),
            max_body_size=64,
        )
    )
    await nursery.start(relay.run)
    url = relay.state.public_url
    before = await scrape_metrics(http, f"{url}/metrics")

    body = b'{"zen":"metrics"}'
    posts = [
        (f"{url}/{CHANNEL}", body, _signed(body), 202),
        (f"{url}/{CHANNEL}", body, {"X-GitHub-Event": "push"}, 401),
        (f"{url}/{CHANNEL}", b"x" * 65, _signed(b"x" * 65), 413),
        (f"{url}/short", body, _signed(body), 404),
    ]
    for target, content, headers, status in posts:
        reply = await http.post(target, content=content, headers=headers)
        assert reply.status_code == status, reply.text
    after = await scrape_metrics(http, f"{url}/metrics")

    assert _counter_deltas(before, after) == {
        "gosmee_webhooks_accepted_total": 1,
        'gosmee_webhooks_rejected_total{reason="signature"}': 1,
        'gosmee_webhooks_rejected_total{reason="size"}': 1,
        'gosmee_webhooks_rejected_total{reason="not_found"}': 1,
        "gosmee_webhook_body_bytes_total": len(body),
        "gosmee_publish_latency_seconds_count": 1,
        "gosmee_broker_events_published_total": 1,
    }
    assert 0 < after["gosmee_publish_latency_seconds_sum"] < 1
    assert after[f'gosmee_build_info{{version="{__version__}"}}'] == 1


async def test_server_metrics_count_a_sender_that_hangs_up(
    http: httpx.AsyncClient, server: Server
) -> None:
    url = server.state.public_url
    metrics = f"{url}/metrics"
    before = await scrape_metrics(http, metrics)
    port = int(url.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"POST /{CHANNEL} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
            "only part of it".encode()
        )
    key = 'gosmee_webhooks_rejected_total{reason="disconnected"}'
    with trio.fail_after(10):
        while (after := await scrape_metrics(http, metrics))[key] == before[key]:
            await trio.testing.wait_all_tasks_blocked(0.01)
    assert _counter_deltas(before, after) == {key: 1}


async def test_server_subscribers_gauge_follows_an_open_stream(
    http: httpx.AsyncClient, server: Server
) -> None:
    url = server.state.public_url
    metrics = f"{url}/metrics"
    assert (await scrape_metrics(http, metrics))["gosmee_subscribers"] == 0
    with trio.fail_after(10):
        async with aconnect_sse(http, "GET", f"{url}/events/{CHANNEL}") as source:
            events = source.aiter_sse()
            async for sse in events:
                if "ready" in sse.data:
                    break
            during = await scrape_metrics(http, metrics)
            assert during["gosmee_subscribers"] == 1
            assert during["gosmee_subscribers_lagging"] == 0
            reply = await http.post(f"{url}/{CHANNEL}", content=b"to the stream")
            async for sse in events:
                if sse.id == reply.json()["stream_id"]:
                    break
            await events.aclose()
        streamed = await scrape_metrics(http, metrics)
        while (closed := await scrape_metrics(http, metrics))["gosmee_subscribers"]:
            await trio.testing.wait_all_tasks_blocked(0.01)

    assert streamed["gosmee_broker_events_delivered_total"] == 1
    # The opening frames, at least one event frame, any keepalives.
    assert streamed["gosmee_stream_bytes_sent_total"] > len(b"to the stream")
    assert closed["gosmee_subscribers"] == 0


async def test_client_metrics_count_deliveries_dead_letters_and_reconnects(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    target: RecordingTarget,
    tmp_path: Path,
) -> None:
    relay = Server(ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5))
    server_scope = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[str]) -> None:
        with server_scope:
            await relay.run(task_status=task_status)

    await nursery.start(serve)
    url = f"{relay.state.public_url}/{CHANNEL}"
    port = free_port()
    target.statuses = [401]  # the first delivery fails for good: a dead letter
    client, _ = await start_client(
        nursery,
        url,
        target.url,
        health_port=port,
        save_dir=tmp_path,
        ignore_events=("ping",),
        exec_command="exit 3",
        exec_on_events=("push",),
    )
    metrics = f"http://127.0.0.1:{port}/metrics"
    before = await scrape_metrics(http, metrics)
    assert before['gosmee_client_stream_state{state="live"}'] == 1

    last = ""
    for event in ("push", "push", "ping"):
        reply = await http.post(url, content=b"{}", headers={"X-GitHub-Event": event})
        last = reply.json()["stream_id"]
    with trio.fail_after(20):
        while client.checkpoint.stream_id != last:
            await trio.testing.wait_all_tasks_blocked(0.01)
    handled = await scrape_metrics(http, metrics)

    assert _counter_deltas(before, handled) == {
        'gosmee_client_deliveries_total{outcome="failed"}': 1,
        'gosmee_client_deliveries_total{outcome="delivered"}': 1,
        'gosmee_client_deliveries_total{outcome="ignored"}': 1,
        "gosmee_client_delivery_attempts_total": 2,
        "gosmee_client_attempt_duration_seconds_count": 2,
        "gosmee_client_forward_latency_seconds_count": 2,
        # The refused delivery, and the delivered event whose hook failed.
        "gosmee_client_dead_letters_total": 2,
        "gosmee_client_hook_failures_total": 1,
    }
    assert handled["gosmee_client_last_event_timestamp_seconds"] > 0

    waiter = LogWaiter("reconnecting in")
    try:
        server_scope.cancel()
        with trio.fail_after(10):
            await waiter.seen.wait()
    finally:
        waiter.close()
    # The first reconnect waits 1 s, far longer than this scrape takes.
    down = await scrape_metrics(http, metrics)
    assert _counter_deltas(handled, down) == {"gosmee_client_reconnects_total": 1}
    assert [
        down[f'gosmee_client_stream_state{{state="{state}"}}']
        for state in ("connecting", "live", "reconnecting")
    ] == [0, 0, 1]
