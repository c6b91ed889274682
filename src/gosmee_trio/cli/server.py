"""``gosmee-trio server``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import trio
from cyclopts import Parameter

from gosmee_trio import systemd
from gosmee_trio.cli import app
from gosmee_trio.cli.common import (
    ConfigOption,
    LogLevelOption,
    NoColorOption,
    OutputOption,
    WholeNumber,
    checked,
    comma_env,
    fail,
    fail_config,
    on_signals,
    setup_logging,
    split_commas,
)
from gosmee_trio.config import (
    DEFAULT_KEEPALIVE,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_REDIS_STREAM_MAXLEN,
    ServerConfig,
)
from gosmee_trio.errors import ConfigError, first_leaf
from gosmee_trio.server.allowlist import AllowList
from gosmee_trio.server.brokerapi import BrokerUnavailable
from gosmee_trio.server.serve import Server


@app.command
async def server(
    *,
    address: Annotated[str, Parameter(name=["--address", "-a"])] = "localhost",
    port: Annotated[WholeNumber, Parameter(name=["--port", "-p"])] = 3333,
    public_url: Annotated[str, Parameter(name="--public-url")] = "",
    max_body_size: Annotated[
        WholeNumber,
        Parameter(name="--max-body-size", env_var="GOSMEE_MAX_BODY_SIZE"),
    ] = DEFAULT_MAX_BODY_SIZE,
    keepalive_interval: Annotated[
        float,
        Parameter(name="--keepalive-interval", env_var="GOSMEE_KEEPALIVE_INTERVAL"),
    ] = DEFAULT_KEEPALIVE,
    allowed_ips: Annotated[
        list[str] | None,
        Parameter(
            name="--allowed-ips",
            env_var="GOSMEE_ALLOWED_IPS",
            negative=(),
            env_var_split=comma_env,
        ),
    ] = None,
    trust_proxy: Annotated[
        bool, Parameter(name="--trust-proxy", env_var="GOSMEE_TRUST_PROXY", negative=())
    ] = False,
    webhook_signature: Annotated[
        list[str] | None,
        Parameter(
            name="--webhook-signature",
            env_var="GOSMEE_WEBHOOK_SIGNATURE",
            negative=(),
            env_var_split=comma_env,
        ),
    ] = None,
    replay_token: Annotated[
        str, Parameter(name="--replay-token", env_var="GOSMEE_REPLAY_TOKEN")
    ] = "",
    cors_origin: Annotated[
        str, Parameter(name="--cors-origin", env_var="GOSMEE_CORS_ORIGIN")
    ] = "*",
    tls_cert: Annotated[
        Path | None, Parameter(name="--tls-cert", env_var="GOSMEE_TLS_CERT")
    ] = None,
    tls_key: Annotated[
        Path | None, Parameter(name="--tls-key", env_var="GOSMEE_TLS_KEY")
    ] = None,
    encrypted_channels_file: Annotated[
        Path | None,
        Parameter(
            name="--encrypted-channels-file", env_var="GOSMEE_ENCRYPTED_CHANNELS_FILE"
        ),
    ] = None,
    redis_url: Annotated[
        str, Parameter(name="--redis-url", env_var="GOSMEE_REDIS_URL")
    ] = "",
    redis_stream_maxlen: Annotated[
        WholeNumber,
        Parameter(name="--redis-stream-maxlen", env_var="GOSMEE_REDIS_STREAM_MAXLEN"),
    ] = DEFAULT_REDIS_STREAM_MAXLEN,
    log_level: LogLevelOption = "info",
    output: OutputOption = "pretty",
    nocolor: NoColorOption = False,
    config_file: ConfigOption = None,
) -> None:
    """Receive webhooks on POST /{channel} and stream them to subscribed clients.

    Args:
        address: Address to listen on.
        port: Port to listen on; 0 picks a free one.
        public_url: Base URL people use to reach this server (default
            http://ADDRESS:PORT).
        max_body_size: Largest webhook body accepted, in bytes.
        keepalive_interval: Seconds between keepalive comments on idle streams.
        allowed_ips: IPs or CIDRs allowed to POST (repeatable, comma-separated);
            others get 403. Empty: everyone.
        trust_proxy: Take the client IP from X-Forwarded-For / X-Real-IP; only
            behind a proxy that overwrites those headers.
        webhook_signature: Shared secret(s) webhooks must be signed with
            (repeatable, comma-separated); GitHub, GitLab, Bitbucket, Gitea and
            Forgejo forms are checked. Unsigned or badly signed: 401.
        replay_token: Bearer token required by POST /replay/{channel}.
        cors_origin: Access-Control-Allow-Origin on event streams; empty: none.
        tls_cert: Certificate (PEM) to serve HTTPS directly; needs --tls-key.
        tls_key: Private key (PEM) for --tls-cert.
        encrypted_channels_file: JSON file of protected channels and the public
            keys allowed to read each; their events are sealed per subscriber.
        redis_url: Redis to keep events in (redis://, rediss:// or unix://), so
            several replicas share channels and streams survive restarts; empty:
            in memory, one process.
        redis_stream_maxlen: Entries kept per channel in Redis (approximate
            trimming); 0 keeps everything.
        log_level: debug, info, warn or error.
        output: Log format: pretty or json.
        nocolor: No colour in log output (also when NO_COLOR is set).
        config_file: YAML configuration file (default: gosmee/config.yaml in the
            user's config directory, if it exists).
    """
    setup_logging(log_level, output, nocolor)
    config = checked(
        ServerConfig,
        address=address,
        port=port,
        public_url=public_url,
        max_body_size=max_body_size,
        keepalive_interval=keepalive_interval,
        allowed_ips=_not_empty(
            "--allowed-ips",
            split_commas(allowed_ips),
            allowed_ips,
            "GOSMEE_ALLOWED_IPS",
        ),
        trust_proxy=trust_proxy,
        webhook_secrets=_not_empty(
            "--webhook-signature",
            tuple(secret for secret in webhook_signature or () if secret.strip()),
            webhook_signature,
            "GOSMEE_WEBHOOK_SIGNATURE",
        ),
        replay_token=replay_token,
        cors_origin=cors_origin,
        tls_cert=tls_cert,
        tls_key=tls_key,
        encrypted_channels_file=encrypted_channels_file,
        redis_url=redis_url,
        redis_stream_maxlen=redis_stream_maxlen,
    )
    _check_allowed_ips(config.allowed_ips)
    relay = checked(Server, config=config)
    failure: BaseException | None = None
    try:
        await _serve_until_signals(relay)
    except* OSError as group:
        failure = first_leaf(group)
    except* BrokerUnavailable as group:
        fail(str(first_leaf(group)))
    if failure is not None:
        fail(f"cannot listen on {address}:{port}: {failure}")


def _not_empty(
    flag: str, values: tuple[str, ...], given: list[str] | None, env: str
) -> tuple[str, ...]:
    # An empty value (an unset shell variable, say) must not silently turn a
    # protection off.
    if (given is not None or env in os.environ) and not values:
        problem = f"{flag} was given but is empty; leave it out to turn it off"
        fail_config(ConfigError(problem))
    return values


def _check_allowed_ips(entries: tuple[str, ...]) -> None:
    # The server parses them again; parsed here first because its message does
    # not start with the flag, which fail_config needs to name the config key.
    try:
        AllowList.parse(entries)
    except ConfigError as exc:
        fail_config(exc, "--allowed-ips")


async def _serve_until_signals(relay: Server) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[str]) -> None:
                await relay.run(shutdown.wait, task_status=task_status)
                nursery.cancel_scope.cancel()

            def stop_gracefully() -> None:
                systemd.notify("STOPPING=1\nSTATUS=Shutting down: ending open streams")
                shutdown.set()

            def healthy() -> bool:
                # The watchdog's view, see systemd.feed_watchdog: up and not stopping.
                return not (shutdown.is_set() or relay.broker.closed)

            await nursery.start(serve_then_stop)
            banner = f"Serving for webhooks on {relay.state.public_url}"
            sys.stdout.write(f"{banner}\n")
            sys.stdout.flush()
            systemd.notify(f"READY=1\nSTATUS={banner}")
            nursery.start_soon(systemd.feed_watchdog, healthy)
            await on_signals(signals, stop_gracefully, nursery.cancel_scope)
