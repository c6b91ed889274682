"""``gosmee-trio replay`` as a real process, against a fake GitHub API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial

import pytest
import trio

from tests.e2e.fake_github import FakeGitHub
from tests.e2e.processes import OutputLog
from tests.e2e.replay_data import GUID, HOOK, TOKEN, short_id, start_github
from tests.helpers import RecordingTarget

COMMAND = [sys.executable, "-m", "gosmee_trio", "replay"]


@pytest.fixture
async def github(nursery: trio.Nursery) -> FakeGitHub:
    return await start_github(nursery)


def _env(**extra: str) -> dict[str, str]:
    # No proxy either: the fake API and the target are on the loopback.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOSMEE_", "GITHUB_")) and "proxy" not in k.lower()
    }
    return env | extra


async def _run(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    # Generous: an interpreter start-up takes seconds on a loaded CI machine.
    with trio.fail_after(50):
        return await trio.run_process(
            [*COMMAND, *args],
            check=False,
            capture_stdout=True,
            capture_stderr=True,
            env=_env(**env),
        )


async def test_cli_list_hooks_prints_every_page_as_a_table(github: FakeGitHub) -> None:
    repo = await _run("-t", TOKEN, "--github-api-url", github.url, "-L", "octo/hello")
    org = await _run(
        "--list-hooks", "octo", GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url
    )

    assert repo.returncode == 0, repo.stderr
    assert repo.stdout.decode() == (
        "ID        NAME  ACTIVE  EVENTS             URL\n"
        "7         web   yes     push,pull_request  https://ci.example.com/webhook\n"
        "12345678  web   no      *                  https://smee.example.org/abc\n"
        "9         web   yes     push,pull_request  https://ci.example.com/other\n"
    )
    assert org.returncode == 0, org.stderr
    assert org.stdout.decode() == (
        "ID  NAME  ACTIVE  EVENTS             URL\n"
        "42  web   yes     push,pull_request  https://ci.example.com/org\n"
    )
    assert [s.path for s in github.requests] == [
        "/repos/octo/hello/hooks",
        "/repos/octo/hello/hooks",
        "/orgs/octo/hooks",
    ]


async def test_cli_list_deliveries_prints_a_table(github: FakeGitHub) -> None:
    github.deliveries[HOOK][0].redelivery = True
    github.deliveries[HOOK][1].action = "opened"
    github.deliveries[HOOK][1].event = "issues"
    api = ("-t", TOKEN, "--github-api-url", github.url)
    recent = await _run(*api, "-D", "-T", "2024-05-01T12:03:00", "octo/hello", "7")
    everything = await _run(*api, "--list-deliveries", "octo/hello", "7")

    assert recent.returncode == 0, recent.stderr
    assert recent.stdout.decode() == (
        "ID   DELIVERED AT (UTC)   EVENT  ACTION  STATUS  GUID\n"
        f"222  2024-05-01T12:05:00  push           200     {GUID}222\n"
        f"150  2024-05-01T12:04:00  push           200     {GUID}150\n"
        f"410  2024-05-01T12:03:00  push           200     {GUID}410\n"
    )
    lines = everything.stdout.decode().splitlines()
    assert len(lines) == 8
    assert lines[-2].split() == [
        "102",
        "2024-05-01T11:59:00",
        "issues",
        "opened",
        "200",
        "0b989ba4-242f-11e5-81e1-000000000102",
    ]
    assert lines[-1].split()[:5] == [
        "101",
        "2024-05-01T10:00:00",
        "push",
        "200",
        "(redelivery)",
    ]


async def test_cli_replays_then_exits_zero_on_sigterm(
    nursery: trio.Nursery, github: FakeGitHub, target: RecordingTarget
) -> None:
    args = [
        *COMMAND,
        "-T",
        "2024-05-01T12:03:00",
        "octo/hello",
        "7",
        f"{target.url}/arg",
    ]
    # The argument wins over GOSMEE_TARGET_URL (upstream lets the variable win).
    env = _env(
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github.url,
        GOSMEE_TARGET_URL=f"{target.url}/env",
    )
    with trio.fail_after(50):
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process, args, check=False, stderr=subprocess.PIPE, env=env
            )
        )
        received = [await target.next() for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
        assert process.stderr is not None
        log = b""
        while chunk := await process.stderr.receive_some():
            log += chunk

    assert [r.path for r in received] == ["/arg"] * 3
    assert [short_id(r) for r in received] == [
        "410",
        "150",
        "222",
    ]
    assert log.count(b"delivered push to target") == 3
    assert TOKEN.encode() not in log


USAGE_ERRORS = {
    "no-token": (
        ["octo/hello", "7", "http://127.0.0.1:9"],
        'required flag "github-token" not set',
    ),
    "no-org": (["-t", TOKEN], "at least an org is required or an org/repo"),
    "no-hook-id": (
        ["-t", TOKEN, "octo/hello"],
        "hook-id is required, use --list-hooks to get the hook id",
    ),
    "zero-hook-id": (
        ["-t", TOKEN, "octo/hello", "0"],
        "hook-id is required, use --list-hooks to get the hook id",
    ),
    "no-target": (
        ["-t", TOKEN, "octo/hello", "7"],
        "missing the target url where to forward the webhook, "
        "ie: http://localhost:8080",
    ),
}


async def test_cli_usage_errors_are_one_line() -> None:
    results: dict[str, tuple[int, str]] = {}

    async def run(name: str, args: list[str]) -> None:
        result = await _run(*args)
        results[name] = (result.returncode, result.stderr.decode())

    # Concurrently: each case is a whole interpreter start-up.
    async with trio.open_nursery() as nursery:
        for name, (args, _) in USAGE_ERRORS.items():
            nursery.start_soon(run, name, args)

    assert results == {
        name: (1, f"gosmee-trio: error: {message}\n")
        for name, (_, message) in USAGE_ERRORS.items()
    }


async def test_cli_bad_token_names_github_answer(github: FakeGitHub) -> None:
    result = await _run("-t", "ghp_wrong", "--github-api-url", github.url, "-L", "octo")

    assert result.returncode == 1
    assert result.stderr.decode().startswith(
        "gosmee-trio: error: cannot list hooks: GitHub answered 401 for "
        "/orgs/octo/hooks: Bad credentials (the token needs"
    )


async def _start_replay(
    nursery: trio.Nursery, github: FakeGitHub, *args: str
) -> tuple[trio.Process, OutputLog]:
    process: trio.Process = await nursery.start(
        partial(
            trio.run_process,
            [*COMMAND, *args],
            check=False,
            stderr=subprocess.PIPE,
            env=_env(GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url),
        )
    )
    log = OutputLog()
    nursery.start_soon(log.drain, process.stderr)
    return process, log


@pytest.mark.parametrize(
    ("answers", "attempts", "outcome"),
    [
        pytest.param([503, 503], 3, b"delivered push to target", id="recovers"),
        pytest.param(
            [503] * 4, 3, b"delivery failed: target answered 503", id="gives-up"
        ),
    ],
)
async def test_cli_replay_retries_the_target_as_the_client_does(
    nursery: trio.Nursery,
    github: FakeGitHub,
    target: RecordingTarget,
    answers: list[int],
    attempts: int,
    outcome: bytes,
) -> None:
    target.statuses = list(answers)
    # Two retries: back-off waits 1 s, then 2 s, before attempts 2 and 3.
    args = ["--target-retries", "2", "-T", "2024-05-01T12:05:00", "octo/hello", "7"]
    with trio.fail_after(50):
        process, log = await _start_replay(nursery, github, *args, target.url)
        # Logged once the last attempt has been answered: the target has seen
        # every attempt, and the retry warnings came before it.
        await log.wait_for(outcome)
        process.send_signal(signal.SIGTERM)
        code = await process.wait()

    assert len(target.received) == attempts
    assert [short_id(r) for r in target.received] == ["222"] * attempts
    assert {r.body for r in target.received} == {'{"n":5,"text":"café"}'.encode()}
    assert log.text.count(b"delivery attempt failed, retrying in") == 2
    assert log.text.count(outcome) == 1
    # NOTE: as upstream, a delivery that failed for good is logged at ERROR and
    # not replayed again; the command goes on polling and exits 0 on SIGTERM.
    assert code == 0, log.text
