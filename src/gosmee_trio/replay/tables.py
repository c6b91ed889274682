"""The ``--list-hooks`` and ``--list-deliveries`` tables; pure.

Plain text, columns padded to their widest cell and two spaces apart, so the
output lines up in a terminal and splits cleanly with ``awk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gosmee_trio.replay.model import TIME_LAYOUT, DeliverySummary, Hook

_GAP = "  "


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``header`` and ``rows`` as aligned lines, each ending in a newline."""
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "".join(_format_line(line, widths) for line in lines)


def _format_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return _GAP.join(padded).rstrip() + "\n"


def hooks_table(hooks: Iterable[Hook]) -> str:
    return format_table(
        ("ID", "NAME", "ACTIVE", "EVENTS", "URL"),
        (
            (
                str(hook.id),
                hook.name,
                "yes" if hook.active else "no",
                ",".join(hook.events),
                hook.url,
            )
            for hook in hooks
        ),
    )


def deliveries_table(deliveries: Iterable[DeliverySummary]) -> str:
    return format_table(
        ("ID", "DELIVERED AT (UTC)", "EVENT", "ACTION", "STATUS", "GUID"),
        (
            (
                str(delivery.id),
                delivery.delivered_at.strftime(TIME_LAYOUT),
                delivery.event,
                delivery.action,
                _status(delivery),
                delivery.guid,
            )
            for delivery in deliveries
        ),
    )


def _status(delivery: DeliverySummary) -> str:
    status = str(delivery.status_code) if delivery.status_code else "-"
    return f"{status} (redelivery)" if delivery.redelivery else status
