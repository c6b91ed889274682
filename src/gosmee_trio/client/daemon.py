"""The client daemon: consumer and forward worker in one nursery."""

from __future__ import annotations

import logging

import httpx
import trio

from gosmee_trio import __version__
from gosmee_trio.client.consumer import Consumer
from gosmee_trio.client.forwarder import Forwarder
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.config import ClientConfig

log = logging.getLogger(__name__)

# Events read ahead of the forward worker. Small on purpose: while the target is
# slow the consumer stops reading and the server keeps the backlog in its history,
# which the client resumes from by stream id if it restarts.
PIPELINE_BUFFER = 16
# Connect timeout for the stream; reads use the keepalive watchdog instead.
STREAM_CONNECT_TIMEOUT = 10.0


class Client:
    """``gosmee-trio client``: subscribe to a channel and forward every event."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.consumer: Consumer | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled; ``task_status.started()`` once the stream is ready.

        Cancellation: stops reading and abandons the delivery in flight.

        Errors: stream and delivery failures are logged and retried, never raised.
        """
        config = self.config
        stream_timeout = httpx.Timeout(
            STREAM_CONNECT_TIMEOUT, read=config.watchdog_timeout
        )
        async with (
            httpx.AsyncClient(timeout=stream_timeout) as stream_http,
            httpx.AsyncClient(
                timeout=config.target_timeout,
                verify=not config.insecure_skip_tls_verify,
                trust_env=False,
            ) as target_http,
        ):
            send, receive = trio.open_memory_channel[IncomingEvent](PIPELINE_BUFFER)
            self.consumer = Consumer(
                config.smee_url, stream_http, send, last_id=config.last_event_id
            )
            forwarder = Forwarder(config.target_url, target_http, config.target_retries)
            log.info(
                "starting gosmee-trio client %s",
                __version__,
                extra={"url": config.smee_url, "target": forwarder.redacted_target},
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(forwarder.run, receive)
                await nursery.start(self.consumer.run)
                task_status.started()
