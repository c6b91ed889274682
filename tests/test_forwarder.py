from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
import trio

from gosmee_trio.client.forwarder import (
    DeliveryResult,
    Forwarder,
    redact_url,
    target_with_query,
)
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.logs import PrettyFormatter

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def _event(stream_id: str = "", body: bytes = b"{}") -> IncomingEvent:
    return IncomingEvent(
        stream_id=stream_id,
        headers=(("Content-Type", "application/json"), ("X-Github-Event", "push")),
        body=body,
        query=(("a", "1"), ("a", "2")),
        event_type="push",
        delivery_id="d-1",
        content_type="application/json",
        timestamp_ms=None,
    )


class _Attempts:
    """An attempt observer that remembers what it was told."""

    def __init__(self) -> None:
        self.started = 0
        self.durations: list[float] = []

    def attempt_started(self) -> None:
        self.started += 1

    def attempt_ended(self, seconds: float) -> None:
        self.durations.append(seconds)


def _forwarder(
    handler: Handler, retries: int = 5, observer: _Attempts | None = None
) -> tuple[Forwarder, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = handler(request)
        return answer if isinstance(answer, httpx.Response) else await answer

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    target = "http://user:pw@target.test/hook?k=v"
    return Forwarder(target, client, retries, observer=observer), seen


def _statuses(*codes: int, headers: dict[str, str] | None = None) -> Handler:
    remaining = list(codes)
    return lambda request: httpx.Response(remaining.pop(0), headers=headers)


@pytest.mark.parametrize(
    ("target", "query", "expected"),
    [
        ("http://t/x", (), "http://t/x"),
        ("http://t/x", (("a", "1"), ("a", "2")), "http://t/x?a=1&a=2"),
        ("http://t/x?k=v", (("a", "b c"),), "http://t/x?k=v&a=b%20c"),
        ("http://t/x#frag", (("a", "1"),), "http://t/x?a=1#frag"),
    ],
)
def test_target_with_query(
    target: str, query: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert target_with_query(target, query) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:secret@host:8080/p?token=x#f", "http://host:8080/p"),
        ("https://[::1]/hook", "https://[::1]/hook"),
    ],
)
def test_redact_url_drops_credentials_and_query(url: str, expected: str) -> None:
    assert redact_url(url) == expected


async def test_deliver_posts_exact_body_headers_and_query() -> None:
    forwarder, seen = _forwarder(_statuses(200))
    result = await forwarder.deliver(_event(body=b"\x00\xff raw"))
    assert result.ok and result.status == 200 and result.attempts == 1
    [request] = seen
    assert request.content == b"\x00\xff raw"
    assert str(request.url) == "http://user:pw@target.test/hook?k=v&a=1&a=2"
    assert request.headers["x-github-event"] == "push"
    assert request.headers["content-length"] == "6"


async def test_transient_failures_back_off_1_then_2_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    forwarder, seen = _forwarder(_statuses(503, 502, 200))
    start = trio.current_time()
    result = await forwarder.deliver(_event())
    assert result.ok and result.attempts == 3
    assert trio.current_time() - start == pytest.approx(3.0)


async def test_retry_after_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    forwarder, _ = _forwarder(_statuses(429, 200, headers={"Retry-After": "10"}))
    start = trio.current_time()
    assert (await forwarder.deliver(_event())).ok
    assert trio.current_time() - start == pytest.approx(10.0)


async def test_non_durable_event_gives_up_after_target_retries(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder, seen = _forwarder(lambda r: httpx.Response(500), retries=2)
    result = await forwarder.deliver(_event())
    assert not result.ok
    assert result.attempts == 3 and len(seen) == 3
    assert result.error is not None and result.error.kind == "http_status"
    assert [r.levelname for r in caplog.records].count("WARNING") == 2
    assert caplog.records[-1].levelname == "ERROR"
    assert "secret" not in caplog.text and "pw@" not in caplog.text


async def test_durable_event_is_retried_until_it_succeeds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    forwarder, seen = _forwarder(_statuses(*[503] * 9, 200), retries=0)
    result = await forwarder.deliver(_event(stream_id="17-0"))
    assert result.ok and result.attempts == 10


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_permanent_status_is_not_retried(status: int) -> None:
    forwarder, seen = _forwarder(_statuses(status))
    result = await forwarder.deliver(_event(stream_id="17-0"))
    assert not result.ok and result.attempts == 1 and result.status == status


def _raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    error = httpx.ConnectError("boom")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        pytest.param(httpx.ReadTimeout("slow"), "timeout", True, id="timeout"),
        pytest.param(httpx.ConnectError("refused"), "network", True, id="refused"),
        pytest.param(
            _connect_error(socket.gaierror(socket.EAI_NONAME, "unknown")),
            "dns",
            False,
            id="nxdomain",
        ),
        pytest.param(
            _connect_error(socket.gaierror(socket.EAI_AGAIN, "again")),
            "dns",
            True,
            id="dns-temporary",
        ),
        pytest.param(
            _connect_error(ssl.SSLCertVerificationError("bad")), "tls", False, id="tls"
        ),
        pytest.param(httpx.UnsupportedProtocol("ftp"), "transport", False, id="other"),
    ],
)
async def test_transport_errors_are_classified(
    autojump_clock: trio.testing.MockClock, exc: Exception, kind: str, retryable: bool
) -> None:
    forwarder, seen = _forwarder(_raising(exc), retries=1)
    result = await forwarder.deliver(_event())
    assert result.error is not None
    assert (result.error.kind, result.error.retryable) == (kind, retryable)
    assert len(seen) == (2 if retryable else 1)


async def test_forwarder_counts_each_attempt_when_it_is_made(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts = _Attempts()
    forwarder, seen = _forwarder(lambda r: httpx.Response(500), observer=attempts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(forwarder.deliver, _event(stream_id="17-0"))
        await trio.sleep(3.5)  # attempts at 0 s, 1 s and 3 s; the next one at 7 s
        assert attempts.started == len(seen) == 3
        assert len(attempts.durations) == 3
        nursery.cancel_scope.cancel()


async def test_forwarder_shows_the_delivery_it_is_retrying(
    autojump_clock: trio.testing.MockClock,
) -> None:
    forwarder, _ = _forwarder(_statuses(500, 503, 200))
    assert forwarder.retrying is None
    before = time.time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(forwarder.deliver, _event(stream_id="17-0"))
        await trio.sleep(1.5)  # the first attempt failed, the second too
        retrying = forwarder.retrying
        assert retrying is not None
        assert (retrying.stream_id, retrying.delivery_id) == ("17-0", "d-1")
        assert (retrying.event_type, retrying.attempts) == ("push", 2)
        assert retrying.last_error == "target answered 503"
        assert before <= retrying.since <= time.time()
    assert forwarder.retrying is None  # delivered on the third attempt


@pytest.mark.parametrize(
    ("stream_id", "max_attempts", "says"),
    [
        pytest.param("17-0", None, "until it succeeds", id="durable-unlimited"),
        pytest.param("", 3, "", id="limited"),
    ],
)
async def test_retry_log_names_max_attempts_only_when_there_is_a_limit(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    stream_id: str,
    max_attempts: int | None,
    says: str,
) -> None:
    forwarder, _ = _forwarder(_statuses(500, 200), retries=2)
    assert (await forwarder.deliver(_event(stream_id=stream_id))).ok
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert getattr(warning, "max_attempts", None) == max_attempts
    line = PrettyFormatter(timestamps=False).format(warning)
    assert ("max_attempts=" in line) == (max_attempts is not None)
    assert "max_attempts=0" not in line
    assert says in warning.getMessage()


async def _deliver_then_stop(
    forwarder: Forwarder, event: IncomingEvent, stop_after: float
) -> tuple[DeliveryResult, float]:
    """Deliver ``event``, calling ``stop_retrying()`` ``stop_after`` seconds in;
    returns the result and how long the delivery went on after the stop."""
    results: list[DeliveryResult] = []

    async def deliver() -> None:
        results.append(await forwarder.deliver(event))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver)
        await trio.sleep(stop_after)
        stopped = trio.current_time()
        forwarder.stop_retrying()
    [result] = results
    return result, trio.current_time() - stopped


async def test_stop_retrying_ends_a_back_off_wait_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    forwarder, seen = _forwarder(
        lambda r: httpx.Response(503, headers={"Retry-After": "30"})
    )
    result, after_stop = await _deliver_then_stop(forwarder, _event("17-0"), 5.0)
    assert after_stop == 0
    assert result.abandoned and not result.ok
    assert (result.attempts, result.status, len(seen)) == (1, 503, 1)
    assert forwarder.retrying is None


@pytest.mark.parametrize(
    ("status", "ok"),
    [pytest.param(200, True, id="succeeds"), pytest.param(500, False, id="fails")],
)
async def test_stop_retrying_lets_the_attempt_in_flight_finish(
    autojump_clock: trio.testing.MockClock, status: int, ok: bool
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(3)
        return httpx.Response(status)

    forwarder, seen = _forwarder(slow)
    result, after_stop = await _deliver_then_stop(forwarder, _event("17-0"), 1.0)
    assert after_stop == pytest.approx(2.0)  # the attempt's remaining time, no wait
    assert (result.ok, result.abandoned, result.status) == (ok, not ok, status)
    assert result.attempts == len(seen) == 1
