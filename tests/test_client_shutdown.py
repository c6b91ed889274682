"""What the client says about an event a shutdown cut off; pure."""

from __future__ import annotations

import pytest

from gosmee_trio.client.shutdown import cut_off_message

HEAD = "shutdown cut off the delivery of this event; it was not checkpointed"


@pytest.mark.parametrize(
    ("step", "resume_state_file", "checkpoint", "expected"),
    [
        pytest.param(
            "delivery",
            True,
            "17-0",
            f"{HEAD} (the resume state file names 17-0), so it is delivered again "
            "on the next start",
            id="resume-file",
        ),
        pytest.param(
            "exec hook",
            True,
            "17-0",
            "shutdown cut off the exec hook of this event; it was not checkpointed "
            "(the resume state file names 17-0), so it is delivered to the target "
            "again and its hook run on the next start",
            id="resume-file-hook",
        ),
        pytest.param(
            "delivery",
            False,
            "17-0",
            f"{HEAD}, and without --resume-state-file a restarted client starts with "
            "new events only, so it is not delivered again; while the server's "
            "history still holds it, starting the client with --resume-state-file "
            "FILE, FILE holding 17-0, delivers it and every event after it",
            id="no-resume-file",
        ),
        pytest.param(
            "delivery",
            True,
            "",
            f"{HEAD}, and the stream gave no stream id to resume from, so it is not "
            "delivered again",
            id="no-stream-ids",
        ),
    ],
)
def test_cut_off_message_says_what_happens_next(
    step: str, resume_state_file: bool, checkpoint: str, expected: str
) -> None:
    message = cut_off_message(
        step, resume_state_file=resume_state_file, checkpoint=checkpoint
    )
    assert message == expected
