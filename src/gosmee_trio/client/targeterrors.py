"""Failures talking to the target, mapped to ``DeliveryError`` at one boundary."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from gosmee_trio.errors import DeliveryError


@contextmanager
def map_httpx_errors(attempt: int) -> Iterator[None]:
    """Raise the httpx errors of ``attempt`` as ``DeliveryError``."""
    try:
        yield
    except (
        httpx.LocalProtocolError,
        httpx.InvalidURL,
        UnicodeError,
        ValueError,
    ) as exc:
        # The request itself cannot be sent (a header name h11 refuses, a URL that
        # does not parse): sending it again will not help.
        raise DeliveryError(
            f"request cannot be sent to target: {describe(exc)}",
            kind="request",
            retryable=False,
            attempt=attempt,
        ) from exc
    except httpx.TimeoutException as exc:
        raise DeliveryError(
            f"target timed out: {describe(exc)}",
            kind="timeout",
            retryable=True,
            attempt=attempt,
        ) from exc
    except httpx.TransportError as exc:
        kind, retryable = _classify_transport_error(exc)
        raise DeliveryError(
            f"{kind} error talking to target: {describe(exc)}",
            kind=kind,
            retryable=retryable,
            attempt=attempt,
        ) from exc


def describe(exc: BaseException) -> str:
    """A non-empty description: httpx errors often have an empty message."""
    for cause in _causes(exc):
        if text := str(cause).strip():
            return text
    return type(exc).__name__


def _classify_transport_error(exc: BaseException) -> tuple[str, bool]:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            return "tls", False
        if isinstance(cause, socket.gaierror):
            # NXDOMAIN will not fix itself; a resolver hiccup (EAI_AGAIN) might.
            return "dns", cause.errno == socket.EAI_AGAIN
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return "network", True
    return "transport", False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
