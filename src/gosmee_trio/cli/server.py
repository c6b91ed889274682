"""``gosmee-trio server``."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import trio
from cyclopts import Parameter

from gosmee_trio.cli import app
from gosmee_trio.cli.common import (
    LogLevelOption,
    NoColorOption,
    OutputOption,
    checked,
    fail,
    first_leaf,
    on_signals,
    setup_logging,
)
from gosmee_trio.config import DEFAULT_KEEPALIVE, DEFAULT_MAX_BODY_SIZE, ServerConfig
from gosmee_trio.server.serve import Server


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
    log_level: LogLevelOption = "info",
    output: OutputOption = "pretty",
    nocolor: NoColorOption = False,
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
        nocolor: No colour in log output (also when NO_COLOR is set).
    """
    setup_logging(log_level, output, nocolor)
    config = checked(
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
        failure = first_leaf(group)
    if failure is not None:
        fail(f"cannot listen on {address}:{port}: {failure}")


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
            await on_signals(signals, shutdown.set, nursery.cancel_scope)
