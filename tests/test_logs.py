from __future__ import annotations

import io
import json
import logging
import os
import sys

import pytest

from gosmee_trio.logs import (
    JournalFormatter,
    JsonFormatter,
    PrettyFormatter,
    configure_logging,
    stderr_is_journal,
)


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


def _stderr_identity() -> str:
    info = os.fstat(sys.stderr.fileno())
    return f"{info.st_dev}:{info.st_ino}"


@pytest.mark.parametrize(
    ("journal", "under_journald"),
    [
        pytest.param(None, False, id="no-journal"),
        pytest.param("8:1234", False, id="inherited-variable-other-stream"),
        pytest.param("stderr", True, id="stderr-is-the-journal-stream"),
    ],
)
def test_configure_logging_drops_timestamps_and_adds_priorities_under_journald(
    monkeypatch: pytest.MonkeyPatch, journal: str | None, under_journald: bool
) -> None:
    if journal is None:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    else:
        value = _stderr_identity() if journal == "stderr" else journal
        monkeypatch.setenv("JOURNAL_STREAM", value)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("warn", "pretty")
        [handler] = root.handlers
        formatter = handler.formatter
        assert isinstance(formatter, JournalFormatter) is under_journald
        if isinstance(formatter, JournalFormatter):
            formatter = formatter._inner
        assert isinstance(formatter, PrettyFormatter)
        assert formatter._timestamps is not under_journald
        assert root.level == logging.WARNING
        configure_logging("debug", "json")
        formatter = root.handlers[0].formatter
        assert isinstance(formatter, JournalFormatter) is under_journald
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        pytest.param("DEBUG", 7, id="debug"),
        pytest.param("INFO", 6, id="info"),
        pytest.param("WARNING", 4, id="warning"),
        pytest.param("ERROR", 3, id="error"),
        pytest.param("CRITICAL", 2, id="critical"),
    ],
)
def test_journal_formatter_prefixes_every_line_with_the_syslog_priority(
    level: str, priority: int
) -> None:
    record = _record(levelname=level, levelno=getattr(logging, level))
    record.msg = "first\nsecond %s"
    line = JournalFormatter(PrettyFormatter(timestamps=False)).format(record)
    assert line == (
        f"<{priority}>{level:<7} gosmee_trio.x: first\n<{priority}>second you"
    )


def test_stderr_is_not_the_journal_without_a_real_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not stderr_is_journal()
