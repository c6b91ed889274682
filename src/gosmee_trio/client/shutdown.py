"""What a graceful stop left unfinished, said once per event, once it is final.

The grace period can cut off a delivery (or a hook) in flight, and a stop ends a
back-off wait at once. Such an event is not checkpointed; whether it comes back
depends on the resume state file, so the warning says exactly what happens next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gosmee_trio.client.message import IncomingEvent, Unparsable
from gosmee_trio.client.records import event_fields

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CutOff:
    """An event a shutdown interrupted, and the step it was in."""

    item: IncomingEvent | Unparsable
    step: str  # "delivery" or "exec hook"


def warn_cut_off(cut_off: CutOff, *, resume_state_file: bool, checkpoint: str) -> None:
    """Log one WARNING naming the event and what becomes of it."""
    item = cut_off.item
    if isinstance(item, IncomingEvent):
        fields = event_fields(item)
        step = cut_off.step
    else:
        fields = {"stream_id": item.stream_id}
        step = "dead-letter write"
    message = cut_off_message(
        step, resume_state_file=resume_state_file, checkpoint=checkpoint
    )
    log.warning("%s", message, extra=fields)


def cut_off_message(step: str, *, resume_state_file: bool, checkpoint: str) -> str:
    """What a cut-off event's WARNING says, given the checkpoint left behind."""
    head = f"shutdown cut off the {step} of this event; it was not checkpointed"
    again = "delivered again"
    if step == "exec hook":
        again = "delivered to the target again and its hook run"
    if not checkpoint:
        # Streams without durable ids (smee.io) give nothing to resume from.
        return (
            f"{head}, and the stream gave no stream id to resume from, so it is not "
            "delivered again"
        )
    if resume_state_file:
        return (
            f"{head} (the resume state file names {checkpoint}), so it is {again} "
            "on the next start"
        )
    return (
        f"{head}, and without --resume-state-file a restarted client starts with new "
        "events only, so it is not delivered again; while the server's history "
        "still holds it, starting the client with --resume-state-file FILE, FILE "
        f"holding {checkpoint}, delivers it and every event after it"
    )
