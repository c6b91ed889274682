"""Log set-up: stderr, one line per record, structured keys kept.

Under journald (stderr is the stream ``JOURNAL_STREAM`` names) pretty lines carry no
timestamp, as journald adds one, and every line starts with its syslog priority
(``<4>`` for WARNING), which journald strips and files the entry under, so
``journalctl -p warning`` works.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Literal

Output = Literal["pretty", "json"]

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and v not in (None, "")
    }


def _shown(value: object) -> str:
    # Quote values that could be mistaken for more fields (spaces, "=", quotes).
    text = str(value)
    if not text or any(c in text for c in ' ="\n\r\t'):
        return json.dumps(text)
    return text


class PrettyFormatter(logging.Formatter):
    """``<time> LEVEL logger: message key=value ...``."""

    def __init__(self, *, timestamps: bool, color: bool = False) -> None:
        super().__init__()
        self._timestamps = timestamps
        self._color = color

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={_shown(v)}" for k, v in _extras(record).items())
        level = f"{record.levelname:<7}"
        if self._color:
            level = f"{_COLORS.get(record.levelno, '')}{level}\033[0m"
        line = f"{level} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line} {fields}"
        if self._timestamps:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            line = f"{stamp} {line}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with ``time``, ``level``, ``logger``, ``msg``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(
    level: str = "info", output: Output = "pretty", *, color: bool = False
) -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    journal = stderr_is_journal()
    formatter: logging.Formatter
    if output == "json":
        formatter = JsonFormatter()
    else:
        formatter = PrettyFormatter(timestamps=not journal, color=color)
    handler.setFormatter(JournalFormatter(formatter) if journal else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level.lower()])
    # httpx logs every request at INFO; our forwarder already writes one line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class JournalFormatter(logging.Formatter):
    """Prefixes every line with the record's syslog priority, as sd-daemon(3) says.

    journald reads the prefix (``SyslogLevelPrefix=``, on by default) and removes
    it; each line of a traceback becomes its own entry, so each gets the prefix.
    """

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_syslog_priority(record.levelno)}>"
        return "\n".join(
            prefix + line for line in self._inner.format(record).split("\n")
        )


def stderr_is_journal() -> bool:
    """True when stderr is journald's stream: ``JOURNAL_STREAM`` is its device:inode.

    A child that merely inherited the variable, with stderr sent elsewhere, does not
    match, which is the check systemd.exec(5) asks for.
    """
    expected = os.environ.get("JOURNAL_STREAM")
    if not expected:
        return False
    try:
        info = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):  # no real file behind stderr (captured, closed)
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def _syslog_priority(levelno: int) -> int:
    # RFC 5424 severities: 2 critical, 3 error, 4 warning, 6 informational, 7 debug.
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


_COLORS = {
    logging.DEBUG: "\033[2m",
    logging.INFO: "\033[32m",
    logging.WARNING: "\033[33m",
    logging.ERROR: "\033[1;31m",
}

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
