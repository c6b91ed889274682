"""The GitHub REST calls replay needs: hooks, deliveries, one delivery.

Every list follows ``Link: <...>; rel="next"`` pagination. Rate limits are waited
out, never treated as errors: a 403 or 429 refusal is repeated after the wait
GitHub asks for, and once an answer says the quota is used up
(``X-RateLimit-Remaining: 0``) the next request waits for ``X-RateLimit-Reset``.
The token goes in the ``Authorization`` header only and is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import trio

from gosmee_trio import __version__
from gosmee_trio.errors import GitHubError
from gosmee_trio.replay.model import (
    Delivery,
    DeliverySummary,
    Hook,
    Scope,
    delivery_from_json,
    hook_from_json,
    summary_from_json,
)
from gosmee_trio.replay.ratelimit import quota_reset, refusal_wait, wait_until
from gosmee_trio.retry import is_retryable_status

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
# The REST API version whose shapes we read; GitHub keeps each one for 24 months.
API_VERSION = "2022-11-28"
# GitHub's largest page: the fewest requests against the hourly quota.
PAGE_SIZE = 100
# GitHub answers in well under a second; 30 s rides out a slow moment without
# letting one stuck request hold up the poll loop for ever.
API_TIMEOUT = 30.0
_ACCESS_HINT = (
    " (the token needs the read:repo_hook or admin:org_hook scope, or read access"
    " to webhooks for a fine-grained token)"
)


class GitHubClient:
    """A small GitHub REST client for hooks and their deliveries.

    Args:
        http: the ``httpx.AsyncClient`` to send with; the caller owns it.
        token: a GitHub token allowed to read the hooks.
        api_url: ``https://api.github.com``, or a GitHub Enterprise
            ``https://HOST/api/v3``.
    """

    def __init__(
        self, http: httpx.AsyncClient, *, token: str, api_url: str = DEFAULT_API_URL
    ) -> None:
        self._http = http
        self._api_url = api_url.rstrip("/")
        self._origin = urlsplit(self._api_url)[:2]
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"gosmee-trio/{__version__}",
        }
        # Epoch time before which the quota is known to be used up.
        self._not_before = 0.0

    async def list_hooks(self, scope: Scope) -> list[Hook]:
        """Every hook of ``scope``, all pages.

        Raises:
            GitHubError: GitHub refused, failed or answered something unexpected.
        """
        return await self._get_pages(scope.hooks_path, hook_from_json)

    async def list_deliveries(
        self, scope: Scope, hook_id: int, *, since: datetime | None = None
    ) -> list[DeliverySummary]:
        """The hook's deliveries, newest first, as GitHub lists them.

        Args:
            scope: the hook's organisation or repository.
            hook_id: the hook.
            since: follow pages back to this time (the last page may hold older
                ones too); None reads the newest 100 only.

        Raises:
            GitHubError: GitHub refused, failed or answered something unexpected.
        """

        def more(found: list[DeliverySummary]) -> bool:
            if since is None:
                return len(found) < PAGE_SIZE
            return found[-1].delivered_at >= since

        path = f"{scope.hooks_path}/{hook_id}/deliveries"
        found = await self._get_pages(path, summary_from_json, more)
        return found if since is not None else found[:PAGE_SIZE]

    async def get_delivery(
        self, scope: Scope, hook_id: int, delivery_id: int
    ) -> Delivery:
        """One delivery with its request headers and payload.

        Raises:
            GitHubError: GitHub refused, failed or answered something unexpected;
                ``status`` 404 when GitHub no longer keeps the delivery.
        """
        path = f"{scope.hooks_path}/{hook_id}/deliveries/{delivery_id}"
        response = await self._get(self._api_url + path, None)
        return delivery_from_json(_json(response))

    async def _get_pages(
        self,
        path: str,
        parse: Callable[[object], T],
        more: Callable[[list[T]], bool] = lambda found: True,
    ) -> list[T]:
        """Items of every page, until there is no next one or ``more(items so
        far)`` says the rest is not wanted."""
        url: str | None = self._api_url + path
        params: dict[str, str] | None = {"per_page": str(PAGE_SIZE)}
        items: list[T] = []
        while url is not None:
            response = await self._get(url, params)
            page = _json(response)
            if not isinstance(page, list):
                raise GitHubError(
                    f"expected a JSON array from {path}, got {type(page).__name__}"
                )
            items.extend(parse(item) for item in page)
            wanted = bool(page) and more(items)
            url = self._next_page(response) if wanted else None
            params = None  # the next link carries them
        return items

    def _next_page(self, response: httpx.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        if url is None:
            return None
        # The token goes wherever the link points: only ever to the API itself.
        if urlsplit(url)[:2] != self._origin:
            raise GitHubError(
                f"expected the next page on {self._api_url!r}, got a link to {url!r}"
            )
        return url

    async def _get(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        """GET ``url``, waiting out rate limits; only a 200 answer returns."""
        while True:
            await self._wait_for_quota(url)
            with _map_httpx_errors(url):
                response = await self._http.get(
                    url, params=params, headers=self._headers
                )
            message = _error_message(response)
            wait = refusal_wait(
                response.status_code, response.headers, message, now=time.time()
            )
            if wait is None:
                break
            self._not_before = time.time() + wait
            log.debug("GitHub refused %s: %s", _path(url), message or "rate limit")

        if (reset := quota_reset(response.headers)) is not None:
            self._not_before = time.time() + wait_until(reset, now=time.time())
        if response.status_code != 200:
            raise _status_error(response, url, message)
        return response

    async def _wait_for_quota(self, url: str) -> None:
        wait = self._not_before - time.time()
        if wait <= 0:
            return
        log.warning(
            "GitHub rate limit reached, waiting %.0fs before the next request",
            wait,
            extra={"retry_after": round(wait, 3), "path": _path(url)},
        )
        await trio.sleep(wait)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GitHubError(
            f"expected JSON from {_path(str(response.url))}, got "
            f"{response.headers.get('content-type', 'no content type')!r}"
        ) from None


def _error_message(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _status_error(response: httpx.Response, url: str, message: str) -> GitHubError:
    status = response.status_code
    text = f"GitHub answered {status} for {_path(url)}"
    if message:
        text += f": {message}"
    if status in (401, 403, 404):
        text += _ACCESS_HINT
    return GitHubError(text, status=status, retryable=is_retryable_status(status))


def _path(url: str) -> str:
    return urlsplit(url).path


@contextmanager
def _map_httpx_errors(url: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        # Timeouts and network trouble pass; the next poll tries again.
        raise GitHubError(
            f"cannot reach GitHub at {_path(url)!r}: {exc!r}", retryable=True
        ) from exc
