"""The client daemon: consumer → forward worker → exec worker, in one nursery.

Events move through the workers in stream order. The forward worker saves the event
(``--saveDir``) and forwards it to the target; the exec worker runs the hook, then
advances the checkpoint. An event whose delivery or hook fails for good is written to
the dead-letter folder first, so the checkpoint never moves past an event that was
neither handled nor recorded.
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
from gosmee_trio.client.hooks import HookConfig, run_hook, should_run
from gosmee_trio.client.httpclients import HttpClients
from gosmee_trio.client.message import IncomingEvent, Unparsable
from gosmee_trio.client.metrics import ClientMetrics
from gosmee_trio.client.naming import safe_event_type
from gosmee_trio.client.records import Records, check_save_dir, event_fields
from gosmee_trio.config import ClientConfig
from gosmee_trio.errors import HookError
from gosmee_trio.keyfile import load_key_file, readable_by_others

log = logging.getLogger(__name__)

# Events read ahead of the forward worker. Small on purpose: while the target is
# slow the consumer stops reading and the server keeps the backlog in its history,
# which the client resumes from by stream id if it restarts.
PIPELINE_BUFFER = 16
# Events forwarded and waiting for a slow hook. Forwarding goes on meanwhile; past
# this many the stream pauses (the server keeps the backlog in its history).
HOOK_BACKLOG = 64

Item = IncomingEvent | Unparsable


class Client:
    """``gosmee-trio client``: subscribe to a channel and handle every event."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.checkpoint = Checkpoint(config.resume_state_file)
        self.counters = ClientCounters()
        self._records = Records(config, self.counters)
        self.metrics = ClientMetrics(self._counters)
        self.consumer: Consumer | None = None
        self._reading = trio.CancelScope()
        self._stopping = False
        # Set once the pipeline runs (checkpoint loaded, health port bound, workers
        # started), before the stream is up: what systemd's READY=1 waits for.
        self.pipeline_started = trio.Event()
        self._private_key: PrivateKey | None = None
        self._nursery: trio.Nursery | None = None
        self._hook = (
            HookConfig(
                config.exec_command,
                config.exec_on_events,
                config.exec_env_vars,
                config.exec_timeout,
            )
            if config.exec_command
            else None
        )

    def stop(self) -> None:
        """Graceful stop: read no more, let the event in flight finish within the
        grace period, then persist the checkpoint."""
        self._stopping = True
        self._reading.cancel()
        if self._nursery is not None:
            deadline = trio.current_time() + self.config.shutdown_grace
            self._nursery.cancel_scope.deadline = deadline

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled or stopped; ``task_status.started()`` once ready.

        Cancellation: the event in flight is abandoned and not checkpointed, so it
        is delivered again after a restart (at least once).

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
        forwarder = Forwarder(config.target_url, target_http, config.target_retries)
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
                    self._forward_worker, forwarder, events_receive, done_send
                )
                workers.start_soon(self._exec_worker, done_receive)
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

    async def _forward_worker(
        self,
        forwarder: Forwarder,
        events: trio.MemoryReceiveChannel[Item],
        done: trio.MemorySendChannel[tuple[Item, bool]],
    ) -> None:
        async with events, done:
            async for item in events:
                if self._stopping:
                    return
                try:
                    handled = await self._forward(forwarder, item)
                except Exception as exc:
                    # A bug or an input we did not foresee must cost one event (kept
                    # as a dead letter), never the whole client.
                    log.exception("unexpected error handling an event")
                    self.metrics.count_outcome("dead_letter")
                    event = item if isinstance(item, IncomingEvent) else None
                    if event is not None:
                        await self._dead_letter(event, f"unexpected error: {exc!r}")
                    handled = False
                await done.send((item, handled))

    async def _forward(self, forwarder: Forwarder, item: Item) -> bool:
        """Save and forward one event; False when it was dead-lettered instead."""
        if isinstance(item, Unparsable):
            self.metrics.count_outcome("dead_letter")
            await self._dead_letter(item.as_event(), item.error)
            return False
        if self._ignored(item):
            log.info("skipping event as requested", extra=event_fields(item))
            self.metrics.count_outcome("ignored")
            return False
        if self.config.save_dir is not None:
            await self._save(item)
        if not self.config.forwarding:
            return True
        result = await forwarder.deliver(item)
        self.metrics.count_delivery(result)
        if result.ok:
            self.counters.delivered += 1
            return True
        self.counters.failed += 1
        await self._dead_letter(item, f"delivery failed: {result.error}")
        return False

    async def _exec_worker(
        self, done: trio.MemoryReceiveChannel[tuple[Item, bool]]
    ) -> None:
        async with done:
            async for item, handled in done:
                if handled and self._hook is not None:
                    assert isinstance(item, IncomingEvent)
                    await self._run_hook(self._hook, item)
                self.checkpoint.advance(item.stream_id)
                self._save_checkpoint()

    async def _run_hook(self, hook: HookConfig, event: IncomingEvent) -> None:
        if not should_run(hook, event):
            return
        try:
            await run_hook(hook, event)
        except Exception as exc:  # HookError, or input we did not foresee
            if not isinstance(exc, HookError):
                log.exception("unexpected error running the exec hook")
            self.counters.hook_failures += 1
            log.error("exec hook failed: %s", exc, extra=event_fields(event))
            await self._dead_letter(event, f"exec hook failed: {exc}")

    async def _save(self, event: IncomingEvent) -> None:
        await self._records.save(event)

    async def _dead_letter(self, event: IncomingEvent, reason: str) -> None:
        await self._records.dead_letter(event, reason)

    def _ignored(self, event: IncomingEvent) -> bool:
        ignored = self.config.ignore_events
        return bool(event.event_type) and (
            event.event_type in ignored or safe_event_type(event.event_type) in ignored
        )

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

    def _counters(self) -> ClientCounters:
        if self.consumer is not None:
            self.counters.state = self.consumer.state
            self.counters.reconnects = self.consumer.reconnects
            self.counters.last_event_time = self.consumer.last_event_time
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
