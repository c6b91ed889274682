"""Delivery of events to the target: exact bytes, relayed headers, retries."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import trio

from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.targeterrors import map_httpx_errors
from gosmee_trio.errors import DeliveryError
from gosmee_trio.retry import Backoff, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one delivery ended.

    ``abandoned`` is set when ``stop_retrying()`` ended it between attempts: it
    neither succeeded nor failed for good.
    """

    ok: bool
    status: int | None
    attempts: int
    duration_ms: int
    error: DeliveryError | None = None
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class RetryState:
    """The delivery being retried: its event, attempts so far, since when, and why.

    ``since`` is the Unix time its first attempt failed.
    """

    stream_id: str
    delivery_id: str
    event_type: str
    attempts: int
    since: float
    last_error: str


class AttemptObserver(Protocol):
    """Told about every attempt as it is made (the client's metrics)."""

    def attempt_started(self) -> None: ...

    def attempt_ended(self, seconds: float) -> None: ...


class Forwarder:
    """POSTs events to the target.

    Args:
        target_url: where events go; the relayed query is appended to it.
        client: an ``httpx.AsyncClient`` whose timeout bounds each attempt.
        retries: extra attempts for events without a durable stream id; durable
            events are retried until they succeed or fail permanently.
        observer: told when each attempt starts and ends.

    Attributes:
        retrying: the delivery being retried (a failed attempt behind it and no
            outcome yet), or None.
    """

    def __init__(
        self,
        target_url: str,
        client: httpx.AsyncClient,
        retries: int,
        *,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.target_url = target_url
        self._client = client
        self._retries = retries
        self._observer = observer
        self.redacted_target = redact_url(target_url)
        self.retrying: RetryState | None = None
        self._stopping = False
        self._backoff_wait = trio.CancelScope()

    def stop_retrying(self) -> None:
        """Shutdown: make no more attempts and end a back-off wait at once.

        An attempt in flight is left alone (the caller bounds it); a delivery that
        would wait for another attempt ends with ``abandoned`` set instead.
        """
        self._stopping = True
        self._backoff_wait.cancel()

    async def run(self, events: trio.MemoryReceiveChannel[IncomingEvent]) -> None:
        """Deliver every event from ``events`` in order until the channel closes."""
        async with events:
            async for event in events:
                await self.deliver(event)

    async def deliver(self, event: IncomingEvent) -> DeliveryResult:
        """Deliver one event, retrying transient failures; never raises."""
        started = time.monotonic()
        try:
            result = await self._deliver_with_retries(event, started)
        finally:
            self.retrying = None
        extra = self._log_fields(event, result)
        if result.ok:
            log.info("delivered %s to target", event.event_type or "event", extra=extra)
        elif not result.abandoned:
            log.error(
                "delivery failed: %s",
                result.error,
                extra=extra | {"error_kind": result.error and result.error.kind},
            )
        return result

    async def _deliver_with_retries(
        self, event: IncomingEvent, started: float
    ) -> DeliveryResult:
        backoff = Backoff()
        # None: durable events are retried until they succeed.
        max_attempts = None if event.durable else self._retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                status = await self._attempt(event, attempt)
            except DeliveryError as error:
                if not error.retryable or attempt == max_attempts:
                    return DeliveryResult(
                        False, error.status, attempt, _ms(started), error
                    )
                self._note_retry(event, error, attempt)
                delay = backoff.next(error.retry_after)
                self._log_retry(event, error, attempt, max_attempts, delay)
                if not await self._wait_out_backoff(delay):
                    return DeliveryResult(
                        False, error.status, attempt, _ms(started), error, True
                    )
            else:
                return DeliveryResult(True, status, attempt, _ms(started))

    async def _wait_out_backoff(self, delay: float) -> bool:
        """Sleep ``delay``; False when ``stop_retrying()`` came first."""
        if self._stopping:
            return False
        self._backoff_wait = trio.CancelScope()
        with self._backoff_wait:
            await trio.sleep(delay)
        return not self._backoff_wait.cancelled_caught

    async def _attempt(self, event: IncomingEvent, attempt: int) -> int:
        if self._observer is None:
            return await self._deliver_once(event, attempt)
        self._observer.attempt_started()
        began = time.monotonic()
        try:
            return await self._deliver_once(event, attempt)
        finally:
            self._observer.attempt_ended(time.monotonic() - began)

    def _note_retry(
        self, event: IncomingEvent, error: DeliveryError, attempt: int
    ) -> None:
        since = self.retrying.since if self.retrying is not None else time.time()
        self.retrying = RetryState(
            event.stream_id,
            event.delivery_id,
            event.event_type,
            attempt,
            since,
            str(error),
        )

    async def _deliver_once(self, event: IncomingEvent, attempt: int) -> int:
        with map_httpx_errors(attempt):
            url = target_with_query(self.target_url, event.query)
            request = self._client.build_request(
                "POST", url, content=event.body, headers=_encode_headers(event.headers)
            )
            _drop_client_defaults(request, event)
            # Only the status matters: the answer's body is not read at all, so a
            # target that answers with megabytes costs nothing.
            response = await self._client.send(request, stream=True)
            await response.aclose()
        if response.status_code >= 300:
            raise DeliveryError(
                f"target answered {response.status_code}",
                kind="http_status",
                retryable=is_retryable_status(response.status_code),
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                attempt=attempt,
            )
        return response.status_code

    def _log_fields(
        self, event: IncomingEvent, result: DeliveryResult
    ) -> dict[str, object]:
        return {
            "event_type": event.event_type,
            "delivery_id": event.delivery_id,
            "stream_id": event.stream_id,
            "target": self.redacted_target,
            "http_status": result.status,
            "attempt": result.attempts,
            "duration_ms": result.duration_ms,
        }

    def _log_retry(
        self,
        event: IncomingEvent,
        error: DeliveryError,
        attempt: int,
        max_attempts: int | None,
        delay: float,
    ) -> None:
        extra: dict[str, object] = {
            "event_type": event.event_type,
            "delivery_id": event.delivery_id,
            "stream_id": event.stream_id,
            "target": self.redacted_target,
            "attempt": attempt,
            "error_kind": error.kind,
            "retryable": error.retryable,
            "http_status": error.status,
            "retry_after": error.retry_after,
        }
        if max_attempts is None:
            # No max_attempts key: "0" read as "never retry", and a word in a
            # numeric field trips up log pipelines that index it.
            message = "delivery attempt failed, retrying in %.1fs until it succeeds: %s"
        else:
            message = "delivery attempt failed, retrying in %.1fs: %s"
            extra["max_attempts"] = max_attempts
        log.warning(message, delay, error, extra=extra)


def target_with_query(target_url: str, query: tuple[tuple[str, str], ...]) -> str:
    """``target_url`` with the relayed query appended, repeated keys in order."""
    if not query:
        return target_url
    # %20 rather than +, the form most senders use in a URL.
    encoded = urlencode(query, quote_via=quote)
    parts = urlsplit(target_url)
    merged = f"{parts.query}&{encoded}" if parts.query else encoded
    return urlunsplit(parts._replace(query=merged))


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment, safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# Headers httpx adds on its own; the target gets them only if the webhook had them.
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "connection", "user-agent")


def _drop_client_defaults(request: httpx.Request, event: IncomingEvent) -> None:
    sent = {name.lower() for name, _ in event.headers}
    for name in _CLIENT_DEFAULTS:
        if name not in sent and name in request.headers:
            del request.headers[name]


def _encode_headers(headers: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    # httpx would encode str values as ASCII and fail on "café"; the relay carried
    # them as UTF-8, so that is what goes back on the wire.
    return [(name.encode("latin-1"), value.encode()) for name, value in headers]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
