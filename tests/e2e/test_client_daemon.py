"""The client daemon against a real server and real targets: retries, dead letters,
ordering, hooks, ignore filters, other wires, health."""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.client.daemon import Client
from gosmee_trio.config import ClientConfig
from tests.e2e.test_relay import start_client
from tests.helpers import LogWaiter, RecordingTarget, free_port, scrape_metrics

CHANNEL = "daemon-channel-1"


async def _post(http: httpx.AsyncClient, url: str, body: bytes, **headers: str) -> str:
    reply = await http.post(url, content=body, headers=headers)
    assert reply.status_code == 202
    stream_id: str = reply.json()["stream_id"]
    return stream_id


async def _bodies(target: RecordingTarget, count: int) -> list[bytes]:
    with trio.fail_after(20):
        return [(await target.next()).body for _ in range(count)]


async def test_transient_failures_are_retried_in_order(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    target.statuses = [503, 502]
    await start_client(nursery, f"{server_url}/{CHANNEL}", target.url)
    for body in (b"A", b"B", b"C"):
        await _post(http, f"{server_url}/{CHANNEL}", body)
    assert await _bodies(target, 5) == [b"A", b"A", b"A", b"B", b"C"]


async def test_retry_after_is_honoured(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    target.statuses = [(429, {"Retry-After": "2"})]
    await start_client(nursery, f"{server_url}/{CHANNEL}", target.url)
    await _post(http, f"{server_url}/{CHANNEL}", b"A")
    with trio.fail_after(20):
        await target.next()
        first = trio.current_time()
        await target.next()
    assert trio.current_time() - first >= 1.9


async def test_permanent_failure_is_dead_lettered_and_processing_continues(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    tmp_path: Path,
) -> None:
    target.statuses = [401]
    client, _ = await start_client(
        nursery, f"{server_url}/{CHANNEL}", target.url, save_dir=tmp_path
    )
    await _post(
        http,
        f"{server_url}/{CHANNEL}",
        b"\x00secret payload",
        **{"X-GitHub-Event": "push"},
    )
    await _post(http, f"{server_url}/{CHANNEL}", b"next")
    assert await _bodies(target, 2) == [b"\x00secret payload", b"next"]
    with trio.fail_after(10):
        while client.counters.dead_letters < 1 or client.counters.delivered < 1:
            await trio.testing.wait_all_tasks_blocked(0.01)
    letters = sorted((tmp_path / "dead-letter").iterdir())
    bodies = [p for p in letters if p.suffix == ".json"]
    assert [p.read_bytes() for p in bodies] == [b"\x00secret payload"]
    assert any(p.suffix == ".sh" for p in letters)
    errors = [p.read_text() for p in letters if p.name.endswith(".error.txt")]
    assert "401" in errors[0]
    assert client.counters.failed == 1 and client.counters.delivered == 1


async def test_hanging_target_times_out_and_is_retried(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    target.statuses = ["hang"]
    await start_client(
        nursery, f"{server_url}/{CHANNEL}", target.url, target_timeout=0.5
    )
    await _post(http, f"{server_url}/{CHANNEL}", b"A")
    assert await _bodies(target, 2) == [b"A", b"A"]


async def test_refused_connection_is_retried_until_the_target_is_up(
    nursery: trio.Nursery, http: httpx.AsyncClient, server_url: str
) -> None:
    port = free_port()
    waiter = LogWaiter("delivery attempt failed")
    try:
        await start_client(
            nursery, f"{server_url}/{CHANNEL}", f"http://127.0.0.1:{port}/"
        )
        await _post(http, f"{server_url}/{CHANNEL}", b"A")
        with trio.fail_after(10):
            await waiter.seen.wait()
    finally:
        waiter.close()
    late = RecordingTarget(port=port)
    await nursery.start(late.run)
    assert await _bodies(late, 1) == [b"A"]


async def test_ignored_events_are_skipped_and_checkpointed(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    tmp_path: Path,
) -> None:
    state = tmp_path / "resume"
    client, scope = await start_client(
        nursery,
        f"{server_url}/{CHANNEL}",
        target.url,
        ignore_events=("ping", "repo:push"),
        resume_state_file=state,
    )
    url = f"{server_url}/{CHANNEL}"
    await _post(http, url, b"ping", **{"X-GitHub-Event": "ping"})
    await _post(http, url, b"bitbucket", **{"X-Event-Key": "repo:push"})
    last = await _post(http, url, b"push", **{"X-GitHub-Event": "push"})
    assert await _bodies(target, 1) == [b"push"]
    with trio.fail_after(10):
        while client.checkpoint.stream_id != last:
            await trio.testing.wait_all_tasks_blocked(0.01)
    scope.cancel()
    assert state.read_text() == f"{last}\n"


async def test_exec_hook_gets_the_payload_after_forwarding(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "done"
    os.mkfifo(fifo)
    out = tmp_path / "payload"
    command = f'cp "$GOSMEE_PAYLOAD_FILE" {out} && echo "$GOSMEE_EVENT_TYPE" > {fifo}'
    await start_client(
        nursery, f"{server_url}/{CHANNEL}", target.url, exec_command=command
    )
    await _post(
        http, f"{server_url}/{CHANNEL}", b"\xffhook me", **{"X-GitHub-Event": "push"}
    )
    with trio.fail_after(20):
        said = await trio.to_thread.run_sync(fifo.read_text, abandon_on_cancel=True)
    assert said == "push\n"
    assert out.read_bytes() == b"\xffhook me"
    assert len(target.received) == 1


async def test_exec_only_mode_runs_the_hook_without_a_target(
    nursery: trio.Nursery, http: httpx.AsyncClient, server_url: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "done"
    os.mkfifo(fifo)
    command = f'cat "$GOSMEE_PAYLOAD_FILE" > {fifo}'
    await start_client(nursery, f"{server_url}/{CHANNEL}", "", exec_command=command)
    await _post(http, f"{server_url}/{CHANNEL}", b"only the hook")
    with trio.fail_after(20):
        said = await trio.to_thread.run_sync(fifo.read_bytes, abandon_on_cancel=True)
    assert said == b"only the hook"


async def _fake_stream_server(nursery: trio.Nursery, frames: bytes) -> int:
    """A server that answers any request with ``frames`` as an SSE stream."""

    async def handler(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(frames), frames)
        )
        await trio.sleep_forever()

    listeners = await nursery.start(
        partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    )
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def test_smee_format_stream_is_forwarded(
    nursery: trio.Nursery, target: RecordingTarget
) -> None:
    message = {
        "host": "smee.example.test",
        "content-type": "application/json",
        "x-github-event": "issues",
        "body": {"action": "opened", "title": "café"},
        "query": {"foo": "bar"},
        "timestamp": 1700000000000,
    }
    frames = (
        b"event: ready\ndata: {}\n\n"
        b"event: ping\ndata: {}\n\n"
        b"id: 0\ndata: " + json.dumps(message, ensure_ascii=False).encode() + b"\n\n"
    )
    port = await _fake_stream_server(nursery, frames)
    await start_client(
        nursery, f"http://127.0.0.1:{port}/{CHANNEL}", f"{target.url}/hook"
    )
    with trio.fail_after(20):
        got = await target.next()
    assert json.loads(got.body) == message["body"]
    assert got.header("x-github-event") == "issues"
    assert got.header("host") != "smee.example.test"
    assert got.query == b"foo=bar"


async def test_unparsable_message_is_dead_lettered_and_the_client_carries_on(
    nursery: trio.Nursery, target: RecordingTarget, tmp_path: Path
) -> None:
    frames = (
        b'data: {"message":"ready"}\n\n'
        b"id: 5-0\ndata: {not json at all\n\n"
        b'id: 6-0\ndata: {"x-github-event":"push","bodyB":"b2s="}\n\n'
    )
    port = await _fake_stream_server(nursery, frames)
    client, _ = await start_client(
        nursery, f"http://127.0.0.1:{port}/{CHANNEL}", target.url, save_dir=tmp_path
    )
    with trio.fail_after(20):
        got = await target.next()
        while client.counters.dead_letters < 1:
            await trio.testing.wait_all_tasks_blocked(0.01)
    assert got.body == b"ok"
    letters = [p for p in (tmp_path / "dead-letter").iterdir() if p.suffix == ".json"]
    assert [p.read_bytes() for p in letters] == [b"{not json at all"]


async def test_health_reports_live_then_down(
    nursery: trio.Nursery, http: httpx.AsyncClient, target: RecordingTarget
) -> None:
    from gosmee_trio.config import ServerConfig
    from gosmee_trio.server.serve import Server

    relay = Server(ServerConfig(address="127.0.0.1", port=0, keepalive_interval=0.5))
    server_scope = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[str]) -> None:
        with server_scope:
            await relay.run(task_status=task_status)

    await nursery.start(serve)
    port = free_port()
    await start_client(
        nursery, f"{relay.state.public_url}/{CHANNEL}", target.url, health_port=port
    )
    health = f"http://127.0.0.1:{port}/health"
    live = await http.get(health)
    assert live.status_code == 200
    assert live.json()["state"] == "live"
    waiter = LogWaiter("reconnecting in")
    try:
        server_scope.cancel()
        with trio.fail_after(10):
            await waiter.seen.wait()
    finally:
        waiter.close()
    down = await http.get(health)
    assert down.status_code == 503
    assert down.json()["reconnects"] >= 1
    assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404


@pytest.mark.parametrize("grace", [5.0])
async def test_stop_lets_the_delivery_in_flight_finish(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    tmp_path: Path,
    grace: float,
) -> None:
    state = tmp_path / "resume"
    target.statuses = [1.0]  # the first delivery takes a second to answer
    done = trio.Event()
    client = Client.__new__(Client)  # replaced below; keeps mypy aware of the type

    async def run_client(task_status: trio.TaskStatus[None]) -> None:
        nonlocal client
        from gosmee_trio.config import ClientConfig

        client = Client(
            ClientConfig(
                f"{server_url}/{CHANNEL}",
                target.url,
                keepalive_interval=0.5,
                resume_state_file=state,
                shutdown_grace=grace,
            )
        )
        await client.run(task_status=task_status)
        done.set()

    await nursery.start(run_client)
    first = await _post(http, f"{server_url}/{CHANNEL}", b"in flight")
    await _post(http, f"{server_url}/{CHANNEL}", b"later")
    with trio.fail_after(10):
        await target.next()
        client.stop()
        await done.wait()
    assert state.read_text() == f"{first}\n"
    assert [r.body for r in target.received] == [b"in flight"]


async def test_a_delivery_being_retried_shows_in_metrics_and_health(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
) -> None:
    target.status = 500  # a durable event is retried until this changes
    port = free_port()
    client, _ = await start_client(
        nursery, f"{server_url}/{CHANNEL}", target.url, health_port=port
    )
    stream_id = await _post(
        http, f"{server_url}/{CHANNEL}", b"stuck", **{"X-GitHub-Delivery": "d-42"}
    )
    with trio.fail_after(10):
        await target.next()
        await target.next()  # attempt 2, 1 s after the first; attempt 3 is 2 s away
    metrics = await scrape_metrics(http, f"http://127.0.0.1:{port}/metrics")
    health = await http.get(f"http://127.0.0.1:{port}/health")

    assert metrics["gosmee_client_delivery_attempts_total"] == 2
    assert metrics["gosmee_client_attempt_duration_seconds_count"] >= 1
    assert metrics["gosmee_client_delivery_retrying"] == 1
    assert metrics["gosmee_client_delivery_retrying_attempts"] >= 1
    since = metrics["gosmee_client_delivery_retrying_since_timestamp_seconds"]
    assert 0 < since <= time.time()
    # The stream is fine, so the probe stays 200; the stuck delivery is in the body.
    assert health.status_code == 200
    retrying = health.json()["retrying"]
    assert (retrying["stream_id"], retrying["delivery_id"]) == (stream_id, "d-42")
    assert retrying["since"] == since
    assert retrying["last_error"] == "target answered 500"

    target.status = 200
    with trio.fail_after(10):
        await target.next()
        while client.counters.delivered < 1:
            await trio.testing.wait_all_tasks_blocked(0.01)
    after = await scrape_metrics(http, f"http://127.0.0.1:{port}/metrics")
    assert after["gosmee_client_delivery_attempts_total"] == 3
    assert after["gosmee_client_delivery_retrying"] == 0
    assert "gosmee_client_delivery_retrying_since_timestamp_seconds" not in after
    final = await http.get(f"http://127.0.0.1:{port}/health")
    assert final.json()["retrying"] is None


async def _start_stoppable(
    nursery: trio.Nursery, config: ClientConfig
) -> tuple[Client, trio.Event]:
    """A real client that ``stop()`` ends; the event is set once ``run()`` returns."""
    client = Client(config)
    done = trio.Event()

    async def run(task_status: trio.TaskStatus[None]) -> None:
        await client.run(task_status=task_status)
        done.set()

    with trio.fail_after(10):
        await nursery.start(run)
    return client, done


async def test_stop_during_a_back_off_wait_ends_at_once_and_resumes_the_event(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = tmp_path / "resume"
    config = ClientConfig(
        f"{server_url}/{CHANNEL}",
        target.url,
        keepalive_interval=0.5,
        resume_state_file=state,
        shutdown_grace=30,
    )
    target.statuses = [(503, {"Retry-After": "30"})]  # then 200
    client, done = await _start_stoppable(nursery, config)
    before = state.read_text()  # the ready frame's position
    stream_id = await _post(
        http, f"{server_url}/{CHANNEL}", b"waits", **{"X-GitHub-Delivery": "d-7"}
    )
    waiter = LogWaiter("delivery attempt failed")
    try:
        with trio.fail_after(10):
            assert (await target.next()).body == b"waits"
            await waiter.seen.wait()
    finally:
        waiter.close()
    with trio.fail_after(5):  # not the 30 s back-off, nor the 30 s grace
        client.stop()
        await done.wait()

    assert state.read_text() == before
    [cut_off] = [r for r in caplog.records if "cut off" in r.getMessage()]
    assert cut_off.levelname == "WARNING"
    fields = vars(cut_off)
    assert (fields["stream_id"], fields["delivery_id"]) == (stream_id, "d-7")
    assert "delivered again on the next start" in cut_off.getMessage()

    await _start_stoppable(nursery, config)
    with trio.fail_after(10):
        assert (await target.next()).body == b"waits"
    assert [r.body for r in target.received] == [b"waits", b"waits"]


async def test_stream_answering_404_is_an_error_with_a_hint_and_health_is_down(
    nursery: trio.Nursery,
    http: httpx.AsyncClient,
    server_url: str,
    target: RecordingTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    # "short" is no valid channel id: the server answers 404, as it does for a
    # protected channel and a key it does not list.
    client = Client(ClientConfig(f"{server_url}/short", target.url, health_port=port))
    waiter = LogWaiter("stream refused")
    try:
        nursery.start_soon(client.run)
        with trio.fail_after(10):
            await waiter.seen.wait()
    finally:
        waiter.close()
    [refused] = [r for r in caplog.records if "stream refused" in r.getMessage()]
    assert refused.levelname == "ERROR"
    assert "got 404" in refused.getMessage()
    assert "check the channel URL" in refused.getMessage()
    assert "reconnecting in" in refused.getMessage()  # it keeps trying

    health = await http.get(f"http://127.0.0.1:{port}/health")
    assert health.status_code == 503
    report = health.json()
    assert (report["healthy"], report["state"]) == (False, "connecting")
    assert "got 404" in report["stream_error"]
    assert "check the channel URL" in report["stream_error"]
