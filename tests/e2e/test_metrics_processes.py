"""``/metrics`` of real ``gosmee-trio`` processes: a server and a client with
``--health-port`` in memory mode, and a Redis-mode server counting a gap."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from tests.e2e.redis_relays import (
    post,
    start_command,
    start_server,
    stop,
    subscribe,
    take,
)
from tests.helpers import RecordingTarget, free_port, scrape_metrics
from tests.redis_server import RedisServer

CHANNEL = "metrics-proc-01"


async def test_server_and_client_processes_report_a_delivery_and_a_rejection(
    nursery: trio.Nursery, http: httpx.AsyncClient
) -> None:
    target = RecordingTarget()
    health = free_port()
    with trio.fail_after(30):
        await nursery.start(target.run)
        server = await start_command(
            nursery, "server", "--address", "127.0.0.1", "--port", "0",
            "--max-body-size", "64",
        )  # fmt: skip
        await server.stdout.wait_for(b"\n")
        url = server.stdout.text.split(b"\n", 1)[0].decode().rsplit(" ", 1)[1]
        client = await start_command(
            nursery, "client", "--health-port", str(health),
            f"{url}/{CHANNEL}", f"{target.url}/hook",
        )  # fmt: skip
        await client.stderr.wait_for(b"stream ready")

        await post(http, f"{url}/{CHANNEL}", b'{"ok":true}')
        too_big = await http.post(f"{url}/{CHANNEL}", content=b"x" * 65)
        await target.next()
        # The client counts a delivery in the same step as it logs it.
        await client.stderr.wait_for(b"delivered")
        served = await scrape_metrics(http, f"{url}/metrics")
        forwarded = await scrape_metrics(http, f"http://127.0.0.1:{health}/metrics")
        await stop(client)
        await stop(server)

    assert too_big.status_code == 413
    assert served["gosmee_webhooks_accepted_total"] == 1
    assert served['gosmee_webhooks_rejected_total{reason="size"}'] == 1
    assert served["gosmee_webhook_body_bytes_total"] == len(b'{"ok":true}')
    assert served["gosmee_subscribers"] == 1
    assert served["gosmee_publish_latency_seconds_count"] == 1
    assert forwarded['gosmee_client_deliveries_total{outcome="delivered"}'] == 1
    assert forwarded['gosmee_client_deliveries_total{outcome="failed"}'] == 0
    assert forwarded["gosmee_client_delivery_attempts_total"] == 1
    assert forwarded['gosmee_client_stream_state{state="live"}'] == 1
    assert forwarded["gosmee_client_dead_letters_total"] == 0


async def test_redis_mode_server_process_counts_the_gap_it_announces(
    nursery: trio.Nursery, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    # Two entries per stream node and MAXLEN ~ 4, so 20 posts trim the oldest.
    redis = RedisServer(tmp_path, extra=("--stream-node-max-entries", "2"))
    with trio.fail_after(30):
        await redis.start(nursery)
        server = await start_server(nursery, redis.url, "--redis-stream-maxlen", "4")
        ids = [
            await post(http, f"{server.url}/{CHANNEL}", b"%d" % n) for n in range(20)
        ]
        before = await scrape_metrics(http, f"{server.url}/metrics")
        stream = await nursery.start(
            subscribe,
            http,
            f"{server.url}/events/{CHANNEL}",
            {"Last-Event-ID": ids[0]},
        )
        (gap,) = await take(stream, 1)
        after = await scrape_metrics(http, f"{server.url}/metrics")
        await stop(server.running)

    assert gap[0] == "gosmee-gap"
    assert before["gosmee_broker_gaps_total"] == 0
    assert after["gosmee_broker_gaps_total"] == 1
    assert after["gosmee_webhooks_accepted_total"] == 20
    assert after["gosmee_subscribers"] == 1
