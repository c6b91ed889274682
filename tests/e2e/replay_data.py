"""Sample GitHub data for the replay tests, and the seeded fake API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio

from tests.e2e.fake_github import FakeDelivery, FakeGitHub, github_delivery
from tests.helpers import Received

TOKEN = "ghp_replayTestToken0123456789"
HOOK = "/repos/octo/hello/hooks/7"
DELIVERIES = f"{HOOK}/deliveries"
SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GUID = "0b989ba4-242f-11e5-81e1-000000000"


def hook_object(hook_id: int, url: str, *, active: bool = True) -> dict[str, object]:
    """A repository hook as GitHub lists it."""
    api = f"https://api.github.com/repos/octo/hello/hooks/{hook_id}"
    return {
        "type": "Repository",
        "id": hook_id,
        "name": "web",
        "active": active,
        "events": ["push", "pull_request"] if active else ["*"],
        "config": {"content_type": "json", "insecure_ssl": "0", "url": url},
        "updated_at": "2024-04-03T00:57:16Z",
        "created_at": "2024-04-03T00:57:16Z",
        "url": api,
        "test_url": f"{api}/test",
        "ping_url": f"{api}/pings",
        "deliveries_url": f"{api}/deliveries",
        "last_response": {"code": None, "status": "unused", "message": None},
    }


def new_delivery(delivery_id: int, minutes: int) -> FakeDelivery:
    """A push delivery made ``minutes`` after ``SINCE``."""
    at = SINCE + timedelta(minutes=minutes)
    return github_delivery(delivery_id, at, {"n": minutes, "text": "café"})


async def start_github(nursery: trio.Nursery) -> FakeGitHub:
    """The fake API with three repository hooks, one organisation hook, and seven
    deliveries of hook 7: two before ``SINCE``, five after (ids out of time order,
    as replay must go by ``delivered_at``)."""
    fake = FakeGitHub(TOKEN)
    fake.hooks["/repos/octo/hello/hooks"] = [
        hook_object(7, "https://ci.example.com/webhook"),
        hook_object(12345678, "https://smee.example.org/abc", active=False),
        hook_object(9, "https://ci.example.com/other"),
    ]
    org_hook = hook_object(42, "https://ci.example.com/org") | {"type": "Organization"}
    fake.hooks["/orgs/octo/hooks"] = [org_hook]
    fake.deliveries[HOOK] = [
        github_delivery(101, SINCE - timedelta(hours=2), {"old": 2}),
        github_delivery(102, SINCE - timedelta(minutes=1), {"old": 1}),
        new_delivery(305, 1),
        new_delivery(201, 2),
        new_delivery(410, 3),
        new_delivery(150, 4),
        new_delivery(222, 5),
    ]
    await nursery.start(fake.run)
    return fake


def short_id(received: Received) -> str:
    """The last three digits of a forwarded delivery's GUID: its sample id."""
    return (received.header("x-github-delivery") or "")[-3:]
