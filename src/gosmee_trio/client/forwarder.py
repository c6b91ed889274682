"""Delivery of events to the target: exact bytes, relayed headers, retries."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
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
    """How one delivery ended."""

    ok: bool
    status: int | None
    attempts: int
    duration_ms: int
    error: DeliveryError | None = None


class Forwarder:
    """POSTs events to the target.

    Args:
        target_url: where events go; the relayed query is appended to it.
        client: an ``httpx.AsyncClient`` whose timeout bounds each attempt.
        retries: extra attempts for events without a durable stream id; durable
            events are retried until they succeed or fail permanently.
    """

    def __init__(
        self, target_url: str, client: httpx.AsyncClient, retries: int
    ) -> None:
        self.target_url = target_url
        self._client = client
        self._retries = retries
        self.redacted_target = redact_url(target_url)

    async def run(self, events: trio.MemoryReceiveChannel[IncomingEvent]) -> None:
        """Deliver every event from ``events`` in order until the channel closes."""
        async with events:
            async for event in events:
                await self.deliver(event)

    async def deliver(self, event: IncomingEvent) -> DeliveryResult:
        """Deliver one event, retrying transient failures; never raises."""
        started = time.monotonic()
        result = await self._deliver_with_retries(event, started)
        extra = self._log_fields(event, result)
        if result.ok:
            log.info("delivered %s to target", event.event_type or "event", extra=extra)
        else:
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
        max_attempts = 0 if event.durable else self._retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                status = await self._deliver_once(event, attempt)
            except DeliveryError as error:
                if not error.retryable or attempt == max_attempts:
                    return DeliveryResult(
                        False, error.status, attempt, _ms(started), error
                    )
                delay = backoff.next(error.retry_after)
                log.warning(
                    "delivery attempt failed, retrying in %.1fs: %s",
                    delay,
                    error,
                    extra=self._retry_fields(event, error, attempt, max_attempts),
                )
                await trio.sleep(delay)
            else:
                return DeliveryResult(True, status, attempt, _ms(started))

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

    def _retry_fields(
        self,
        event: IncomingEvent,
        error: DeliveryError,
        attempt: int,
        max_attempts: int,
    ) -> dict[str, object]:
        return {
            "event_type": event.event_type,
            "delivery_id": event.delivery_id,
            "stream_id": event.stream_id,
            "target": self.redacted_target,
            "attempt": attempt,
            "max_attempts": max_attempts,
            "error_kind": error.kind,
            "retryable": error.retryable,
            "http_status": error.status,
            "retry_after": error.retry_after,
        }


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
