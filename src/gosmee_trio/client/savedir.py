"""Saving events to disk: the body, a replay script and, for dead letters, why.

For each event, ``<base>.json`` holds the exact body and ``<base>.sh`` replays it
(see ``client/scripts.py``); ``<base>.error.txt`` says why a dead letter was kept.
The base is ``<event type>-<event time>``, or the time alone. Unlike upstream gosmee,
a second event in the same millisecond never overwrites the first: it gets
``<base>-2``, then ``-3`` and so on.

Each file is written under a temporary name in the same directory, synced, then
moved into place, so a crash never leaves a half-written file under a final name.
The functions here block; Trio callers run them with ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gosmee_trio.client.forwarder import target_with_query
from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.naming import event_time, safe_event_type
from gosmee_trio.client.scripts import (
    DEFAULT_LOCAL_DEBUG_URL,
    replay_script,
    shell_quote,
)
from gosmee_trio.errors import ConfigError

__all__ = ["SavedEvent", "dead_letter_dir", "save_event", "shell_quote"]

log = logging.getLogger(__name__)

# The body and the reason get the mode the umask gives (0644 under the common one);
# the script is executable whatever the umask, as upstream makes it.
_DATA_MODE = 0o666
_SCRIPT_MODE = 0o755


@dataclass(frozen=True)
class SavedEvent:
    """Where one event was saved.

    Attributes:
        body_path: ``<base>.json``, the exact body.
        script_path: ``<base>.sh``, the replay script.
        base: the shared file name without extension.
    """

    body_path: Path
    script_path: Path
    base: str


def save_event(
    directory: Path,
    event: IncomingEvent,
    *,
    target_url: str,
    local_debug_url: str = DEFAULT_LOCAL_DEBUG_URL,
    httpie: bool = False,
    reason: str | None = None,
) -> SavedEvent:
    """Save ``event``'s body and a replay script in ``directory``.

    Blocks on file I/O: call it from a thread. Either every file is written, or
    none is left behind under its final name.

    Args:
        directory: where to save; created with its parents when missing.
        event: the event to save.
        target_url: the script's default target, before the event's query is
            appended; empty means the script asks for one.
        local_debug_url: where the script's ``-l`` sends; empty means the default.
        httpie: write an HTTPie script instead of a curl one.
        reason: why a dead letter is saved; written to ``<base>.error.txt``.

    Raises:
        ConfigError: ``directory`` or one of its parents is not a directory.
        OSError: writing failed (disk full, permissions).
    """
    _ensure_directory(directory)
    base = _commit_body(directory, _base_name(event), event.body)
    saved = SavedEvent(directory / f"{base}.json", directory / f"{base}.sh", base)

    try:
        script = replay_script(
            event,
            base=base,
            default_target=_default_target(target_url, event),
            local_debug_url=local_debug_url or DEFAULT_LOCAL_DEBUG_URL,
            httpie=httpie,
        )
        files = [(saved.script_path, _encode(script))]
        if reason is not None:
            # The reason is for people: odd characters are escaped, never fatal.
            reason_text = _error_text(event, reason).encode("utf-8", "backslashreplace")
            files.append((directory / f"{base}.error.txt", reason_text))
        _write_files(directory, files)
    except BaseException:
        _unlink_quietly(saved.body_path)
        raise

    log.debug("saved %s", saved.body_path, extra=_log_fields(event))
    return saved


def dead_letter_dir(save_dir: Path | None) -> Path:
    """Where dead letters go: under ``save_dir``, else in the XDG state directory.

    ``$XDG_STATE_HOME`` is used only when it is an absolute path, as the XDG base
    directory spec asks; the fallback is ``~/.local/state``.
    """
    if save_dir is not None:
        return save_dir / "dead-letter"
    state = os.environ.get("XDG_STATE_HOME", "")
    root = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return root / "gosmee-trio" / "dead-letter"


def _ensure_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ConfigError(
            f"expected a directory for saved events at {str(directory)!r}, "
            "found a file in the way"
        ) from exc


def _base_name(event: IncomingEvent) -> str:
    moment = event_time(event.timestamp_ms)
    kind = safe_event_type(event.event_type)
    return f"{kind}-{moment}" if kind else moment


def _commit_body(directory: Path, stem: str, body: bytes) -> str:
    """Write ``body`` as ``<base>.json`` under the first free base; return it."""
    temporary = _write_temporary(directory, f"{stem}.json", body)
    try:
        base, number = stem, 1
        while not _link_if_free(temporary, directory / f"{base}.json"):
            number += 1
            base = f"{stem}-{number}"
        return base
    finally:
        _unlink_quietly(temporary)


def _link_if_free(source: Path, target: Path) -> bool:
    # A hard link fails when the name is taken, so claiming it is one atomic step
    # even with another client saving to the same directory.
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError:
        # Some filesystems (FAT, some network mounts) have no hard links: check,
        # then move; only a racing writer on such a filesystem could collide.
        if os.path.lexists(target):
            return False
        os.replace(source, target)
    return True


def _write_files(directory: Path, files: list[tuple[Path, bytes]]) -> None:
    """Write each file atomically; on failure remove the ones already written."""
    written: list[Path] = []
    try:
        for path, data in files:
            _write_atomic(path, data, executable=path.suffix == ".sh")
            written.append(path)
        _fsync_directory(directory)
    except BaseException:
        for path in written:
            _unlink_quietly(path)
        raise


def _write_atomic(path: Path, data: bytes, *, executable: bool = False) -> None:
    temporary = _write_temporary(path.parent, path.name, data, executable=executable)
    try:
        os.replace(temporary, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise


def _write_temporary(
    directory: Path, name: str, data: bytes, *, executable: bool = False
) -> Path:
    """``data`` synced to a fresh hidden file next to ``name``."""
    temporary = directory / f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, _DATA_MODE)
    try:
        with open(descriptor, "wb") as file:
            if executable:
                os.fchmod(descriptor, _SCRIPT_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        _unlink_quietly(temporary)
        raise
    return temporary


def _fsync_directory(directory: Path) -> None:
    # The new names themselves survive a power loss only once the directory is
    # synced too.
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _default_target(target_url: str, event: IncomingEvent) -> str:
    # No target (replay mode, exec-only clients): the script asks for one instead
    # of sending to a bare "?query".
    return target_with_query(target_url, event.query) if target_url else ""


def _encode(text: str) -> bytes:
    # surrogateescape: a URL from argv may hold bytes that are not UTF-8; they go
    # back to the very bytes the user typed.
    return text.encode("utf-8", "surrogateescape")


def _error_text(event: IncomingEvent, reason: str) -> str:
    return (
        f"event type: {event.event_type}\n"
        f"delivery id: {event.delivery_id}\n"
        f"stream id: {event.stream_id}\n"
        f"reason: {reason}\n"
    )


def _log_fields(event: IncomingEvent) -> dict[str, object]:
    return {
        "event_type": event.event_type,
        "delivery_id": event.delivery_id,
        "stream_id": event.stream_id,
    }
