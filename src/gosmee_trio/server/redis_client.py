"""The coredis clients the server talks to Redis with, made from ``--redis-url``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

import coredis

# Seconds to wait for Redis to accept a connection.
CONNECT_TIMEOUT = 5.0


def new_client(url: str) -> coredis.Redis[bytes]:
    """A client for ``url`` with a connection pool of its own.

    Raises:
        ValueError, RedisError: coredis does not accept the URL.
    """
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        _checking_hostname(url),
        decode_responses=False,
        connect_timeout=CONNECT_TIMEOUT,
    )
    return client


def _checking_hostname(url: str) -> str:
    """``url``, for rediss:// with ``ssl_check_hostname=true`` unless it says."""
    # NOTE: coredis (6.x) verifies the certificate chain of a rediss:// server but,
    # unless the URL asks, not that the certificate names that server: any
    # certificate from a trusted CA would pass. ssl_check_hostname=false opts out.
    parts = urlsplit(url)
    if parts.scheme != "rediss" or "ssl_check_hostname" in parse_qs(parts.query):
        return url
    query = "&".join(filter(None, [parts.query, "ssl_check_hostname=true"]))
    return urlunsplit(parts._replace(query=query))
