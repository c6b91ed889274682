from __future__ import annotations

import json
import logging

import pytest

from gosmee_trio.logs import JsonFormatter, PrettyFormatter, configure_logging


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {
            "name": "gosmee_trio.x",
            "levelname": "INFO",
            "msg": "hello %s",
            "args": ("you",),
        }
    )
    record.__dict__.update(extra)
    return record


def test_pretty_line_has_level_logger_message_and_keys_without_empty_ones() -> None:
    line = PrettyFormatter(timestamps=False).format(
        _record(channel="abc", delivery_id="", http_status=None)
    )
    assert line == "INFO    gosmee_trio.x: hello you channel=abc"


def test_pretty_line_starts_with_a_timestamp_outside_journald() -> None:
    line = PrettyFormatter(timestamps=True).format(_record())
    assert line[:4].isdigit() and line[10] == "T"


def test_json_line_is_one_object_with_structured_keys() -> None:
    entry = json.loads(JsonFormatter().format(_record(channel="abc", attempt=2)))
    assert entry["msg"] == "hello you"
    assert entry["level"] == "INFO"
    assert entry["channel"] == "abc"
    assert entry["attempt"] == 2


@pytest.mark.parametrize(("journal", "timestamps"), [(None, True), ("8:1234", False)])
def test_configure_logging_drops_timestamps_under_journald(
    monkeypatch: pytest.MonkeyPatch, journal: str | None, timestamps: bool
) -> None:
    if journal is None:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    else:
        monkeypatch.setenv("JOURNAL_STREAM", journal)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("warn", "pretty")
        [handler] = root.handlers
        assert isinstance(handler.formatter, PrettyFormatter)
        assert handler.formatter._timestamps is timestamps
        assert root.level == logging.WARNING
        configure_logging("debug", "json")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
