"""``gosmee-trio client``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import httpx
import trio
from cyclopts import Parameter

from gosmee_trio import systemd
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
    WholeNumber,
    checked,
    fail,
    fail_config,
    on_signals,
    setup_logging,
    split_commas,
)
from gosmee_trio.cli.configsource import CONFIG_FILE
from gosmee_trio.client.daemon import Client
from gosmee_trio.client.forwarder import redact_url
from gosmee_trio.client.newurl import fetch_new_url, new_url_endpoint
from gosmee_trio.config import (
    DEFAULT_KEEPALIVE,
    DEFAULT_LOCAL_DEBUG_URL,
    DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TARGET_RETRIES,
    DEFAULT_TARGET_TIMEOUT,
    ClientConfig,
)
from gosmee_trio.errors import ConfigError, first_leaf

# Go's bufio reader never went below this; kept as the floor for compatibility.
MIN_SSE_BUFFER = 4096

USAGE_ERROR = (
    "need at least a smeeURL and a targetURL as arguments, ie: gosmee-trio client "
    "https://server.smee.url/aBcdeFghijklmn http://localhost:8080"
)


@app.command
async def client(
    *urls: str,
    new_url: Annotated[bool, Parameter(name=["--new-url", "-u"], negative=())] = False,
    save_dir: SaveDirOption = None,
    httpie: Annotated[bool, Parameter(name="--httpie", negative=())] = False,
    local_debug_url: Annotated[
        str, Parameter(name="--local-debug-url")
    ] = DEFAULT_LOCAL_DEBUG_URL,
    ignore_event: Annotated[
        list[str] | None, Parameter(name=["--ignore-event", "-I"], negative=())
    ] = None,
    no_replay: Annotated[
        bool, Parameter(name=["--noReplay", "--no-replay", "-n"], negative=())
    ] = False,
    exec_command: ExecOption = "",
    exec_on_events: ExecOnEventsOption = None,
    exec_env_vars: ExecEnvVarsOption = None,
    exec_timeout: Annotated[float | None, Parameter(name="--exec-timeout")] = None,
    target_connection_timeout: TargetTimeoutOption = DEFAULT_TARGET_TIMEOUT,
    target_retries: TargetRetriesOption = DEFAULT_TARGET_RETRIES,
    insecure_skip_tls_verify: Annotated[
        bool, Parameter(name="--insecure-skip-tls-verify", negative=())
    ] = False,
    health_port: Annotated[
        WholeNumber, Parameter(name="--health-port", env_var="GOSMEE_HEALTH_PORT")
    ] = 0,
    sse_buffer_size: Annotated[
        WholeNumber,
        Parameter(name="--sse-buffer-size", env_var="GOSMEE_SSE_BUFFER_SIZE"),
    ] = 1048576,
    resume_state_file: Annotated[
        Path | None,
        Parameter(name="--resume-state-file", env_var="GOSMEE_RESUME_STATE_FILE"),
    ] = None,
    smee_stream: Annotated[bool, Parameter(name="--smee-stream", negative=())] = False,
    encryption_key_file: Annotated[
        Path | None,
        Parameter(name="--encryption-key-file", env_var="GOSMEE_ENCRYPTION_KEY_FILE"),
    ] = None,
    keepalive_interval: Annotated[
        float,
        Parameter(name="--keepalive-interval", env_var="GOSMEE_KEEPALIVE_INTERVAL"),
    ] = DEFAULT_KEEPALIVE,
    shutdown_grace: Annotated[
        float, Parameter(name="--shutdown-grace", env_var="GOSMEE_SHUTDOWN_GRACE")
    ] = DEFAULT_SHUTDOWN_GRACE,
    log_level: LogLevelOption = "info",
    output: OutputOption = "pretty",
    nocolor: NoColorOption = False,
    config_file: ConfigOption = None,
) -> None:
    """Subscribe to a channel and forward each webhook, byte for byte, to a target.

    Usage: gosmee-trio client [OPTIONS] SMEE_URL TARGET_URL. With --exec, TARGET_URL
    may be left out (events are then only handed to the hook). Without arguments the
    URLs come from GOSMEE_URL and GOSMEE_TARGET_URL, else from smee-url and target-url
    in the config file's client section.

    Args:
        urls: SMEE_URL (the channel URL) and TARGET_URL (where events are POSTed).
        new_url: Print a new channel URL and exit: from the server named by the
            first URL given, else from upstream gosmee's public service.
        save_dir: Save each event's exact body (.json) and a replay script (.sh) here.
        httpie: Write replay scripts for HTTPie instead of curl.
        local_debug_url: Target used by a replay script's -l/--local option.
        ignore_event: Event types to skip (repeatable, comma-separated).
        no_replay: Do not forward to the target (saving and --exec still happen).
        exec_command: Shell command run for each event (sh -c), after forwarding.
        exec_on_events: Only run --exec for these event types.
        exec_env_vars: Names of extra environment variables passed to --exec.
        exec_timeout: Kill an --exec command still running after this many seconds.
        target_connection_timeout: Seconds allowed for each POST to the target.
        target_retries: Extra attempts for transient target failures on events
            without a durable id (durable ones are retried until they succeed).
        insecure_skip_tls_verify: Do not verify the target's TLS certificate.
        health_port: Serve GET /health (503 while the stream is down) and GET
            /metrics (Prometheus) on this port (0: off).
        sse_buffer_size: Accepted for gosmee compatibility; the reader has no fixed
            buffer, so lines of any length are read and this has no effect.
        resume_state_file: Keep the last processed stream id here and resume from it
            after a restart.
        smee_stream: SMEE_URL is a smee.io-style stream (a self-hosted smee.io,
            or a gosmee-trio server's smee wire): read the URL itself rather than
            BASE/events/CHANNEL. Implied for https://smee.io URLs.
        encryption_key_file: Keypair from `gosmee-trio keygen`, for a protected
            channel: presented to the server, and used to open each event.
        keepalive_interval: The server's keepalive interval in seconds; a stream
            silent for 2.5 times this long is treated as dead and reconnected.
        shutdown_grace: Seconds the event in flight gets to finish on SIGINT/SIGTERM.
        log_level: debug, info, warn or error.
        output: Log format: pretty or json.
        nocolor: No colour in log output (also when NO_COLOR is set).
        config_file: YAML configuration file (default: gosmee/config.yaml in the
            user's config directory, if it exists).
    """
    setup_logging(log_level, output, nocolor)
    if new_url:
        await _print_new_url(urls[0] if urls else None)
        return
    _check_sse_buffer_size(sse_buffer_size)
    smee_url, target_url = _resolve_urls(urls, exec_command)
    config = checked(
        ClientConfig,
        smee_url=smee_url,
        target_url=target_url,
        target_timeout=target_connection_timeout,
        target_retries=target_retries,
        keepalive_interval=keepalive_interval,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        save_dir=save_dir,
        httpie=httpie,
        local_debug_url=local_debug_url or DEFAULT_LOCAL_DEBUG_URL,
        ignore_events=split_commas(ignore_event),
        no_replay=no_replay,
        exec_command=exec_command,
        exec_on_events=split_commas(exec_on_events),
        exec_env_vars=split_commas(exec_env_vars),
        exec_timeout=exec_timeout,
        health_port=health_port,
        resume_state_file=resume_state_file,
        shutdown_grace=shutdown_grace,
        encryption_key_file=encryption_key_file,
        smee_stream=smee_stream,
    )
    relay = Client(config)
    problem: BaseException | None = None
    try:
        await _run_until_signals(relay)
    except* ConfigError as group:
        problem = first_leaf(group)
    except* OSError as group:
        # Only the health listener binds a port; a busy one is a set-up error.
        problem = first_leaf(group)
        problem = OSError(f"cannot serve --health-port {health_port}: {problem}")
    if isinstance(problem, ConfigError):
        fail_config(problem)  # --saveDir, say, that cannot be created
    if problem is not None:
        fail(str(problem))


def _check_sse_buffer_size(size: int) -> None:
    if size < MIN_SSE_BUFFER:
        minimum = MIN_SSE_BUFFER
        fail_config(
            ConfigError(f"--sse-buffer-size must be at least {minimum}, got {size}")
        )


async def _print_new_url(server_url: str | None) -> None:
    try:
        url = await fetch_new_url(new_url_endpoint(server_url))
    except httpx.HTTPError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        raise SystemExit(1) from None
    sys.stdout.write(f"{url}\n")


def _resolve_urls(urls: tuple[str, ...], exec_command: str) -> tuple[str, str]:
    # Upstream's rules: two positionals; or one with --exec (no forwarding); or none,
    # and then the environment, else the config file, for each URL on its own.
    if len(urls) == 2:
        return urls[0], urls[1]
    if len(urls) == 1 and exec_command:
        return urls[0], _from_env_or_file("GOSMEE_TARGET_URL", "target-url")
    if urls:
        fail(USAGE_ERROR)
    smee_url = _from_env_or_file("GOSMEE_URL", "smee-url")
    if not smee_url:
        fail(USAGE_ERROR)
    return smee_url, _from_env_or_file("GOSMEE_TARGET_URL", "target-url")


def _from_env_or_file(variable: str, key: str) -> str:
    return os.environ.get(variable, "") or CONFIG_FILE.positional(key)


async def _run_until_signals(relay: Client) -> None:
    stopping = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run_then_stop() -> None:
                await relay.run()
                nursery.cancel_scope.cancel()

            def stop_gracefully() -> None:
                systemd.notify("STOPPING=1\nSTATUS=Finishing the event in flight")
                stopping.set()
                relay.stop()

            nursery.start_soon(run_then_stop)
            nursery.start_soon(_tell_systemd, relay, stopping)
            await on_signals(signals, stop_gracefully, nursery.cancel_scope)


async def _tell_systemd(relay: Client, stopping: trio.Event) -> None:
    # READY=1 once the pipeline runs, not once the stream is ready: with the server
    # unreachable at boot, waiting for the stream would fail the unit's start-up
    # (TimeoutStartSec) although the consumer keeps reconnecting as designed. A down
    # stream shows on --health-port and in the journal instead.
    await relay.pipeline_started.wait()
    target = relay.config.target_url
    doing = f"forwarding to {redact_url(target)}" if target else "running --exec"
    systemd.notify(f"READY=1\nSTATUS=Client started, {doing}")
    await systemd.feed_watchdog(lambda: not stopping.is_set())
