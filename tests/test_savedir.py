from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from gosmee_trio.client.message import IncomingEvent
from gosmee_trio.client.savedir import SavedEvent, dead_letter_dir, save_event
from gosmee_trio.errors import ConfigError

# 2023-10-27T10:00:00.000 UTC, the timestamp of upstream's save-directory tests.
OCT_27 = int(datetime(2023, 10, 27, 10, tzinfo=UTC).timestamp() * 1000)
BODY = b'{"hello": "world"}\r\n\x00\xff'


def _event(
    event_type: str = "test-event",
    *,
    timestamp_ms: int | None = OCT_27,
    body: bytes = BODY,
    query: tuple[tuple[str, str], ...] = (),
) -> IncomingEvent:
    return IncomingEvent(
        stream_id="1698400800000-0",
        headers=(
            ("Content-Type", "application/json"),
            ("X-Github-Event", event_type),
            ("X-Github-Delivery", "d-1"),
        ),
        body=body,
        query=query,
        event_type=event_type,
        delivery_id="d-1",
        content_type="application/json",
        timestamp_ms=timestamp_ms,
    )


async def _save(directory: Path, event: IncomingEvent, **options: Any) -> SavedEvent:
    """Save the way the client does: in a worker thread, under a deadline."""
    options.setdefault("target_url", "http://example.com/target")
    with trio.fail_after(10):
        return await trio.to_thread.run_sync(
            partial(save_event, directory, event, **options)
        )


@pytest.fixture
def umask_077() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


async def test_save_event_writes_body_and_script(tmp_path: Path) -> None:
    # behaviour case 101, with our real-seconds timestamps and --data-binary
    saved = await _save(tmp_path, _event())

    base = "test-event-2023-10-27T10.00.00.000"
    assert saved == SavedEvent(tmp_path / f"{base}.json", tmp_path / f"{base}.sh", base)
    assert saved.body_path.read_bytes() == BODY
    assert saved.script_path.stat().st_mode & 0o777 == 0o755
    script = saved.script_path.read_text()
    assert script.count("-H 'Content-Type: application/json'") == 1
    assert "-H 'X-Github-Event: test-event'" in script
    assert "-H 'X-Github-Delivery: d-1'" in script
    assert "default_target='http://example.com/target'\n" in script
    assert f"--data-binary '@./{base}.json'" in script
    assert sorted(os.listdir(tmp_path)) == [f"{base}.json", f"{base}.sh"]


async def test_save_event_without_event_type_uses_the_time_alone(
    tmp_path: Path,
) -> None:
    # behaviour case 102
    saved = await _save(tmp_path, _event(""))
    assert saved.base == "2023-10-27T10.00.00.000"


async def test_save_event_creates_missing_directories(tmp_path: Path) -> None:
    # behaviour case 103
    directory = tmp_path / "a" / "b"
    saved = await _save(directory, _event())
    assert saved.body_path.parent == directory
    assert directory.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    "relative",
    [
        pytest.param("file", id="directory-is-a-file"),
        pytest.param("file/sub", id="parent-is-a-file"),
    ],
)
async def test_save_event_refuses_a_file_for_a_directory(
    tmp_path: Path, relative: str
) -> None:
    # behaviour case 104
    (tmp_path / "file").write_text("x")
    directory = tmp_path / relative
    message = (
        f"expected a directory for saved events at {str(directory)!r}, "
        "found a file in the way"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        await _save(directory, _event())


async def test_save_event_never_overwrites_an_event_of_the_same_millisecond(
    tmp_path: Path,
) -> None:
    bodies = [b"first", b"second", b"third"]
    saved = [await _save(tmp_path, _event(body=body)) for body in bodies]

    stem = "test-event-2023-10-27T10.00.00.000"
    assert [s.base for s in saved] == [stem, f"{stem}-2", f"{stem}-3"]
    assert [s.body_path.read_bytes() for s in saved] == bodies
    assert f"--data-binary '@./{stem}-2.json'" in saved[1].script_path.read_text()


async def test_save_event_without_hard_links_still_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first = await _save(tmp_path, _event(body=b"first"))
    second = await _save(tmp_path, _event(body=b"second"))

    assert second.base == f"{first.base}-2"
    assert first.body_path.read_bytes() == b"first"
    assert second.body_path.read_bytes() == b"second"
    assert len(os.listdir(tmp_path)) == 4


async def test_save_event_appends_the_query_to_the_default_target(
    tmp_path: Path,
) -> None:
    event = _event(query=(("a", "1"), ("a", "2")))
    saved = await _save(tmp_path, event, target_url="http://t.test/hook?k=v")
    assert "default_target='http://t.test/hook?k=v&a=1&a=2'\n" in (
        saved.script_path.read_text()
    )


async def test_save_event_without_target_leaves_the_default_empty(
    tmp_path: Path,
) -> None:
    saved = await _save(tmp_path, _event(query=(("a", "1"),)), target_url="")
    assert "default_target=''\n" in saved.script_path.read_text()


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("http://127.0.0.1:9/dbg", "'http://127.0.0.1:9/dbg'", id="given"),
        pytest.param("", "'http://localhost:8080'", id="empty-means-default"),
    ],
)
async def test_save_event_bakes_in_the_local_debug_url(
    tmp_path: Path, local: str, expected: str
) -> None:
    saved = await _save(tmp_path, _event(), local_debug_url=local)
    assert f"local_target={expected}\n" in saved.script_path.read_text()


async def test_save_event_httpie_flavour(tmp_path: Path) -> None:
    saved = await _save(tmp_path, _event(), httpie=True)
    script = saved.script_path.read_text()
    assert 'http "${client_flags[@]}" -- POST "$target_url"' in script
    assert f"< './{saved.base}.json'\n" in script
    assert "curl" not in script


async def test_save_event_with_reason_writes_the_error_file(tmp_path: Path) -> None:
    saved = await _save(tmp_path, _event(), reason="target answered 422")

    error_path = tmp_path / f"{saved.base}.error.txt"
    assert error_path.read_text() == (
        "event type: test-event\n"
        "delivery id: d-1\n"
        "stream id: 1698400800000-0\n"
        "reason: target answered 422\n"
    )
    assert saved.body_path.read_bytes() == BODY


async def test_save_event_modes_follow_the_umask_but_the_script_runs(
    tmp_path: Path, umask_077: None
) -> None:
    saved = await _save(tmp_path, _event(), reason="x")
    assert saved.body_path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / f"{saved.base}.error.txt").stat().st_mode & 0o777 == 0o600
    assert saved.script_path.stat().st_mode & 0o777 == 0o755


class _Crash(BaseException):
    """Stands in for a cancellation or interrupt arriving mid-write."""


def _failing(exc: BaseException, *, after: int = 0) -> Any:
    calls = 0

    def fail(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > after:
            raise exc

    return fail


@pytest.mark.parametrize(
    ("function", "after", "exc"),
    [
        pytest.param("replace", 0, OSError(28, "No space left"), id="replace-script"),
        pytest.param("replace", 1, OSError(28, "No space left"), id="replace-reason"),
        pytest.param("replace", 0, _Crash(), id="interrupted-replace"),
        pytest.param("fsync", 0, OSError(5, "I/O error"), id="fsync-body"),
        pytest.param("fsync", 1, OSError(5, "I/O error"), id="fsync-script"),
        pytest.param("fsync", 3, _Crash(), id="fsync-directory"),
        pytest.param("link", 0, _Crash(), id="interrupted-link"),
    ],
)
async def test_save_event_failure_leaves_no_file_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    after: int,
    exc: BaseException,
) -> None:
    real = getattr(os, function)
    fail = _failing(exc, after=after)

    def flaky(*args: Any) -> Any:
        fail(*args)
        return real(*args)

    monkeypatch.setattr(os, function, flaky)
    with pytest.raises(type(exc)):
        await _save(tmp_path, _event(), reason="dead")
    monkeypatch.undo()

    assert os.listdir(tmp_path) == []


async def test_save_event_failure_keeps_earlier_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _save(tmp_path, _event(body=b"first"))
    monkeypatch.setattr(os, "replace", _failing(OSError(28, "full")))
    with pytest.raises(OSError, match="^\\[Errno 28\\] full$"):
        await _save(tmp_path, _event(body=b"second"))
    monkeypatch.undo()

    assert sorted(os.listdir(tmp_path)) == [
        first.body_path.name,
        first.script_path.name,
    ]
    assert first.body_path.read_bytes() == b"first"


@pytest.mark.parametrize(
    ("save_dir", "xdg", "expected"),
    [
        pytest.param("/srv/saved", "/xdg", "/srv/saved/dead-letter", id="save-dir"),
        pytest.param(None, "/xdg", "/xdg/gosmee-trio/dead-letter", id="xdg"),
        pytest.param(
            None,
            None,
            "/home/u/.local/state/gosmee-trio/dead-letter",
            id="home-default",
        ),
        pytest.param(
            None,
            "",
            "/home/u/.local/state/gosmee-trio/dead-letter",
            id="empty-xdg",
        ),
        pytest.param(
            None,
            "relative/state",
            "/home/u/.local/state/gosmee-trio/dead-letter",
            id="relative-xdg-ignored",
        ),
    ],
)
def test_dead_letter_dir(
    monkeypatch: pytest.MonkeyPatch,
    save_dir: str | None,
    xdg: str | None,
    expected: str,
) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", xdg)
    folder = dead_letter_dir(Path(save_dir) if save_dir else None)
    assert folder == Path(expected)
