"""The client's two workers: forward (save, deliver) and exec (hook, checkpoint).

Events move through them in stream order. The forward worker saves the event
(``--saveDir``) and forwards it to the target; the exec worker runs the hook, then
advances the checkpoint. An event whose delivery or hook fails for good is written to
the dead-letter folder first, so the checkpoint never moves past an event that was
neither handled nor recorded. An event a shutdown cut off is not checkpointed either;
it is remembered so that the daemon can say so once the checkpoint is final.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from gosmee_trio.client.checkpoint import Checkpoint
from gosmee_trio.client.forwarder import Forwarder
from gosmee_trio.client.health import ClientCounters
from gosmee_trio.client.hooks import HookConfig, run_hook, should_run
from gosmee_trio.client.message import IncomingEvent, Unparsable
from gosmee_trio.client.metrics import ClientMetrics
from gosmee_trio.client.naming import safe_event_type
from gosmee_trio.client.records import Records, event_fields
from gosmee_trio.client.shutdown import CutOff
from gosmee_trio.config import ClientConfig
from gosmee_trio.errors import HookError

log = logging.getLogger(__name__)

Item = IncomingEvent | Unparsable


class Workers:
    """What happens to each event of one client, between consumer and checkpoint.

    Args:
        config: the client's configuration.
        checkpoint: advanced once an event is finished with.
        counters: what ``/health`` shows.
        metrics: outcomes and deliveries for ``/metrics``.
        save_checkpoint: persists the checkpoint after it advanced.

    Attributes:
        stopping: set by the daemon's ``stop()``: take no further event.
        cut_off: events a shutdown interrupted, in the order it happened.
    """

    def __init__(
        self,
        config: ClientConfig,
        checkpoint: Checkpoint,
        counters: ClientCounters,
        metrics: ClientMetrics,
        save_checkpoint: Callable[[], None],
    ) -> None:
        self._config = config
        self._checkpoint = checkpoint
        self._counters = counters
        self._metrics = metrics
        self._save_checkpoint = save_checkpoint
        self._records = Records(config, counters)
        self.stopping = False
        self.cut_off: list[CutOff] = []
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

    async def run_forward(
        self,
        forwarder: Forwarder,
        events: trio.MemoryReceiveChannel[Item],
        done: trio.MemorySendChannel[tuple[Item, bool]],
    ) -> None:
        """Save and forward each event, then hand it to ``done``; stops early once
        ``stopping`` is set."""
        async with events, done:
            async for item in events:
                if self.stopping:
                    return
                try:
                    handled = await self._forward_safely(forwarder, item)
                except trio.Cancelled:
                    self.cut_off.append(CutOff(item, "delivery"))
                    raise
                if handled is None:
                    self.cut_off.append(CutOff(item, "delivery"))
                    return
                await done.send((item, handled))

    async def run_exec(
        self, done: trio.MemoryReceiveChannel[tuple[Item, bool]]
    ) -> None:
        """Run the hook for each handled event, then advance the checkpoint."""
        async with done:
            async for item, handled in done:
                if handled and self._hook is not None:
                    assert isinstance(item, IncomingEvent)
                    try:
                        await self._run_hook(self._hook, item)
                    except trio.Cancelled:
                        self.cut_off.append(CutOff(item, "exec hook"))
                        raise
                self._checkpoint.advance(item.stream_id)
                self._save_checkpoint()

    async def _forward_safely(self, forwarder: Forwarder, item: Item) -> bool | None:
        try:
            return await self._forward(forwarder, item)
        except Exception as exc:
            # A bug or an input we did not foresee must cost one event (kept as a
            # dead letter), never the whole client.
            log.exception("unexpected error handling an event")
            self._metrics.count_outcome("dead_letter")
            if isinstance(item, IncomingEvent):
                await self._records.dead_letter(item, f"unexpected error: {exc!r}")
            return False

    async def _forward(self, forwarder: Forwarder, item: Item) -> bool | None:
        """Save and forward one event: True when handled, False when dead-lettered
        or skipped instead, None when a shutdown ended its delivery between
        attempts."""
        if isinstance(item, Unparsable):
            self._metrics.count_outcome("dead_letter")
            await self._records.dead_letter(item.as_event(), item.error)
            return False
        if self._ignored(item):
            log.info("skipping event as requested", extra=event_fields(item))
            self._metrics.count_outcome("ignored")
            return False
        if self._config.save_dir is not None:
            await self._records.save(item)
        if not self._config.forwarding:
            return True

        result = await forwarder.deliver(item)
        if result.abandoned:
            return None
        self._metrics.count_delivery(result)
        if result.ok:
            self._counters.delivered += 1
            return True
        self._counters.failed += 1
        await self._records.dead_letter(item, f"delivery failed: {result.error}")
        return False

    async def _run_hook(self, hook: HookConfig, event: IncomingEvent) -> None:
        if not should_run(hook, event):
            return
        try:
            await run_hook(hook, event)
        except Exception as exc:  # HookError, or input we did not foresee
            if not isinstance(exc, HookError):
                log.exception("unexpected error running the exec hook")
            self._counters.hook_failures += 1
            log.error("exec hook failed: %s", exc, extra=event_fields(event))
            await self._records.dead_letter(event, f"exec hook failed: {exc}")

    def _ignored(self, event: IncomingEvent) -> bool:
        ignored = self._config.ignore_events
        return bool(event.event_type) and (
            event.event_type in ignored or safe_event_type(event.event_type) in ignored
        )
