"""The GitHub client's error mapping and link checks, over httpx.MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from gosmee_trio.errors import GitHubError
from gosmee_trio.replay.github import GitHubClient
from gosmee_trio.replay.model import Scope

API = "https://ghe.example.com/api/v3"
ORG = Scope("octo")


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> GitHubClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GitHubClient(http, token="ghp_secret", api_url=API + "/")


async def test_github_client_keeps_the_enterprise_path_prefix() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[])

    assert await _client(handler).list_hooks(ORG) == []
    assert seen == [f"{API}/orgs/octo/hooks?per_page=100"]


async def test_github_client_never_follows_a_link_to_another_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<https://elsewhere.example/orgs/octo/hooks?page=2>; rel="next"'
        hook = {"id": 1, "name": "web", "config": {"url": "https://x.example"}}
        return httpx.Response(200, json=[hook], headers={"Link": link})

    with pytest.raises(
        GitHubError,
        match=r"^expected the next page on 'https://ghe.example.com/api/v3', "
        r"got a link to 'https://elsewhere.example/orgs/octo/hooks\?page=2'$",
    ):
        await _client(handler).list_hooks(ORG)


@pytest.mark.parametrize(
    ("response", "message", "retryable"),
    [
        pytest.param(
            httpx.Response(502, json={"message": "Server Error"}),
            r"^GitHub answered 502 for /api/v3/orgs/octo/hooks: Server Error$",
            True,
            id="5xx",
        ),
        pytest.param(
            httpx.Response(404, json={"message": "Not Found"}),
            r"^GitHub answered 404 for /api/v3/orgs/octo/hooks: Not Found \(the token",
            False,
            id="404",
        ),
        pytest.param(
            httpx.Response(200, text="<html>", headers={"Content-Type": "text/html"}),
            r"^expected JSON from /api/v3/orgs/octo/hooks, got 'text/html'$",
            False,
            id="not-json",
        ),
        pytest.param(
            httpx.Response(200, json={"message": "odd"}),
            r"^expected a JSON array from /orgs/octo/hooks, got dict$",
            False,
            id="not-a-list",
        ),
    ],
)
async def test_github_client_errors_say_what_github_answered(
    response: httpx.Response, message: str, retryable: bool
) -> None:
    with pytest.raises(GitHubError, match=message) as caught:
        await _client(lambda request: response).list_hooks(ORG)
    assert caught.value.retryable is retryable


async def test_github_client_network_trouble_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(GitHubError, match=r"^cannot reach GitHub at") as caught:
        await _client(handler).get_delivery(ORG, 7, 1)
    assert caught.value.retryable
    assert "ghp_secret" not in str(caught.value)
