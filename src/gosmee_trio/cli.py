"""Command line: parse, build the config, run under Trio. Kept thin on purpose."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Literal, NoReturn, TypeVar

import trio
from cyclopts import App, Parameter

from gosmee_trio import __version__
from gosmee_trio.client.daemon import Client
from gosmee_trio.config import (
    DEFAULT_KEEPALIVE,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_TARGET_RETRIES,
    DEFAULT_TARGET_TIMEOUT,
    ClientConfig,
    ServerConfig,
)
from gosmee_trio.errors import ConfigError
from gosmee_trio.logs import configure_logging
from gosmee_trio.server.serve import Server

log = logging.getLogger(__name__)

app = App(
    name="gosmee-trio",
    help="Relay webhooks from a public server to services on a private network.",
    version=__version__,
    backend="trio",
)

T = TypeVar("T")
LogLevel = Literal["debug", "info", "warn", "error"]
Output = Literal["pretty", "json"]


@app.command
async def server(
    *,
    address: Annotated[str, Parameter(name=["--address", "-a"])] = "localhost",
    port: Annotated[int, Parameter(name=["--port", "-p"])] = 3333,
    public_url: Annotated[str, Parameter(name="--public-url")] = "",
    max_body_size: Annotated[
        int, Parameter(name="--max-body-size", env_var="GOSMEE_MAX_BODY_SIZE")
    ] = DEFAULT_MAX_BODY_SIZE,
    keepalive_interval: Annotated[
        float,
        Parameter(name="--keepalive-interval", env_var="GOSMEE_KEEPALIVE_INTERVAL"),
    ] = DEFAULT_KEEPALIVE,
    log_level: Annotated[
        LogLevel, Parameter(name="--log-level", env_var="GOSMEE_LOG_LEVEL")
    ] = "info",
    output: Annotated[Output, Parameter(name=["--output", "-o"])] = "pretty",
) -> None:
    """Receive webhooks on POST /{channel} and stream them to subscribed clients.

    Args:
        address: Address to listen on.
        port: Port to listen on; 0 picks a free one.
        public_url: Base URL people use to reach this server (default
            http://ADDRESS:PORT).
        max_body_size: Largest webhook body accepted, in bytes.
        keepalive_interval: Seconds between keepalive comments on idle streams.
        log_level: debug, info, warn or error.
        output: Log format: pretty or json.
    """
    configure_logging(log_level, output)
    config = _checked(
        ServerConfig,
        address=address,
        port=port,
        public_url=public_url,
        max_body_size=max_body_size,
        keepalive_interval=keepalive_interval,
    )
    relay = Server(config)
    failure: BaseException | None = None
    try:
        await _serve_until_signals(relay)
    except* OSError as group:
        failure = _first_leaf(group)
    if failure is not None:
        _fail(f"cannot listen on {address}:{port}: {failure}")


async def _serve_until_signals(relay: Server) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[str]) -> None:
                await relay.run(shutdown.wait, task_status=task_status)
                nursery.cancel_scope.cancel()

            await nursery.start(serve_then_stop)
            sys.stdout.write(f"Serving for webhooks on {relay.state.public_url}\n")
            sys.stdout.flush()
            await _stop_on_signals(signals, shutdown, nursery.cancel_scope)


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


@app.command
async def client(
    smee_url: str = "",
    target_url: str = "",
    /,
    *,
    target_connection_timeout: Annotated[
        float,
        Parameter(name="--target-connection-timeout", env_var="GOSMEE_TARGET_TIMEOUT"),
    ] = DEFAULT_TARGET_TIMEOUT,
    target_retries: Annotated[
        int, Parameter(name="--target-retries", env_var="GOSMEE_TARGET_RETRIES")
    ] = DEFAULT_TARGET_RETRIES,
    keepalive_interval: Annotated[
        float,
        Parameter(name="--keepalive-interval", env_var="GOSMEE_KEEPALIVE_INTERVAL"),
    ] = DEFAULT_KEEPALIVE,
    insecure_skip_tls_verify: Annotated[
        bool, Parameter(name="--insecure-skip-tls-verify", negative=())
    ] = False,
    log_level: Annotated[
        LogLevel, Parameter(name="--log-level", env_var="GOSMEE_LOG_LEVEL")
    ] = "info",
    output: Annotated[Output, Parameter(name=["--output", "-o"])] = "pretty",
) -> None:
    """Subscribe to a channel and forward each webhook, byte for byte, to a target.

    Args:
        smee_url: Channel URL, e.g. https://hooks.example.com/aBcDeFgHiJkL
            (env GOSMEE_URL).
        target_url: Local URL events are POSTed to, e.g. http://localhost:8080
            (env GOSMEE_TARGET_URL).
        target_connection_timeout: Seconds allowed for each POST to the target.
        target_retries: Extra attempts for transient target failures on events
            without a durable id.
        keepalive_interval: The server's keepalive interval in seconds; a stream
            silent for 2.5 times this long is treated as dead and reconnected.
        insecure_skip_tls_verify: Do not verify the target's TLS certificate.
        log_level: debug, info, warn or error.
        output: Log format: pretty or json.
    """
    configure_logging(log_level, output)
    config = _checked(
        ClientConfig,
        smee_url=smee_url or os.environ.get("GOSMEE_URL", ""),
        target_url=target_url or os.environ.get("GOSMEE_TARGET_URL", ""),
        target_timeout=target_connection_timeout,
        target_retries=target_retries,
        keepalive_interval=keepalive_interval,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
    )
    if not config.target_url:
        _fail("need a TARGET_URL to forward events to, e.g. http://localhost:8080")
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(Client(config).run)
            stopped = trio.Event()
            await _stop_on_signals(
                signals, stopped, nursery.cancel_scope, immediate=True
            )


async def _stop_on_signals(
    signals: AsyncIterator[int],
    shutdown: trio.Event,
    scope: trio.CancelScope,
    *,
    immediate: bool = False,
) -> None:
    # First signal: graceful stop (or immediate for the client). Second: cancel all.
    async for signum in signals:
        if shutdown.is_set() or immediate:
            log.info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return
        log.info("received %s, shutting down gracefully", signal.Signals(signum).name)
        shutdown.set()


def _checked(factory: type[T], **values: object) -> T:
    try:
        return factory(**values)
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"gosmee-trio: error: {message}\n")
    raise SystemExit(1)


def main() -> None:
    """Console-script entry point."""
    app()
