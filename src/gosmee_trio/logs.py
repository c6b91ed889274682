"""Log set-up: stderr, one line per record, structured keys kept.

Under journald (``JOURNAL_STREAM`` set) lines carry no timestamp; journald adds one.
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


class PrettyFormatter(logging.Formatter):
    """``<time> LEVEL logger: message key=value ...``."""

    def __init__(self, *, timestamps: bool, color: bool = False) -> None:
        super().__init__()
        self._timestamps = timestamps
        self._color = color

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
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
    if output == "json":
        handler.setFormatter(JsonFormatter())
    else:
        timestamps = "JOURNAL_STREAM" not in os.environ
        handler.setFormatter(PrettyFormatter(timestamps=timestamps, color=color))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level.lower()])
    # httpx logs every request at INFO; our forwarder already writes one line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
