"""The client daemon: consumer → forward worker → exec worker, in one nursery.

This module wires them up and owns the lifecycle: start-up checks, the health
endpoint, graceful stop and the checkpoint; what happens to each event is
``client/workers.py``.
"""

from __future__ import annotations

import logging

import httpx
import trio
from nacl.public import PrivateKey

from gosmee_trio import __version__
from gosmee_trio.client.checkpoint import Checkpoint
from gosmee_trio.client.consumer import Consumer
from gosmee_trio.client.forwarder import Forwarder, redact_url
from gosmee_trio.client.health import ClientCounters, HealthServer
from gosmee_trio.client.httpclients import HttpClients
from gosmee_trio.client.metrics import ClientMetrics
from gosmee_trio.client.records import check_save_dir
from gosmee_trio.client.shutdown import warn_cut_off
from gosmee_trio.client.workers import Item, Workers
from gosmee_trio.config import ClientConfig
from gosmee_trio.keyfile import load_key_file, readable_by_others

log = logging.getLogger(__name__)

# Events read ahead of the forward worker. Small on purpose: while the target is
# slow the consumer stops reading and the server keeps the backlog in its history,
# which the client resumes from by stream id if it restarts.
PIPELINE_BUFFER = 16
# Events forwarded and waiting for a slow hook. Forwarding goes on meanwhile; past
# this many the stream pauses (the server keeps the backlog in its history).
HOOK_BACKLOG = 64


class Client:
    """``gosmee-trio client``: subscribe to a channel and handle every event."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.checkpoint = Checkpoint(config.resume_state_file)
        self.counters = ClientCounters()
        self.consumer: Consumer | None = None
        self.forwarder: Forwarder | None = None
        self.metrics = ClientMetrics(self._counters)
        self._workers = Workers(
            config, self.checkpoint, self.counters, self.metrics, self._save_checkpoint
        )
        self._reading = trio.CancelScope()
        # Set once the pipeline runs (checkpoint loaded, health port bound, workers
        # started), before the stream is up: what systemd's READY=1 waits for.
        self.pipeline_started = trio.Event()
        self._private_key: PrivateKey | None = None
        self._nursery: trio.Nursery | None = None

    def stop(self) -> None:
        """Graceful stop: read no more, let the attempt (or hook) in flight finish
        within the grace period, end a back-off wait at once, then persist the
        checkpoint. What was cut off is logged at WARNING once ``run()`` ends."""
        self._workers.stopping = True
        self._reading.cancel()
        if self.forwarder is not None:
            self.forwarder.stop_retrying()
        if self._nursery is not None:
            deadline = trio.current_time() + self.config.shutdown_grace
            self._nursery.cancel_scope.deadline = deadline

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled or stopped; ``task_status.started()`` once ready.

        Cancellation: the event in flight is abandoned and not checkpointed; with a
        resume state file it is delivered again after a restart (at least once).
        Either way a WARNING names it and says what becomes of it.

        Errors: stream, delivery and hook failures are logged, counted and (for
        events) dead-lettered, never raised. A resume state file that cannot be
        read raises ``ConfigError`` before anything starts.
        """
        resume_from = self.config.last_event_id or self.checkpoint.load()
        if self.config.save_dir is not None:
            check_save_dir(self.config.save_dir)
        key_file = self.config.encryption_key_file
        self._private_key = load_key_file(key_file).private if key_file else None
        if key_file is not None:
            log.info("protected channel: events are decrypted with this client's key")
            if readable_by_others(key_file):
                log.warning(
                    "key file %s can be read by other users; chmod 600 it",
                    key_file,
                )
        try:
            async with HttpClients(self.config) as (stream_http, target_http):
                await self._run_pipeline(
                    stream_http, target_http, resume_from, task_status
                )
        finally:
            self._save_checkpoint()
            self._report_cut_off()

    async def _run_pipeline(
        self,
        stream_http: httpx.AsyncClient,
        target_http: httpx.AsyncClient,
        resume_from: str,
        task_status: trio.TaskStatus[None],
    ) -> None:
        config = self.config
        events_send, events_receive = trio.open_memory_channel[Item](PIPELINE_BUFFER)
        done_send, done_receive = trio.open_memory_channel[tuple[Item, bool]](
            HOOK_BACKLOG
        )
        self.consumer = Consumer(
            config.smee_url,
            stream_http,
            events_send,
            last_id=resume_from,
            private_key=self._private_key,
            on_position=self._on_position,
            smee_stream=config.smee_stream,
        )
        forwarder = Forwarder(
            config.target_url,
            target_http,
            config.target_retries,
            observer=self.metrics,
        )
        self.forwarder = forwarder
        log.info(
            "starting gosmee-trio client %s",
            __version__,
            extra={
                "url": redact_url(config.smee_url),
                "target": forwarder.redacted_target,
            },
        )
        async with trio.open_nursery() as services:
            if config.health_port:
                await services.start(
                    HealthServer(
                        config.health_port, self._counters, self.metrics.registry
                    ).run
                )
            async with trio.open_nursery() as workers:
                self._nursery = workers
                workers.start_soon(
                    self._workers.run_forward, forwarder, events_receive, done_send
                )
                workers.start_soon(self._workers.run_exec, done_receive)
                self.pipeline_started.set()
                await workers.start(self._read, self.consumer, events_send)
                task_status.started()
            services.cancel_scope.cancel()

    async def _read(
        self,
        consumer: Consumer,
        events: trio.MemorySendChannel[Item],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        status = _StartedOnce(task_status)
        async with events:
            with self._reading:
                await consumer.run(task_status=status)
        # Stopped before the stream was ever ready: let run() go on to shut down.
        status.started()

    def _on_position(self, stream_id: str) -> None:
        # The server's position when the stream became ready. Kept only while the
        # client has no checkpoint yet, so that a first run that is stopped before
        # any event arrives still resumes from here instead of starting live.
        if not self.checkpoint.stream_id:
            self.checkpoint.advance(stream_id)
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        try:
            self.checkpoint.save()
        except OSError as exc:
            log.warning("cannot write the resume state file: %s", exc)

    def _report_cut_off(self) -> None:
        for cut_off in self._workers.cut_off:
            warn_cut_off(
                cut_off,
                resume_state_file=self.config.resume_state_file is not None,
                checkpoint=self.checkpoint.stream_id,
            )
        self._workers.cut_off.clear()

    def _counters(self) -> ClientCounters:
        if self.consumer is not None:
            self.counters.state = self.consumer.state
            self.counters.stream_error = self.consumer.stream_error
            self.counters.reconnects = self.consumer.reconnects
            self.counters.last_event_time = self.consumer.last_event_time
        if self.forwarder is not None:
            self.counters.retrying = self.forwarder.retrying
        return self.counters


class _StartedOnce:
    """A task status that may be reported more than once; only the first counts."""

    def __init__(self, inner: trio.TaskStatus[None]) -> None:
        self._inner = inner
        self._done = False

    def started(self, value: None = None) -> None:
        if not self._done:
            self._done = True
            self._inner.started()
