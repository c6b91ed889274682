"""The --list-hooks and --list-deliveries tables; sync and pure."""

from __future__ import annotations

from datetime import UTC, datetime

from gosmee_trio.replay.model import DeliverySummary, Hook
from gosmee_trio.replay.tables import deliveries_table, format_table, hooks_table


def test_format_table_pads_columns_and_trims_line_ends() -> None:
    assert format_table(("A", "BB", "C"), [("long", "", ""), ("x", "y", "z")]) == (
        "A     BB  C\nlong\nx     y   z\n"
    )


def test_format_table_with_no_rows_is_the_header() -> None:
    assert format_table(("ID", "URL"), []) == "ID  URL\n"


def test_hooks_table() -> None:
    hooks = [
        Hook(1, "web", True, ("push",), "https://a.example"),
        Hook(123456, "web", False, ("*",), "https://b.example"),
    ]

    assert hooks_table(hooks) == (
        "ID      NAME  ACTIVE  EVENTS  URL\n"
        "1       web   yes     push    https://a.example\n"
        "123456  web   no      *       https://b.example\n"
    )


def test_deliveries_table_shows_utc_times_and_redeliveries() -> None:
    at = datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC)
    deliveries = [
        DeliverySummary(9, "g-9", at, "issues", "opened", 502, True),
        DeliverySummary(10, "g-10", at, "ping", "", 0, False),
    ]

    assert deliveries_table(deliveries) == (
        "ID  DELIVERED AT (UTC)   EVENT   ACTION  STATUS            GUID\n"
        "9   2019-06-03T00:57:16  issues  opened  502 (redelivery)  g-9\n"
        "10  2019-06-03T00:57:16  ping            -                 g-10\n"
    )
