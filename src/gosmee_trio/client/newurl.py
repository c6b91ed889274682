"""``client --new-url``: ask a relay server for a fresh channel URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx

# Upstream gosmee's default service for --new-url.
DEFAULT_NEW_URL_SERVICE = "https://hook.pipelinesascode.com"
# A /new answer is a few bytes; a server that takes longer than this is not there.
NEW_URL_TIMEOUT = 10.0


def new_url_endpoint(server_url: str | None) -> str:
    """``<scheme>://<host>/new`` of ``server_url``, or of upstream's default service."""
    parts = urlsplit(server_url or DEFAULT_NEW_URL_SERVICE)
    return urlunsplit((parts.scheme, parts.netloc, "/new", "", ""))


async def fetch_new_url(endpoint: str) -> str:
    """GET ``endpoint`` and return the channel URL it answers with.

    Raises:
        httpx.HTTPError: on a network error or an answer of 400 or more.
    """
    async with httpx.AsyncClient(timeout=NEW_URL_TIMEOUT) as http:
        response = await http.get(endpoint, headers={"Accept": "text/plain"})
    response.raise_for_status()
    return response.text.strip()
