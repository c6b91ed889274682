"""Hypercorn wiring and graceful shutdown for ``gosmee-trio server``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.app import create_app
from gosmee_trio.server.broker import Broker
from gosmee_trio.server.brokerapi import EventBroker
from gosmee_trio.server.hotpath import HotPath
from gosmee_trio.server.state import ServerState
from gosmee_trio.server.tcp import install as install_stall_safe_tcp

log = logging.getLogger(__name__)

# Room for a burst of connections (a fleet of clients reconnecting after a restart);
# hypercorn's default of 100 drops SYNs under such a burst.
LISTEN_BACKLOG = 4096
# Hypercorn's grace period: open streams are told to end at shutdown and must do so
# within this time, after which their tasks are cancelled.
GRACEFUL_TIMEOUT = 3.0


class Server:
    """The relay server: a Quart-Trio app under hypercorn, with the in-memory broker
    or, given ``--redis-url``, the Redis one."""

    def __init__(self, config: ServerConfig, broker: EventBroker | None = None) -> None:
        self.config = config
        self.broker = broker or _broker_for(config)
        self.state = ServerState(config, self.broker)
        self.app = HotPath(create_app(self.state), self.state)

    async def run(
        self,
        shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until ``shutdown_trigger`` returns or the task is cancelled.

        Calls ``task_status.started(url)`` with the bound base URL once listening.

        Cancellation: cancelling the task closes every stream at once. For a graceful
        stop, let ``shutdown_trigger`` return: open SSE streams are ended, then
        hypercorn gives in-flight requests ``GRACEFUL_TIMEOUT`` seconds.

        Errors: an address that cannot be bound raises ``OSError``; a Redis that
        does not answer at start-up raises ``BrokerUnavailable``.
        """
        hypercorn_config = self._hypercorn_config()
        install_stall_safe_tcp()

        async def trigger() -> None:
            if shutdown_trigger is None:
                await trio.sleep_forever()
            else:
                await shutdown_trigger()
            log.info("shutting down: ending open streams")
            self.broker.close()

        async with trio.open_nursery() as nursery:
            # The broker connects first: no request is taken before it can serve.
            await nursery.start(self.broker.run)

            async def serve(task_status: trio.TaskStatus[list[str]]) -> None:
                await hypercorn_serve(
                    self.app,
                    hypercorn_config,
                    shutdown_trigger=trigger,
                    task_status=task_status,
                )
                # Hypercorn is done: stop the broker's background work too.
                nursery.cancel_scope.cancel()

            binds: list[str] = await nursery.start(serve)
            bound = binds[0]
            port = urlsplit(bound).port
            self.state.public_url = self.config.effective_public_url(port)
            log.info(
                "serving for webhooks",
                extra={"url": self.state.public_url, "bind": bound},
            )
            task_status.started(bound)

    def _hypercorn_config(self) -> HypercornConfig:
        config = HypercornConfig()
        host = self.config.address
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        config.bind = [f"{host}:{self.config.port}"]
        config.backlog = LISTEN_BACKLOG
        config.graceful_timeout = GRACEFUL_TIMEOUT
        config.accesslog = None
        if self.config.tls:
            config.certfile = str(self.config.tls_cert)
            config.keyfile = str(self.config.tls_key)
        config.errorlog = logging.getLogger("hypercorn.error")
        return config


def _broker_for(config: ServerConfig) -> EventBroker:
    if config.redis_url:
        # Imported here: coredis adds about half a second to every start-up.
        from gosmee_trio.server.redis_broker import RedisBroker

        return RedisBroker(config.redis_url, config.redis_stream_maxlen)
    return Broker()
