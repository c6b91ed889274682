"""The replay loop: poll a hook's deliveries and forward the new ones, in order.

Each round lists the deliveries made since ``since`` (following pages), fetches
each new one once, oldest first, and hands it to the client's forwarder, so the
target sees the client's retries and back-off. Delivery ids already replayed are
remembered, so no delivery is replayed twice, however the polls overlap.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from pathlib import Path

import trio

from gosmee_trio.client.forwarder import Forwarder
from gosmee_trio.client.hooks import HookConfig, run_hook
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.savedir import save_event
from gosmee_trio.config import DEFAULT_SHUTDOWN_GRACE
from gosmee_trio.errors import ConfigError, GitHubError, HookError
from gosmee_trio.replay.delivery import event_from_delivery
from gosmee_trio.replay.github import GitHubClient
from gosmee_trio.replay.model import DeliverySummary, Scope
from gosmee_trio.retry import Backoff

log = logging.getLogger(__name__)

# Upstream's interval: a new delivery is replayed within seconds, and one list
# request every 5 s (720 an hour) stays far inside GitHub's 5,000 an hour.
POLL_INTERVAL = 5.0


class Replayer:
    """Replays one hook's deliveries to the target: oldest first, each once.

    Args:
        github: the GitHub client to read deliveries with.
        scope: the hook's organisation or repository.
        hook_id: the hook.
        forwarder: delivers each event to the target, with retries.
        since: replay deliveries made at or after this time.
        save_dir: also save each event there (body and replay script).
        hook: also run this ``--exec`` hook after each successful delivery.
        poll_interval: seconds between rounds.
        shutdown_grace: seconds the delivery in flight gets after ``stop()``.
    """

    def __init__(
        self,
        github: GitHubClient,
        scope: Scope,
        hook_id: int,
        forwarder: Forwarder,
        *,
        since: datetime,
        save_dir: Path | None = None,
        hook: HookConfig | None = None,
        poll_interval: float = POLL_INTERVAL,
        shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
    ) -> None:
        self.scope = scope
        self.hook_id = hook_id
        self.since = since
        self._github = github
        self._forwarder = forwarder
        self._save_dir = save_dir
        self._hook = hook
        self._poll_interval = poll_interval
        self._grace = shutdown_grace
        # Replayed (or vanished) delivery ids and when they were made; ids older
        # than ``since`` can never be listed again and are forgotten.
        self._replayed: dict[int, datetime] = {}
        self._cancel = trio.CancelScope()
        self._stopping = False
        self._busy = False

    def stop(self) -> None:
        """Stop polling; a delivery in flight gets ``shutdown_grace`` to finish."""
        self._stopping = True
        if self._busy:
            self._cancel.deadline = trio.current_time() + self._grace
        else:
            self._cancel.cancel()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll and replay until stopped; ``task_status.started()`` after round one.

        Cancellation: the delivery in flight is abandoned. After ``stop()``,
        ``run()`` returns normally.

        Errors:
            GitHubError: GitHub refused for good (bad token, unknown hook). Network
                trouble and 5xx answers are logged and retried with back-off, and
                rate limits are waited out; neither ends the loop.
        """
        log.info(
            "replaying deliveries of hook %s on %s made since %s",
            self.hook_id,
            self.scope,
            self.since.isoformat(),
            extra={"target": self._forwarder.redacted_target},
        )
        backoff = Backoff()
        started = False
        with self._cancel:
            while not self._stopping:
                delay = await self._poll_or_back_off(backoff)
                if not started:
                    started = True
                    task_status.started()
                if not self._stopping:
                    await trio.sleep(delay)

    async def poll(self) -> int:
        """One round: list, then replay each new delivery, oldest first.

        Returns:
            How many deliveries were forwarded (successfully or not).
        """
        listed = await self._github.list_deliveries(
            self.scope, self.hook_id, since=self.since
        )
        wanted = (d for d in listed if d.delivered_at >= self.since)
        count = 0
        for summary in sorted(wanted, key=lambda d: (d.delivered_at, d.id)):
            if self._stopping:
                break
            # Checked per item: a listing may repeat an entry across its pages.
            if summary.id in self._replayed:
                continue
            count += await self._replay(summary)
            self._remember(summary)
        self._forget_old()
        return count

    async def _poll_or_back_off(self, backoff: Backoff) -> float:
        """Seconds until the next round: the interval, or longer after a failure."""
        try:
            await self.poll()
        except GitHubError as exc:
            if not exc.retryable:
                raise
            delay = max(self._poll_interval, backoff.next())
            log.warning(
                "cannot read deliveries from GitHub, retrying in %.0fs: %s",
                delay,
                exc,
                extra={"http_status": exc.status, "retryable": True},
            )
            return delay
        backoff.reset()
        return self._poll_interval

    async def _replay(self, summary: DeliverySummary) -> int:
        try:
            delivery = await self._github.get_delivery(
                self.scope, self.hook_id, summary.id
            )
        except GitHubError as exc:
            if exc.status != 404:
                raise
            # GitHub keeps deliveries for a few days; one may expire between the
            # list and the fetch. It will not come back, so it counts as done.
            log.warning(
                "delivery %s is no longer kept by GitHub, skipped",
                summary.id,
                extra={"delivery_id": summary.guid, "event_type": summary.event},
            )
            return 0
        event = event_from_delivery(delivery)
        log.debug("replaying delivery %s", summary.id, extra=_fields(event))
        self._busy = True
        try:
            await self._handle(event)
        finally:
            self._busy = False
        return 1

    async def _handle(self, event: IncomingEvent) -> None:
        """Save, forward, then run the hook, as the client does."""
        if self._save_dir is not None:
            await self._save(self._save_dir, event)
        result = await self._forwarder.deliver(event)
        if result.ok and self._hook is not None:
            try:
                await run_hook(self._hook, event)
            except HookError as exc:
                log.error("exec hook failed: %s", exc, extra=_fields(event))

    async def _save(self, folder: Path, event: IncomingEvent) -> None:
        save = partial(save_event, folder, event, target_url=self._forwarder.target_url)
        try:
            await trio.to_thread.run_sync(save)
        except (OSError, ConfigError) as exc:
            # The delivery is still on GitHub; losing the copy is not worth
            # holding up the replay.
            log.error("cannot save event: %s", exc, extra=_fields(event))

    def _remember(self, summary: DeliverySummary) -> None:
        self._replayed[summary.id] = summary.delivered_at
        self.since = max(self.since, summary.delivered_at)

    def _forget_old(self) -> None:
        for delivery_id, made in list(self._replayed.items()):
            if made < self.since:
                del self._replayed[delivery_id]


def _fields(event: IncomingEvent) -> dict[str, object]:
    return {"event_type": event.event_type, "delivery_id": event.delivery_id}
