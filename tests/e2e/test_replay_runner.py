"""The replay loop against a fake GitHub API and a real recording target."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import httpx
import pytest
import trio

from gosmee_trio.client.forwarder import Forwarder
from gosmee_trio.client.hooks import HookConfig
from gosmee_trio.errors import GitHubError
from gosmee_trio.replay.github import GitHubClient
from gosmee_trio.replay.model import Scope
from gosmee_trio.replay.runner import Replayer
from tests.e2e.fake_github import FakeGitHub
from tests.e2e.replay_data import (
    DELIVERIES,
    GUID,
    HOOK,
    SINCE,
    TOKEN,
    new_delivery,
    short_id,
    start_github,
)
from tests.helpers import RecordingTarget

REPO = Scope("octo", "hello")
# Rounds follow each other almost at once: each test sees several in well under
# a second, without waiting on the 5 s default.
FAST_POLL = 0.01


@pytest.fixture
async def github(nursery: trio.Nursery) -> FakeGitHub:
    return await start_github(nursery)


def _replayer(
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
    *,
    token: str = TOKEN,
) -> Replayer:
    client = GitHubClient(http, token=token, api_url=github.url)
    forwarder = Forwarder(f"{target.url}/hook", http, retries=2)
    return Replayer(client, REPO, 7, forwarder, since=SINCE, poll_interval=FAST_POLL)


def _compact(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def test_replay_forwards_every_page_oldest_first_exactly_once(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
) -> None:
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)
        first = list(target.received)

        github.deliveries[HOOK] += [new_delivery(500, 10), new_delivery(499, 11)]
        later = [await target.next() for _ in range(7)][5:]
        listed = len(github.to(DELIVERIES))
        await github.wait_for(lambda: len(github.to(DELIVERIES)) >= listed + 2)

    assert [r.body for r in first] == [
        _compact({"n": m, "text": "café"}) for m in range(1, 6)
    ]
    assert [r.header("x-github-delivery") for r in later] == [
        "0b989ba4-242f-11e5-81e1-000000000500",
        "0b989ba4-242f-11e5-81e1-000000000499",
    ]
    assert len(target.received) == 7
    for delivery_id in (305, 201, 410, 150, 222, 500, 499):
        assert len(github.to(f"{DELIVERIES}/{delivery_id}")) == 1
    assert not github.to(f"{DELIVERIES}/101") and not github.to(f"{DELIVERIES}/102")
    # The page holding only older deliveries is never asked for.
    assert all(seen.query.get("cursor") != "v1_101" for seen in github.to(DELIVERIES))
    assert any(seen.query.get("cursor") == "v1_305" for seen in github.to(DELIVERIES))


async def test_replay_sends_github_headers_and_the_relayed_request(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
) -> None:
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)

    api = github.requests[0]
    assert api.query == {"per_page": "100"}
    assert api.headers["authorization"] == f"Bearer {TOKEN}"
    assert api.headers["accept"] == "application/vnd.github+json"
    assert api.headers["x-github-api-version"] == "2022-11-28"
    assert api.headers["user-agent"].startswith("gosmee-trio/")

    received = target.received[0]
    assert received.method == "POST" and received.path == "/hook"
    assert received.body == '{"n":1,"text":"café"}'.encode()
    assert [v for k, v in received.headers if k == "content-type"] == [
        "application/json"
    ]
    assert received.header("x-github-event") == "push"
    assert (
        received.header("x-github-delivery") == "0b989ba4-242f-11e5-81e1-000000000305"
    )
    assert received.header("user-agent") == "GitHub-Hookshot/a1b2c3d"
    assert received.header("content-length") == str(len(received.body))


async def test_replay_waits_out_a_403_until_the_rate_limit_resets(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    reset = math.ceil(time.time()) + 1
    refusal = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    message = {
        "message": "API rate limit exceeded for user ID 1.",
        "documentation_url": "",
    }
    github.scripted[f"{DELIVERIES}/305"] = [(403, refusal, message)]
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)

    refused, answered = github.to(f"{DELIVERIES}/305")
    assert answered.at >= reset
    assert len(target.received) == 5
    (warning,) = [r for r in caplog.records if r.name == "gosmee_trio.replay.github"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith("GitHub rate limit reached, waiting ")


async def test_replay_waits_out_a_429_retry_after(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
) -> None:
    message = {"message": "You have exceeded a secondary rate limit."}
    github.scripted[DELIVERIES] = [(429, {"Retry-After": "1"}, message)]
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)

    refused, answered = github.to(DELIVERIES)[:2]
    assert answered.at - refused.at >= 0.9
    assert len(target.received) == 5


async def test_replay_waits_for_the_reset_once_the_quota_is_used_up(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
) -> None:
    reset = math.ceil(time.time()) + 1
    used_up = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    github.scripted[DELIVERIES] = [(None, used_up, None)]
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)

    # The list itself was answered; the request after it waited for the reset.
    assert github.requests[0].path == DELIVERIES
    assert github.requests[1].at >= reset
    assert len(target.received) == 5


async def test_replay_retries_github_server_errors_on_the_next_round(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    github.scripted[DELIVERIES] = [(502, {}, {"message": "Server Error"})]
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)
        bodies = [(await target.next()).body for _ in range(5)]

    assert bodies[0] == _compact({"n": 1, "text": "café"})
    assert any(
        r.getMessage().startswith("cannot read deliveries from GitHub, retrying in 1s")
        for r in caplog.records
    )


async def test_replay_skips_a_delivery_github_no_longer_keeps(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
) -> None:
    github.scripted[f"{DELIVERIES}/410"] = [(404, {}, {"message": "Not Found"})]
    with trio.fail_after(20):
        await nursery.start(_replayer(github, target, http).run)
        listed = len(github.to(DELIVERIES))
        await github.wait_for(lambda: len(github.to(DELIVERIES)) >= listed + 2)

    assert [short_id(r) for r in target.received] == [
        "305",
        "201",
        "150",
        "222",
    ]
    assert len(github.to(f"{DELIVERIES}/410")) == 1


async def test_replay_with_a_bad_token_fails_with_github_message(
    github: FakeGitHub, target: RecordingTarget, http: httpx.AsyncClient
) -> None:
    replayer = _replayer(github, target, http, token="ghp_wrong")
    with pytest.raises(
        GitHubError,
        match=r"^GitHub answered 401 for /repos/octo/hello/hooks/7/deliveries: "
        r"Bad credentials \(the token needs",
    ):
        await replayer.poll()


async def test_replay_stop_lets_the_delivery_in_flight_finish(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    target.statuses = [0.3]
    replayer = _replayer(github, target, http)
    done = trio.Event()

    async def run() -> None:
        await replayer.run()
        done.set()

    with trio.fail_after(20):
        nursery.start_soon(run)
        await target.next()
        replayer.stop()
        await done.wait()

    assert len(target.received) == 1
    delivered = [
        r for r in caplog.records if r.getMessage() == "delivered push to target"
    ]
    assert len(delivered) == 1


async def test_replay_saves_runs_the_hook_and_stops_at_once_when_idle(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    github.deliveries[HOOK] = [new_delivery(305, 1)]
    ids = tmp_path / "hook-ran"
    client = GitHubClient(http, token=TOKEN, api_url=github.url)
    replayer = Replayer(
        client,
        REPO,
        7,
        Forwarder(f"{target.url}/hook", http, retries=0),
        since=SINCE,
        save_dir=tmp_path / "saved",
        hook=HookConfig(f'echo "$GOSMEE_EVENT_ID" >> {ids}'),
        poll_interval=3600,
    )
    done = trio.Event()

    async def run(*, task_status: trio.TaskStatus[None]) -> None:
        await replayer.run(task_status=task_status)
        done.set()

    with trio.fail_after(20):
        await nursery.start(run)
        replayer.stop()  # idle: waiting an hour for the next round
        await done.wait()

    (body,) = (tmp_path / "saved").glob("push-2024-05-01T12.01.00.000.json")
    assert body.read_bytes() == target.received[0].body
    assert ids.read_text() == f"{GUID}305\n"
