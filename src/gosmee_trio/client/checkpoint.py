"""The client's checkpoint: the last stream id it finished with, kept on disk.

Written atomically (temp file in the same folder, fsync, rename, fsync of the folder)
so that a crash or ``kill -9`` leaves either the old id or the new one, never a torn
file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from gosmee_trio.errors import ConfigError
from gosmee_trio.events import is_stream_id

log = logging.getLogger(__name__)


class Checkpoint:
    """The last stream id processed, in memory and optionally in a file.

    Args:
        path: the resume-state file, or None to keep the checkpoint in memory only.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.stream_id = ""
        self._saved = ""

    def load(self) -> str:
        """Read the file; a missing or blank file means no checkpoint.

        Raises:
            ConfigError: when the file holds something other than a stream id.
        """
        if self.path is None:
            return ""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise ConfigError(
                f"cannot read resume state file {str(self.path)!r}: {exc}"
            ) from exc
        if text and not is_stream_id(text):
            raise ConfigError(
                f"resume state file {str(self.path)!r} should hold a stream id like "
                f"'1718000000125-0', got {text[:40]!r}"
            )
        self.stream_id = self._saved = text
        if text:
            log.info("loaded resume checkpoint", extra={"stream_id": text})
        return text

    def advance(self, stream_id: str) -> None:
        """Remember ``stream_id`` as done; call ``save()`` to persist it."""
        if is_stream_id(stream_id):
            self.stream_id = stream_id

    def save(self) -> None:
        """Persist the checkpoint if it changed since the last save.

        Raises:
            OSError: when the file cannot be written; the old file stays intact.
        """
        if self.path is None or self.stream_id == self._saved:
            return
        write_atomically(self.path, f"{self.stream_id}\n".encode())
        self._saved = self.stream_id


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new bytes."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
