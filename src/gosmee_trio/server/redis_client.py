"""The coredis clients the server talks to Redis with, made from ``--redis-url``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

import coredis

# Seconds to wait for Redis to accept a connection.
CONNECT_TIMEOUT = 5.0
# What our connections call themselves (CLIENT SETNAME), so that CLIENT LIST tells
# each process's one blocking reader from the pool it publishes and catches up with.
CLIENT_NAME = "gosmee-trio"
READER_NAME = "gosmee-trio-reader"


def new_client(url: str, name: str = CLIENT_NAME) -> coredis.Redis[bytes]:
    """A client for ``url`` with a connection pool of its own, whose connections
    are named ``name`` (a ``client_name`` in the URL wins).

    Raises:
        ValueError, RedisError: coredis does not accept the URL.
    """
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        _checking_hostname(url),
        decode_responses=False,
        connect_timeout=CONNECT_TIMEOUT,
        client_name=name,
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
