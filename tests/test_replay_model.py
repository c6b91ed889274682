"""ORG[/REPO] scopes, --time-since and GitHub's JSON shapes; sync and pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gosmee_trio.errors import ConfigError, GitHubError
from gosmee_trio.replay.model import (
    Scope,
    delivery_from_json,
    hook_from_json,
    parse_time_since,
    summary_from_json,
)

# From GitHub's REST reference, "Get a delivery for a repository webhook".
DELIVERY = {
    "id": 12345678,
    "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
    "delivered_at": "2019-06-03T00:57:16Z",
    "redelivery": False,
    "duration": 0.27,
    "status": "OK",
    "status_code": 200,
    "event": "issues",
    "action": "opened",
    "installation_id": 123,
    "repository_id": 456,
    "throttled_at": "2019-06-03T00:57:16Z",
    "url": "https://www.example.com",
    "request": {
        "headers": {
            "X-GitHub-Delivery": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
            "X-GitHub-Event": "issues",
            "content-type": "application/json",
        },
        "payload": {"action": "opened", "issue": {"number": 1}},
    },
    "response": {"headers": {"Content-Type": "text/html"}, "payload": "ok"},
}


@pytest.mark.parametrize(
    ("text", "scope", "path"),
    [
        pytest.param("octo", Scope("octo"), "/orgs/octo/hooks", id="org"),
        pytest.param(
            "octo/hello", Scope("octo", "hello"), "/repos/octo/hello/hooks", id="repo"
        ),
        pytest.param(" octo ", Scope("octo"), "/orgs/octo/hooks", id="trimmed"),
    ],
)
def test_scope_parse_reads_org_or_org_repo(text: str, scope: Scope, path: str) -> None:
    assert Scope.parse(text) == scope
    assert scope.hooks_path == path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", r"^at least an org is required or an org/repo$", id="empty"),
        pytest.param("a/b/c", r"^expected ORG or ORG/REPO, got 'a/b/c'$", id="deep"),
        pytest.param("/b", r"^expected ORG or ORG/REPO, got '/b'$", id="no-org"),
        pytest.param("a/", r"^expected ORG or ORG/REPO, got 'a/'$", id="no-repo"),
    ],
)
def test_scope_parse_rejects_other_shapes(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Scope.parse(text)


def test_parse_time_since_reads_utc() -> None:
    assert parse_time_since("2024-05-01T12:03:04") == datetime(
        2024, 5, 1, 12, 3, 4, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2024-05-01", id="date-only"),
        pytest.param("2024-5-1T1:2:3", id="unpadded"),
        pytest.param("2024-02-30T00:00:00", id="no-such-day"),
        pytest.param("2024-05-01T12:03:04Z", id="zone-suffix"),
    ],
)
def test_parse_time_since_rejects_other_layouts(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^expected --time-since as YYYY-MM-DD"):
        parse_time_since(text)


def test_delivery_from_json_reads_githubs_documented_example() -> None:
    delivery = delivery_from_json(DELIVERY)

    assert delivery.summary == summary_from_json(DELIVERY)
    assert delivery.summary.id == 12345678
    assert delivery.summary.delivered_at == datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC)
    assert (delivery.summary.event, delivery.summary.action) == ("issues", "opened")
    assert delivery.headers[2] == ("content-type", "application/json")
    assert delivery.payload == {"action": "opened", "issue": {"number": 1}}


def test_summary_from_json_tolerates_null_action_and_status() -> None:
    summary = summary_from_json(DELIVERY | {"action": None, "status_code": None})

    assert (summary.action, summary.status_code) == ("", 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            [], r"^expected a delivery object from GitHub, got list$", id="list"
        ),
        pytest.param(
            DELIVERY | {"id": "12"},
            r"^expected an integer 'id' in a delivery, got '12'$",
            id="string-id",
        ),
        pytest.param(
            DELIVERY | {"delivered_at": "yesterday"},
            r"^expected an ISO 8601 'delivered_at' in a delivery, got 'yesterday'$",
            id="bad-time",
        ),
        pytest.param(
            {k: v for k, v in DELIVERY.items() if k != "request"},
            r"^expected a delivery with a 'request' object from GitHub$",
            id="no-request",
        ),
    ],
)
def test_delivery_from_json_rejects_unexpected_shapes(
    data: object, message: str
) -> None:
    with pytest.raises(GitHubError, match=message):
        delivery_from_json(data)


def test_hook_from_json_reads_config_url_and_events() -> None:
    hook = hook_from_json(
        {
            "type": "Repository",
            "id": 12345678,
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {"content_type": "json", "url": "https://example.com/webhook"},
        }
    )

    assert (hook.id, hook.name, hook.active) == (12345678, "web", True)
    assert hook.events == ("push", "pull_request")
    assert hook.url == "https://example.com/webhook"
