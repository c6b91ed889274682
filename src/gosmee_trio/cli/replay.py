"""``gosmee-trio replay``."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import httpx
import trio
from cyclopts import Parameter

from gosmee_trio.cli import app
from gosmee_trio.cli.common import (
    ConfigOption,
    ExecEnvVarsOption,
    ExecOnEventsOption,
    ExecOption,
    LogLevelOption,
    NoColorOption,
    OutputOption,
    SaveDirOption,
    TargetRetriesOption,
    TargetTimeoutOption,
    fail,
    fail_config,
    on_signals,
    setup_logging,
    split_commas,
)
from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.client.forwarder import Forwarder
from gosmee_trio.client.hooks import HookConfig
from gosmee_trio.config import DEFAULT_TARGET_RETRIES, DEFAULT_TARGET_TIMEOUT
from gosmee_trio.errors import ConfigError, GitHubError, first_leaf
from gosmee_trio.replay.github import API_TIMEOUT, DEFAULT_API_URL, GitHubClient
from gosmee_trio.replay.model import Scope, parse_time_since
from gosmee_trio.replay.runner import Replayer
from gosmee_trio.replay.tables import deliveries_table, hooks_table

T = TypeVar("T")

MISSING_HOOK_ID = "hook-id is required, use --list-hooks to get the hook id"
MISSING_TARGET = (
    "missing the target url where to forward the webhook, ie: http://localhost:8080"
)


@app.command
async def replay(
    org_repo: str = "",
    hook_id: str = "",
    target_url: str = "",
    /,
    *,
    github_token: Annotated[
        str, Parameter(name=["--github-token", "-t"], env_var="GITHUB_TOKEN")
    ] = "",
    list_hooks: Annotated[
        bool, Parameter(name=["--list-hooks", "-L"], negative=())
    ] = False,
    list_deliveries: Annotated[
        bool, Parameter(name=["--list-deliveries", "-D"], negative=())
    ] = False,
    time_since: Annotated[str, Parameter(name=["--time-since", "-T"])] = "",
    github_api_url: Annotated[
        str,
        Parameter(name="--github-api-url", env_var="GITHUB_API_URL", show=False),
    ] = DEFAULT_API_URL,
    save_dir: SaveDirOption = None,
    exec_command: ExecOption = "",
    exec_on_events: ExecOnEventsOption = None,
    exec_env_vars: ExecEnvVarsOption = None,
    target_connection_timeout: TargetTimeoutOption = DEFAULT_TARGET_TIMEOUT,
    target_retries: TargetRetriesOption = DEFAULT_TARGET_RETRIES,
    log_level: LogLevelOption = "info",
    output: OutputOption = "pretty",
    nocolor: NoColorOption = False,
    config_file: ConfigOption = None,
) -> None:
    """Replay a GitHub hook's past deliveries to a target, then keep polling.

    Usage: gosmee-trio replay [OPTIONS] ORG[/REPO] [HOOK_ID [TARGET_URL]]. Reads
    the hook's deliveries from the GitHub API, oldest first, and forwards each
    once, with the client's retries. Polls for new ones every 5 seconds until
    SIGINT or SIGTERM. The target URL given as an argument wins over
    GOSMEE_TARGET_URL (upstream gosmee lets the variable win), which wins over
    the config file. Missing arguments come from org-repo, hook-id and target-url
    in the config file's replay section. Payloads come back from GitHub parsed and
    are re-serialised, so signatures do not verify.

    Args:
        org_repo: ORG for an organisation's hooks, ORG/REPO for a repository's.
        hook_id: The hook whose deliveries to replay (see --list-hooks).
        target_url: Where to POST each delivery; default GOSMEE_TARGET_URL.
        github_token: GitHub token that may read the hooks (required).
        list_hooks: List the hooks of ORG or ORG/REPO and exit.
        list_deliveries: List HOOK_ID's deliveries and exit: the newest 100,
            or with --time-since all of them since then.
        time_since: Replay deliveries made at or after this UTC time,
            YYYY-MM-DDTHH:MM:SS (default: now, so only new deliveries).
        github_api_url: GitHub API base URL, e.g. https://HOST/api/v3 for
            GitHub Enterprise Server.
        save_dir: Also save each delivery's body (.json) and a replay script (.sh).
        exec_command: Shell command run (sh -c) after each successful delivery.
        exec_on_events: Only run --exec for these event types.
        exec_env_vars: Names of extra environment variables passed to --exec.
        target_connection_timeout: Seconds allowed for each POST to the target.
        target_retries: Extra attempts for transient target failures.
        log_level: debug, info, warn or error.
        output: Log format: pretty or json.
        nocolor: No colour in log output (also when NO_COLOR is set).
        config_file: YAML configuration file (default: gosmee/config.yaml in the
            user's config directory, if it exists).
    """
    setup_logging(log_level, output, nocolor)
    org_repo = org_repo or CONFIG_FILE.positional("org-repo")
    hook_id = hook_id or CONFIG_FILE.positional("hook-id")
    if not github_token:
        fail('required flag "github-token" not set')
    scope = _configured(Scope.parse, org_repo, "ORG_REPO")
    since = (
        _configured(parse_time_since, time_since, "--time-since")
        if time_since
        else None
    )
    if not target_connection_timeout > 0:
        fail_config(
            ConfigError(
                "--target-connection-timeout must be a positive number of seconds, "
                f"got {target_connection_timeout!r}"
            )
        )
    async with _open_http(target_connection_timeout) as (github_http, target_http):
        github = GitHubClient(github_http, token=github_token, api_url=github_api_url)
        if list_hooks:
            await _print_hooks(github, scope)
            return
        hook = _hook_id(hook_id)
        if list_deliveries:
            await _print_deliveries(github, scope, hook, since)
            return
        forwarder = Forwarder(_target(target_url), target_http, max(target_retries, 0))
        replayer = Replayer(
            github,
            scope,
            hook,
            forwarder,
            since=since or datetime.now(UTC),
            save_dir=save_dir,
            hook=_hook_config(exec_command, exec_on_events, exec_env_vars),
        )
        await _replay_until_signals(replayer)


async def _print_hooks(github: GitHubClient, scope: Scope) -> None:
    try:
        hooks = await github.list_hooks(scope)
    except GitHubError as exc:
        fail(f"cannot list hooks: {exc}")
    sys.stdout.write(hooks_table(hooks))


async def _print_deliveries(
    github: GitHubClient, scope: Scope, hook: int, since: datetime | None
) -> None:
    try:
        found = await github.list_deliveries(scope, hook, since=since)
    except GitHubError as exc:
        fail(f"cannot list deliveries: {exc}")
    if since is not None:
        found = [d for d in found if d.delivered_at >= since]
    sys.stdout.write(deliveries_table(found))


async def _replay_until_signals(replayer: Replayer) -> None:
    problem: BaseException | None = None
    try:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def run_then_stop() -> None:
                    await replayer.run()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(run_then_stop)
                await on_signals(signals, replayer.stop, nursery.cancel_scope)
    except* GitHubError as group:
        problem = first_leaf(group)
    if problem is not None:
        fail(f"cannot replay deliveries: {problem}")


@asynccontextmanager
async def _open_http(
    target_timeout: float,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    github = httpx.AsyncClient(timeout=API_TIMEOUT)
    # NOTE: like the client, the target is reached without the environment's
    # proxy settings: it is a local service a corporate proxy cannot reach.
    target = httpx.AsyncClient(timeout=target_timeout, trust_env=False)
    try:
        yield github, target
    finally:
        with trio.move_on_after(1, shield=True):
            await github.aclose()
            await target.aclose()


def _configured(parse: Callable[[str], T], text: str, flag: str) -> T:
    try:
        return parse(text)
    except ConfigError as exc:
        fail_config(exc, flag)


def _hook_id(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        fail_config(ConfigError(MISSING_HOOK_ID, flag="HOOK_ID"))
    return int(text)


def _target(argument: str) -> str:
    # NOTE: upstream lets GOSMEE_TARGET_URL override the argument; here the
    # argument wins, as it does for every other flag and for the client.
    url = (
        argument
        or os.environ.get("GOSMEE_TARGET_URL", "")
        or CONFIG_FILE.positional("target-url")
    )
    if not url:
        fail(MISSING_TARGET)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = f"TARGET_URL must be an http:// or https:// URL, got {url!r}"
        fail_config(ConfigError(problem))
    return url


def _hook_config(
    command: str, on_events: list[str] | None, env_vars: list[str] | None
) -> HookConfig | None:
    if not command:
        return None
    return HookConfig(command, split_commas(on_events), split_commas(env_vars))
