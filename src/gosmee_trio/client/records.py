"""Writing events to disk for the client: --saveDir copies and dead letters.

Every write is retried with back-off until it works: the checkpoint waits for it,
so an event is never skipped because a disk was full for a while.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import trio

from gosmee_trio.client.health import ClientCounters
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.savedir import SavedEvent, dead_letter_dir, save_event
from gosmee_trio.config import ClientConfig
from gosmee_trio.errors import ConfigError
from gosmee_trio.retry import Backoff

log = logging.getLogger(__name__)


class Records:
    """Saved events and dead letters of one client."""

    def __init__(self, config: ClientConfig, counters: ClientCounters) -> None:
        self._config = config
        self._counters = counters

    async def save(self, event: IncomingEvent) -> None:
        """Write the event to --saveDir, retrying until it works."""
        await self._write_retrying(self._config.save_dir, event, None)

    async def dead_letter(self, event: IncomingEvent, reason: str) -> None:
        """Write the event to the dead-letter folder with ``reason``; count, log."""
        folder = dead_letter_dir(self._config.save_dir)
        saved = await self._write_retrying(folder, event, reason)
        self._counters.dead_letters += 1
        log.error(
            "event written to the dead-letter folder: %s",
            reason,
            extra=event_fields(event) | {"path": str(saved.body_path)},
        )

    async def _write_retrying(
        self, folder: Path | None, event: IncomingEvent, reason: str | None
    ) -> SavedEvent:
        # A full disk or a missing permission is the operator's to fix; losing the
        # event is not an option, so writing is retried with back-off until it works
        # (the checkpoint waits with it).
        backoff = Backoff()
        while True:
            try:
                return await trio.to_thread.run_sync(
                    self._save_sync, folder, event, reason
                )
            except Exception as exc:
                if not isinstance(exc, OSError | ConfigError):
                    # Something in the event itself: keep the body under a plain name.
                    log.exception("cannot name or write the event; saving it plainly")
                    event = _plain(event)
                delay = backoff.next()
                what = "dead letter" if reason else "event"
                log.error(
                    "cannot write %s, retrying in %.0fs: %s",
                    what,
                    delay,
                    exc,
                    extra=event_fields(event),
                )
                await trio.sleep(delay)

    def _save_sync(
        self, folder: Path | None, event: IncomingEvent, reason: str | None
    ) -> SavedEvent:
        assert folder is not None
        return save_event(
            folder,
            event,
            target_url=self._config.target_url,
            local_debug_url=self._config.local_debug_url,
            httpie=self._config.httpie,
            reason=reason,
        )


def check_save_dir(path: Path) -> None:
    """Raises ConfigError now, rather than failing on the first event."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        shown = str(path)
        raise ConfigError(f"--saveDir {shown!r} exists and is not a folder") from None
    except OSError as exc:
        raise ConfigError(f"--saveDir {str(path)!r} cannot be created: {exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--saveDir {str(path)!r} is not writable")


def _plain(event: IncomingEvent) -> IncomingEvent:
    return IncomingEvent(
        stream_id=event.stream_id,
        headers=(),
        body=event.body,
        query=(),
        event_type="",
        delivery_id="",
        content_type="",
        timestamp_ms=None,
    )


def event_fields(event: IncomingEvent) -> dict[str, object]:
    return {
        "event_type": event.event_type,
        "delivery_id": event.delivery_id,
        "stream_id": event.stream_id,
    }
