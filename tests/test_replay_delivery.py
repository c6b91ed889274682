"""A GitHub delivery turned into an event for the forwarder; sync and pure."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

from gosmee_trio.replay.delivery import event_from_delivery
from gosmee_trio.replay.model import Delivery, DeliverySummary

SUMMARY = DeliverySummary(
    id=12345678,
    guid="0b989ba4-242f-11e5-81e1-c7b6966d2516",
    delivered_at=datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC),
    event="issues",
    action="opened",
    status_code=200,
    redelivery=False,
)


def _delivery(headers: dict[str, str], payload: object) -> Delivery:
    return Delivery(SUMMARY, tuple(headers.items()), payload)


def test_event_from_delivery_uses_githubs_headers_and_compact_payload() -> None:
    event = event_from_delivery(
        _delivery(
            {
                "X-GitHub-Delivery": SUMMARY.guid,
                "X-GitHub-Event": "issues",
                "User-Agent": "GitHub-Hookshot/a1b2c3d",
                "content-type": "application/json",
            },
            {"action": "opened", "title": "café"},
        )
    )

    assert event.body == '{"action":"opened","title":"café"}'.encode()
    assert event.headers == (
        ("X-GitHub-Delivery", SUMMARY.guid),
        ("X-GitHub-Event", "issues"),
        ("User-Agent", "GitHub-Hookshot/a1b2c3d"),
        ("Content-Type", "application/json"),
    )
    assert (event.event_type, event.delivery_id) == ("issues", SUMMARY.guid)
    assert event.content_type == "application/json"
    assert event.timestamp_ms == 1559523436000
    assert not event.durable


def test_event_from_delivery_sends_content_type_once() -> None:
    event = event_from_delivery(
        _delivery(
            {"Content-Type": "application/json", "content-type": "application/json"},
            {},
        )
    )

    assert [name for name, _ in event.headers] == ["Content-Type"]


def test_event_from_delivery_defaults_to_json_and_the_listed_event() -> None:
    event = event_from_delivery(_delivery({}, {"zen": "Keep it simple."}))

    assert event.headers == (("Content-Type", "application/json"),)
    assert event.event_type == "issues"


def test_event_from_delivery_drops_headers_that_no_longer_fit() -> None:
    event = event_from_delivery(
        _delivery(
            {
                "Content-Length": "7000",
                "Host": "ci.example.com",
                "Connection": "close",
                "Bad Name": "x",
                "X-GitHub-Event": "push",
            },
            {},
        )
    )

    assert [name for name, _ in event.headers] == ["X-GitHub-Event", "Content-Type"]


def test_event_from_delivery_rebuilds_a_form_body() -> None:
    form = "application/x-www-form-urlencoded"
    event = event_from_delivery(_delivery({"content-type": form}, {"a": "b c"}))

    assert parse_qs(event.body.decode()) == {"payload": ['{"a":"b c"}']}
    assert event.content_type == form
